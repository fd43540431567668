"""Numerical checks of the systems: backends agree, closed forms, conserved quantities."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from warp_phys.systems import MassSpringDamper, get

TIGHT = dict(rtol=1e-10, atol=1e-12)

# (system, t_end): a short horizon; chaotic systems stay well before divergence
# (Lorenz-63: e^{0.9 t}, Lorenz-96: e^{1.7 t}; the solver errors ~1e-10 grow < 10x).
HORIZONS = [("double_pendulum", 1.0), ("duffing", 2.0), ("lorenz63", 1.0), ("lorenz96", 1.0),
            ("lotka_volterra", 0.2), ("mass_spring_damper", 0.3), ("pendulum", 1.0), ("sine", 1.0),
            ("van_der_pol", 2.0)]


@pytest.mark.parametrize("name,t_end", HORIZONS)
def test_scipy_and_torch_backends_agree(name, t_end):
    s = get(name, N=8) if name == "lorenz96" else get(name)
    kw = dict(params="train", seed=1, **TIGHT)
    a = s.simulate(2, (0.0, t_end), 6, backend="torch", **kw)
    b = s.simulate(2, (0.0, t_end), 6, backend="scipy", **kw)
    assert np.array_equal(a.state.isel(time=0).values, b.state.isel(time=0).values)
    scale = np.abs(b.state.values).max(axis=(0, 1))  # per variable
    rel = np.abs(a.state.values - b.state.values).max(axis=(0, 1)) / scale
    assert rel.max() < 1e-5, (name, rel)
    # and the trajectories did move (a non-trivial comparison)
    assert np.abs(b.state.values - b.state.values[:, :1]).max() > 1e-2 * scale.max()


def test_msd_matches_the_analytic_damped_oscillator():
    s = get("msd")
    params = torch.tensor([[0.03, 10.0, 0.1], [0.02, 16.0, 0.2], [0.05, 2.0, 0.01]])
    ic = torch.tensor([[1.0, 0.0], [0.5, -0.3], [1.2, 0.4]])
    for backend in ("torch", "scipy"):
        ds = s.simulate(3, (0.0, 1.0), 64, params=params, ic=ic, backend=backend, **TIGHT)
        t = torch.tensor(ds.time.values)
        for i in range(3):
            exact = MassSpringDamper.analytic(t, *ic[i].tolist(), *params[i].tolist()).numpy()
            err = np.abs(ds.state.values[i] - exact).max(axis=0) / np.abs(exact).max(axis=0)
            assert err.max() < 1e-7, (backend, i, err)


def test_sine_matches_its_formula():
    s = get("sine")
    ds = s.simulate(8, params="train", protocol="paper", seed=0, **TIGHT)
    tau = ds.time.values
    phi = ds.phi.values
    assert ds.sizes["time"] == 16 and np.all(np.abs(phi) <= math.pi / 6)
    exact = np.sin(2 * np.pi * tau[None, :] + phi[:, None])
    assert np.abs(ds.state.values[..., 0] - exact).max() < 1e-8


def _relative_drift(system, ds) -> float:
    x = torch.tensor(ds.state.values)
    p = torch.tensor(np.stack([ds[n].values for n in system.parameter_names], 1))[:, None, :]
    e = system.invariant(x, p)
    return float(((e - e[:, :1]).abs() / e[:, :1].abs()).max())


@pytest.mark.parametrize("backend", ["torch", "scipy"])
def test_undamped_pendulum_energy_is_conserved(backend):
    s = get("pendulum")
    ds = s.simulate(3, (0.0, 5.0), 51, params="train", ic="test", seed=2, backend=backend, **TIGHT)
    assert np.abs(ds.state.sel(variable="theta").values).max() > 0.5  # large swings (nonlinear)
    assert _relative_drift(s, ds) < 1e-6


@pytest.mark.parametrize("backend", ["torch", "scipy"])
def test_lotka_volterra_first_integral_is_conserved(backend):
    s = get("lv")
    ds = s.simulate(3, params="test", protocol="paper", seed=0, backend=backend, **TIGHT)
    assert ds.state.values.min() < 0.1  # the orbit swings far from the equilibrium
    assert _relative_drift(s, ds) < 1e-6


def test_other_invariants_hold_where_they_are_exact():
    cases = [(get("msd", c=0.0), dict(params=None)),
             (get("double_pendulum"), dict(params="train")),
             (get("duffing", delta=0.0, gamma=0.0), dict(params={"delta": 0.0, "gamma": 0.0}))]
    for s, kw in cases:
        ds = s.simulate(2, (0.0, 1.0), 11, seed=0, **kw, **TIGHT)
        assert _relative_drift(s, ds) < 1e-6, s.name
    # and the damped MSD loses energy
    s = get("msd")
    ds = s.simulate(2, (0.0, 1.0), 11, params=None, **TIGHT)
    e = s.invariant(torch.tensor(ds.state.values), s.parameter_vector())
    assert bool((e[:, -1] < 0.9 * e[:, 0]).all())
