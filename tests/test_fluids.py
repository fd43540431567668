"""Pseudo-spectral field systems: analytic solutions, conservation laws, chaos, errors, I/O."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from warp_phys.systems import SimulationError, get
from warp_phys.systems.fluids import Burgers1D, KuramotoSivashinsky, NavierStokes2D
from warp_phys.systems.fluids import diagnostics as D
from warp_phys.systems.fluids.navier_stokes import ns_problem, random_vorticity
from warp_phys.systems.fluids.reference_numpy import NumpyNS2D
from warp_phys.systems.fluids.timestepping import IFRK4, etdrk4_coefficients


def _field(ds, name="vorticity") -> torch.Tensor:
    return torch.from_numpy(np.array(ds[name].values))


def _coord(ds, name) -> torch.Tensor:
    return torch.from_numpy(np.array(ds[name].values))


# ---- Navier-Stokes: analytic and conservation checks ---------------------------------------
def test_taylor_green_matches_analytic_decay_float64():
    nu, drag, k = 0.05, 0.02, 2
    s = NavierStokes2D("taylor_green", k_tg=k)
    amps = [0.7, 1.3]
    ds = s.simulate(2, (0.0, 4.0), 9, grid=32, params={"nu": nu, "drag": drag, "amplitude": amps})
    w = _field(ds)
    x, y, t = _coord(ds, "x"), _coord(ds, "y"), _coord(ds, "time")
    shape = 2 * k * torch.sin(k * y)[:, None] * torch.sin(k * x)[None, :]
    exact = torch.tensor(amps)[:, None, None, None] * shape * torch.exp(-(2 * nu * k**2 + drag) * t)[None, :, None, None]
    rel = (w - exact).abs().max() / exact.abs().max()
    assert rel < 1e-6, rel
    # the amplitude really decays by the analytic factor (guards against a frozen field)
    ratio = w[:, -1].abs().max() / w[:, 0].abs().max()
    assert ratio == pytest.approx(math.exp(-(2 * nu * k**2 + drag) * 4.0), rel=1e-6)


def test_velocity_from_stream_function_is_divergence_free_and_consistent():
    g = torch.Generator().manual_seed(3)
    w = random_vorticity(32, 3, torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64), 4.0, g)
    u, v = D.velocity(w)
    div = D.divergence(u, v)
    scale = D.vorticity(u, v).abs().max()
    assert div.abs().max() / scale < 1e-12
    # curl of the recovered velocity gives back the vorticity (sign conventions)
    assert (D.vorticity(u, v) - w).abs().max() / w.abs().max() < 1e-12
    # Parseval: the shell-summed spectrum adds up to the kinetic energy
    k, E = D.energy_spectrum(w)
    assert torch.allclose(E.sum(-1), D.kinetic_energy(w), rtol=1e-12)
    assert E[..., 0].abs().max() == 0
    assert torch.allclose(D.kinetic_energy(w), torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64), rtol=1e-12)


def test_decaying_flow_loses_energy_and_enstrophy_monotonically():
    s = NavierStokes2D("decaying", k_peak=3.0)
    ds = s.simulate(2, (0.0, 6.0), 31, grid=32, params={"nu": 0.05, "drag": 0.0, "initial_energy": 0.5}, seed=1)
    w = _field(ds)
    E = D.kinetic_energy(w)
    Z = D.enstrophy(w)
    assert torch.allclose(E[:, 0], torch.full((2,), 0.5, dtype=torch.float64), rtol=1e-10)
    assert bool((E[:, 1:] < E[:, :-1]).all())
    assert bool((Z[:, 1:] < Z[:, :-1]).all())
    # without drag dE/dt = -2 nu Z exactly: integrate Z with Simpson's rule over pairs of steps
    h = 0.2
    dE = E[:, 2::2] - E[:, :-2:2]
    simpson = h / 3 * (Z[:, :-2:2] + 4 * Z[:, 1:-1:2] + Z[:, 2::2])
    assert torch.allclose(dE, -2 * 0.05 * simpson, rtol=2e-3)


def test_kolmogorov_relaxes_to_the_laminar_state_at_low_reynolds():
    # Re = U_f / (nu k_f) = 0.48, below the sqrt(2) instability threshold of Kolmogorov flow
    s = NavierStokes2D("kolmogorov", nu=0.5, drag=0.1, forcing_amplitude=1.0, k_f=2)
    ds = s.simulate(1, (0.0, 40.0), 3, grid=32, params=None, seed=0, spinup=0.0)
    lam = s.laminar_vorticity(32)
    w_end = _field(ds)[0, -1]
    # perturbations decay at least at rate nu + drag = 0.6: exp(-24) ~ 4e-11
    assert (w_end - lam).abs().max() / lam.abs().max() < 1e-6


def test_forced_kolmogorov_stays_bounded_over_a_long_horizon():
    nu, drag, a, kf = 0.04, 0.1, 1.0, 4
    s = NavierStokes2D("kolmogorov", nu=nu, drag=drag, forcing_amplitude=a, k_f=kf, ic_energy=0.1)
    ds = s.simulate(2, (0.0, 400.0), 201, grid=32, params=None, seed=2, spinup=0.0)
    w = _field(ds)
    assert bool(torch.isfinite(w).all())
    w_rms = w.pow(2).mean((-2, -1)).sqrt()
    bound = torch.maximum(w_rms[:, 0], torch.tensor(a * kf / math.sqrt(2) / (nu + drag)))
    assert bool((w_rms <= bound[:, None] * (1 + 1e-9)).all())        # rigorous enstrophy bound
    E = D.kinetic_energy(w[:, 100:])                                     # second half: stationary
    E_lam = D.kinetic_energy(s.laminar_vorticity(32)).item()
    assert 0.1 * E_lam < float(E.mean()) < 1.05 * E_lam
    assert float(E.std()) > 1e-4                                         # not decayed to rest


def test_torch_solver_matches_numpy_reference_on_one_step():
    n, B, dt = 32, 2, 0.01
    g = torch.Generator().manual_seed(0)
    w0 = random_vorticity(n, B, torch.tensor([0.5, 1.0], dtype=torch.float64), 4.0, g)
    nu, drag = torch.tensor([0.02, 0.05], dtype=torch.float64), torch.tensor([0.1, 0.0], dtype=torch.float64)
    y = torch.arange(n, dtype=torch.float64) * 2 * math.pi / n
    f = (-4 * torch.cos(4 * y))[:, None].expand(B, n, n) * torch.tensor([1.0, 0.5], dtype=torch.float64)[:, None, None]
    pr = ns_problem(n, nu, drag, f, torch.float64, torch.device("cpu"))
    w1 = pr.to_physical(IFRK4(pr.lin, pr.nonlinear, dt).step(pr.to_spectral(w0) * pr.mask))
    ref = NumpyNS2D(n, nu.numpy(), drag.numpy(), f.numpy(), dt)
    w1_ref = ref.to_physical(ref.step(ref.to_spectral(w0.numpy())))
    change = np.abs(w1_ref - ref.to_physical(ref.to_spectral(w0.numpy()))).max()
    err = np.abs(w1.numpy() - w1_ref).max()
    assert err / np.abs(w1_ref).max() < 1e-10
    assert change > 1e3 * err          # the step did something the two agree on


# ---- Burgers and Kuramoto-Sivashinsky -------------------------------------------------------
def test_burgers_conserves_the_mean_and_dissipates():
    s = Burgers1D()
    ds = s.simulate(3, (0.0, 5.0), 51, grid=128, params={"nu": 0.06}, seed=4)
    u = _field(ds, "u")
    mean = u.mean(-1)
    assert float(mean[:, 0].abs().max()) > 0.05            # a non-trivial mean to conserve
    assert float((mean - mean[:, :1]).abs().max()) < 1e-13
    fl = (u - mean[..., None]).pow(2).mean(-1)
    assert bool((fl[:, 1:] < fl[:, :-1]).all())


def test_ifrk4_is_fourth_order_on_burgers():
    s = Burgers1D()
    kw = dict(n_trajectories=1, t_span=(0.0, 1.0), n_steps=2, grid=64, params={"nu": 0.15}, seed=0)
    ref = _field(s.simulate(**kw, dt=1 / 400), "u")[0, -1]
    e1 = (_field(s.simulate(**kw, dt=1 / 25), "u")[0, -1] - ref).abs().max()
    e2 = (_field(s.simulate(**kw, dt=1 / 50), "u")[0, -1] - ref).abs().max()
    assert 12 < e1 / e2 < 20, float(e1 / e2)       # 2^4 = 16


def test_etdrk4_contour_coefficients_match_closed_form():
    dt = 0.25
    lin = torch.tensor([-40.0, -8.0, 3.0, 6.0], dtype=torch.float64)
    c = etdrk4_coefficients(lin, dt)
    z = lin * dt
    ez = torch.exp(z)
    f1 = dt * (-4 - z + ez * (4 - 3 * z + z**2)) / z**3
    q = dt * (torch.exp(z / 2) - 1) / z
    assert torch.allclose(c["f1"].real, f1, rtol=1e-12)
    assert torch.allclose(c["Q"].real, q, rtol=1e-12)
    # at L = 0 the limits are dt/6 (f1) and dt/2 (Q)
    c0 = etdrk4_coefficients(torch.zeros(1, dtype=torch.float64), dt)
    assert c0["f1"].real.item() == pytest.approx(dt / 6, rel=1e-12)
    assert c0["Q"].real.item() == pytest.approx(dt / 2, rel=1e-12)


def test_kuramoto_sivashinsky_is_chaotic_and_bounded():
    s = KuramotoSivashinsky()
    base = s.simulate(3, (0.0, 1.0), 2, grid=48, params=None, seed=7, spinup=100.0)
    u0 = _field(base, "u")[:, -1]
    eps = 1e-7
    pert = u0 + eps * torch.randn(u0.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ds = s.simulate(6, (0.0, 250.0), 26, grid=48, params=None, ic=torch.cat([u0, pert]), spinup=0.0)
    u = _field(ds, "u")
    d0 = (pert - u0).pow(2).mean(-1).sqrt()
    d = (u[:3] - u[3:]).pow(2).mean(-1).sqrt()
    growth = d[:, -1] / d0
    assert bool((growth > 1e2).all()), growth
    assert float(growth.median()) > 1e3, growth
    assert float(u.abs().max()) < 2 * 3.1              # bounded: attractor max |u| ~ 3.1 at L = 22
    assert float(u.pow(2).mean(-1).sqrt().min()) > 0.5  # not decayed to the trivial state


# ---- errors ------------------------------------------------------------------------------
def test_cfl_violation_is_refused_before_any_work():
    s = NavierStokes2D("kolmogorov", nu=0.05, drag=0.1)
    with pytest.raises(ValueError, match=r"CFL.*max stable dt is"):
        s.simulate(1, (0.0, 1.0), 3, grid=32, params=None, dt=0.5)


def test_coarse_grid_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"too coarse for nu.*Use grid >= \d+"):
        NavierStokes2D("decaying").simulate(1, (0.0, 1.0), 3, grid=32, params={"nu": 1e-3})
    with pytest.raises(ValueError, match=r"too coarse for nu"):
        Burgers1D().simulate(1, (0.0, 1.0), 3, grid=32, params={"nu": 1e-3})
    with pytest.raises(ValueError, match=r"too coarse for L=22"):
        KuramotoSivashinsky().simulate(1, (0.0, 1.0), 3, grid=32, params=None)
    with pytest.raises(ValueError, match=r"forcing wavenumber k_f=4 is removed"):
        NavierStokes2D("kolmogorov", nu=1.0).simulate(1, (0.0, 1.0), 3, grid=12, params=None)


@pytest.mark.parametrize("kwargs, match", [
    (dict(grid=33), "even number"),
    (dict(grid=6), "even number"),
    (dict(n_steps=1), "n_steps"),
    (dict(dtype=torch.float16), "dtype"),
    (dict(dt=-1.0), "dt must be"),
    (dict(ic=np.zeros((2, 16, 16))), "ic must have shape"),
    (dict(params={"viscosity": 1.0}), "unknown parameter"),
    (dict(n_trajectories=0), "n_trajectories must be >= 1"),
    (dict(seed=-1), r"seed must be an integer in \[0, 2\*\*63 - 1\], got -1"),
    (dict(seed=0.5), "seed must be an integer"),
])
def test_bad_input_is_refused(kwargs, match):
    s = NavierStokes2D("decaying")
    args = dict(n_trajectories=1, t_span=(0.0, 1.0), n_steps=3, grid=32, params={"nu": 0.1})
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        s.simulate(**args)
    with pytest.raises(ValueError, match="unknown forcing"):
        NavierStokes2D("channel")


class _OverconfidentNS(NavierStokes2D):
    """Claims a tiny advective speed, so an unstable dt passes the a-priori check."""

    def _speed_bound(self, u0, p, problem):
        return torch.full_like(p["nu"], 1e-3)


def test_blow_up_during_the_run_raises_simulation_error():
    # from a weak initial field the a-priori check passes; the forcing then accelerates the
    # flow far beyond the (wrongly) claimed speed and the 50 steps between checks blow up
    s = _OverconfidentNS("kolmogorov", nu=0.02, drag=0.1)
    g = torch.Generator().manual_seed(0)
    ic = random_vorticity(64, 2, torch.full((2,), 1e-4, dtype=torch.float64), 3.0, g)
    kw = dict(n_trajectories=2, n_steps=3, grid=64, params=None, ic=ic, spinup=0.0)
    with pytest.raises(SimulationError, match=r"trajectory \d+ blew up .*at t = 50 s") as err:
        s.simulate(t_span=(0.0, 100.0), dt=0.5, **kw)
    assert err.value.trajectory in (0, 1) and err.value.time == 50.0
    s2 = _OverconfidentNS("decaying", k_peak=3.0)
    with pytest.raises(SimulationError, match=r"violated the CFL condition at t = 0 s.*dt <= "):
        s2.simulate(2, (0.0, 1.0), 3, grid=32, params={"nu": 0.05}, dt=1.0)   # caught at the first check


# ---- dtype, determinism, Dataset ------------------------------------------------------------
def test_float32_and_float64_agree_and_keep_their_dtype():
    s = NavierStokes2D("kolmogorov", nu=0.05, drag=0.1)
    kw = dict(n_trajectories=2, t_span=(0.0, 2.0), n_steps=5, grid=32, params=None, seed=3, spinup=0.0)
    d64 = s.simulate(dtype=torch.float64, **kw)
    d32 = s.simulate(dtype=torch.float32, **kw)
    assert d64.vorticity.dtype == np.float64 and d32.vorticity.dtype == np.float32
    w64, w32 = _field(d64), _field(d32).double()
    assert float((w32 - w64).abs().max() / w64.abs().max()) < 1e-4
    again = s.simulate(dtype=torch.float64, **kw)
    assert np.array_equal(again.vorticity.values, d64.vorticity.values)      # deterministic
    other = s.simulate(dtype=torch.float64, **{**kw, "seed": 4})
    assert not np.allclose(other.vorticity.values, d64.vorticity.values)


def test_registry_aliases_and_options():
    k = get("kolmogorov")
    assert isinstance(k, NavierStokes2D) and k.forcing == "kolmogorov"
    assert isinstance(get("burgers"), Burgers1D) and isinstance(get("ks"), KuramotoSivashinsky)
    d = get("navier_stokes_2d", forcing="decaying", nu=0.03, drag=0.0)
    assert d.forcing == "decaying" and d.params["nu"] == 0.03 and d.kind == "field"


def test_dataset_conventions_and_netcdf_round_trip(tmp_path):
    from warp_phys.io import open_trajectories, to_netcdf

    s = NavierStokes2D("kolmogorov")
    ds = s.simulate(2, (0.0, 1.0), 3, grid=64, params="train", seed=5, spinup=1.0)
    assert ds.vorticity.dims == ("trajectory", "time", "y", "x")
    assert ds.attrs["Conventions"] == "CF-1.10"
    for key in ("system", "forcing", "solver", "method", "dt", "grid", "seed", "warp_phys_version",
                "parameter_ranges"):
        assert key in ds.attrs, key
    assert ds.attrs["solver"] == "pseudo-spectral" and ds.attrs["grid"] == 64
    for name in ds.variables:
        assert "units" in ds[name].attrs and "long_name" in ds[name].attrs, name
    lo, hi = s.parameter_ranges("train")["nu"]
    assert bool(((ds.nu >= lo) & (ds.nu <= hi)).all())
    path = to_netcdf(ds, tmp_path / "kolmogorov.nc")
    back = open_trajectories(path)
    assert back.identical(ds)
    u = Burgers1D().simulate(1, (0.0, 1.0), 3, grid=64, params={"nu": 0.1})
    assert u.u.dims == ("trajectory", "time", "x") and u.x.attrs["units"] == "m"
    assert open_trajectories(to_netcdf(u, tmp_path / "burgers.nc")).identical(u)
