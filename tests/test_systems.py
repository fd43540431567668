"""The systems registry, protocols, sampling, the Dataset layout and input validation."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from warp_phys.systems import (SimulationError, System, available, ds_params_tensor, get,
                               trajectories_to_tensor)

ODE_NAMES = ["double_pendulum", "duffing", "lorenz63", "lorenz96", "lotka_volterra",
             "mass_spring_damper", "pendulum", "sine", "van_der_pol"]


# ---- registry -----------------------------------------------------------------------
def test_available_lists_every_ode_system_and_field_systems():
    names = available()
    assert set(ODE_NAMES) <= set(names)
    assert names == sorted(names)
    for name in names:
        s = get(name)
        assert s.name == name and s.kind in ("ode", "field")


@pytest.mark.parametrize("alias,name", [("lorenz", "lorenz63"), ("msd", "mass_spring_damper"),
                                        ("lv", "lotka_volterra"), ("Lotka-Volterra", "lotka_volterra"),
                                        ("vdp", "van_der_pol"), ("l96", "lorenz96"), ("sinusoid", "sine")])
def test_aliases(alias, name):
    assert get(alias).name == name


def test_unknown_system_lists_known_and_suggests_closest():
    with pytest.raises(ValueError, match=r"unknown system 'lorenzz'.*Did you mean 'lorenz63'.*mass_spring_damper"):
        get("lorenzz")


def test_unknown_parameter_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['M'\]; valid parameters are \['c', 'k', 'm'\]"):
        get("msd", M=1.0)
    with pytest.raises(ValueError, match=r"valid parameters are \['beta', 'rho', 'sigma'\] \(did you mean 'rho'\?\)"):
        get("lorenz", rhoo=3.0)
    with pytest.raises(ValueError, match=r"valid parameters are \['F'\] and the structural option N"):
        get("lorenz96", n=8)


def test_parameter_overrides_and_physical_bounds():
    s = get("lorenz", rho=35.0)
    assert s.params == {"sigma": 10.0, "rho": 35.0, "beta": 8.0 / 3.0}
    assert torch.equal(s.parameter_vector(), torch.tensor([10.0, 35.0, 8.0 / 3.0], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"parameter m = -1 is outside physical sense; it must be > 0"):
        get("msd", m=-1.0)
    with pytest.raises(ValueError, match=r"parameter c = nan is not finite"):
        get("msd", c=float("nan"))
    assert get("msd", c=0.0).params["c"] == 0.0  # damping may be zero (non-strict bound)


def test_lorenz96_structural_option():
    s = get("lorenz96", N=8, F=6.0)
    assert s.n_variables == 8 and s.options() == {"N": 8} and s.params == {"F": 6.0}
    with pytest.raises(ValueError, match=r"N \(number of sites\) must be an integer >= 4"):
        get("lorenz96", N=3)


# ---- protocols ----------------------------------------------------------------------
def test_every_system_has_a_default_protocol_matching_its_ranges():
    for name in ODE_NAMES:
        s = get(name)
        proto = s.protocol()
        assert proto.name == "default" and "default" in s.protocols
        for p in s.parameters:
            assert proto.train[p.name] == tuple(p.train) and proto.test[p.name] == tuple(p.test)


def test_msd_paper_protocols_exact():
    s = get("msd")
    paper = s.protocol("paper")
    assert (paper.t_span, paper.n_steps, paper.n_ctx, paper.n_train, paper.n_test) == ((0.0, 1.0), 256, 100, 20480, 4096)
    assert dict(paper.train) == {"m": (0.02, 0.04), "k": (4.0, 16.0), "c": (0.01, 0.2)}
    assert dict(paper.test) == {"m": (0.01, 0.05), "k": (2.0, 18.0), "c": (0.01, 0.3)}
    assert dict(paper.ic_train) == {"x": 1.0, "v": 0.0} == dict(paper.ic_test)
    zero = s.protocol("paper_zero")
    assert (zero.n_train, zero.n_test, zero.n_steps, zero.n_ctx) == (8192, 2048, 256, 100)
    assert dict(zero.train) == dict(paper.train) and dict(zero.test) == dict(paper.test)
    assert dict(zero.ic_train) == {"x": (0.5, 1.5), "v": (-0.5, 0.5)}
    g = torch.Generator().manual_seed(1)
    p = s.sample_params(4000, "test", g, protocol="paper")
    lo, hi = p.min(0).values, p.max(0).values
    assert torch.all(lo >= torch.tensor([0.01, 2.0, 0.01])) and torch.all(hi <= torch.tensor([0.05, 18.0, 0.3]))
    assert torch.allclose(lo, torch.tensor([0.01, 2.0, 0.01], dtype=torch.float64), atol=0.01 * 16)
    ic = s.sample_ic(1000, g, "train", protocol="paper_zero")
    assert ic[:, 0].min() >= 0.5 and ic[:, 0].max() <= 1.5 and ic[:, 1].abs().max() <= 0.5
    assert ic[:, 1].std() > 0.25  # U(-0.5, 0.5) has std 0.289
    ds = s.simulate(3, params="train", protocol="paper")
    assert ds.sizes["time"] == 256 and float(ds.time[-1]) == 1.0
    assert np.all(ds.x_0.values == 1.0) and np.all(ds.v_0.values == 0.0)
    assert ds.attrs["protocol"] == "paper"
    assert json.loads(ds.attrs["parameter_ranges"])["k"] == {"train": [4.0, 16.0], "test": [2.0, 18.0]}


def test_protocol_owns_the_grid_sizes_and_validates_copies():
    s = get("msd")
    paper = s.protocol("paper")
    assert paper.n_val is None and paper.resolved_n_val == 20480 // 8
    assert paper.split_sizes == {"train": 20480, "val": 2560, "test": 4096}
    small = paper.replace(n_train=4, n_val=3, n_steps=128, n_ctx=32)
    assert (small.resolved_n_val, small.n_steps, small.name, paper.n_steps) == (3, 128, "paper", 256)
    assert paper.replace(n_train=4).resolved_n_val == 1
    for change, match in [(dict(nsteps=3), r"no field\(s\) \['nsteps'\]; valid fields: \['name', 't_span'"),
                          (dict(n_steps=1), r"n_steps must be an integer >= 2"),
                          (dict(t_span=(1.0, 0.0)), r"t_span is reversed"),
                          (dict(n_test=0), r"n_test must be >= 1"),
                          (dict(n_val=0), r"n_val must be >= 1"),
                          (dict(n_ctx=256), r"n_ctx \(256\) must be < n_steps \(256\)"),
                          (dict(n_ctx=0), r"n_ctx must be >= 1")]:
        with pytest.raises(ValueError, match=match):
            paper.replace(**change)
    # an explicit Protocol drives simulate like a named one
    ds = s.simulate(2, protocol=paper.replace(n_steps=9, n_ctx=2), seed=0)
    assert ds.sizes["time"] == 9 and ds.attrs["protocol"] == "paper" and np.all(ds.x_0.values == 1.0)


def test_default_protocol_is_the_single_source_of_the_default_grid():
    for name in available():
        s = get(name)
        proto = s.protocol("default")
        assert (s.default_t_span, s.default_n_steps) == (proto.t_span, proto.n_steps)
    assert get("msd").protocol().t_span == (0.0, 1.0) and get("msd").protocol().n_steps == 256
    assert get("sine").protocol().n_ctx == 1 and get("lorenz").protocol().n_ctx == 250
    assert get("kuramoto_sivashinsky").protocol().n_steps == 201
    assert get("navier_stokes_2d", forcing="decaying").protocol().t_span == (0.0, 10.0)
    assert get("navier_stokes_2d").protocol().t_span == (0.0, 20.0)

    class Legacy(System):  # the older class-attribute spelling is folded into default_time_grid
        name = "legacy_test"
        variables = ()
        parameters = ()
        default_t_span = (0.0, 3.0)
        default_n_steps = 31

    legacy = Legacy()
    assert (legacy.protocol().t_span, legacy.protocol().n_steps, legacy.default_n_steps) == ((0.0, 3.0), 31, 31)
    assert "default_t_span" not in vars(Legacy)


def test_lv_and_sine_paper_protocols():
    lv = get("lv").protocol("paper")
    assert dict(lv.train) == {"a": (20.0, 50.0), "b": (80.0, 120.0), "c": (80.0, 120.0), "d": (20.0, 50.0)}
    assert dict(lv.test) == {"a": (10.0, 60.0), "b": (70.0, 130.0), "c": (70.0, 130.0), "d": (10.0, 60.0)}
    assert (lv.n_train, lv.n_test, lv.n_steps, lv.t_span) == (15000, 3000, 256, (0.0, 1.0))
    assert dict(lv.ic_train) == {"x": 1.0, "y": 1.0}
    sine = get("sine")
    sp = sine.protocol("paper")
    assert (sp.n_steps, sp.n_ctx) == (16, 1) and sp.train["phi"] == (-math.pi / 6, math.pi / 6)
    assert sine.recommended_prior == "sinusoid" and get("msd").recommended_prior == "grey_box"
    with pytest.raises(ValueError, match=r"has no protocol 'nope'; available protocols: \['default', 'paper'\]"):
        sine.protocol("nope")


def test_degenerate_ranges_hold_the_current_value():
    s = get("pendulum", gamma=0.2)
    p = s.sample_params(50, "train", torch.Generator().manual_seed(0))
    assert torch.all(p[:, 2] == 0.2) and torch.all(p[:, 3] == 0.0)
    assert p[:, 1].min() >= 0.5 and p[:, 1].max() <= 1.5 and p[:, 1].std() > 0.2


# ---- simulate: layout ---------------------------------------------------------------
def test_dataset_layout_units_and_provenance():
    s = get("lorenz")
    ds = s.simulate(5, (0.0, 1.0), 21, params="test", seed=3)
    assert ds["state"].dims == ("trajectory", "time", "variable") and ds["state"].dtype == np.float64
    assert ds.sizes == {"trajectory": 5, "time": 21, "variable": 3}
    assert list(ds["variable"].values) == ["x", "y", "z"]
    for name in ["sigma", "rho", "beta", "x_0", "y_0", "z_0"]:
        assert ds[name].dims == ("trajectory",)
    assert np.allclose(ds["time"].values, np.linspace(0, 1, 21), rtol=0, atol=1e-15)
    assert ds["time"].attrs["units"] == "1"
    for name, var in ds.variables.items():
        assert "units" in var.attrs and "long_name" in var.attrs, name
    assert ds.attrs["Conventions"] == "CF-1.10" and ds.attrs["featureType"] == "trajectory"
    for key in ["system", "backend", "method", "rtol", "atol", "seed", "warp_phys_version",
                "parameter_ranges", "protocol"]:
        assert key in ds.attrs, key
    assert (ds.attrs["system"], ds.attrs["backend"], ds.attrs["method"], ds.attrs["seed"]) == ("lorenz63", "torch", "dopri5", 3)
    # the state at t=0 is the recorded initial condition; parameters in the test ranges
    assert np.array_equal(ds.state.isel(time=0).values, np.stack([ds.x_0, ds.y_0, ds.z_0], 1))
    assert ds.rho.min() >= 22.0 and ds.rho.max() <= 34.0
    x, t = trajectories_to_tensor(ds)
    assert x.shape == (5, 21, 3) and x.dtype == torch.float64 and t.shape == (21,)
    assert np.array_equal(x.numpy(), ds.state.values) and np.array_equal(t.numpy(), ds.time.values)
    x32, t32 = trajectories_to_tensor(ds, dtype=torch.float32, device="cpu")
    assert x32.dtype == t32.dtype == torch.float32 and torch.equal(x32, x.float())
    p = ds_params_tensor(ds, s)
    assert p.shape == (5, 3) and torch.equal(p[:, 1], torch.from_numpy(ds.rho.values))
    with pytest.raises(ValueError, match=r"lacks parameter coordinate\(s\) \['m', 'k', 'c'\]"):
        ds_params_tensor(ds, get("msd"))


def test_seeded_determinism_and_param_forms():
    s = get("msd")
    a = s.simulate(4, n_steps=32, seed=7)
    b = s.simulate(4, n_steps=32, seed=7)
    c = s.simulate(4, n_steps=32, seed=8)
    assert a.identical(b) and not np.array_equal(a.m.values, c.m.values)
    d = s.simulate(3, n_steps=16, params=None)
    assert np.all(d.m.values == 0.03) and d.attrs["params_source"] == "default"
    e = s.simulate(3, n_steps=16, params={"k": [4.0, 5.0, 6.0]})
    assert list(e.k.values) == [4.0, 5.0, 6.0] and np.all(e.m.values == 0.03)
    f = s.simulate(2, n_steps=16, params=torch.tensor([0.02, 8.0, 0.0]), ic=torch.tensor([1.0, 0.0]))
    assert np.all(f.c.values == 0.0) and np.all(f.x_0.values == 1.0)


# ---- simulate: bad input ------------------------------------------------------------
@pytest.mark.parametrize("kwargs,match", [
    (dict(n_trajectories=0), r"n_trajectories must be >= 1"),
    (dict(n_trajectories=2.0), r"n_trajectories must be an integer"),
    (dict(seed=-1), r"seed must be (>= 0|an integer in \[0, 2\*\*63 - 1\]).*-1"),
    (dict(seed="0"), r"seed must be an integer"),
    (dict(n_steps=1), r"n_steps must be an integer >= 2"),
    (dict(t_span=(1.0, 0.0)), r"t_span is reversed or empty.*swap them"),
    (dict(t_span=(0.0, float("inf"))), r"t_span must be finite"),
    (dict(ic=torch.tensor([[1.0, float("nan")], [1.0, 0.0]])), r"initial condition v of trajectory 0 is nan"),
    (dict(ic=torch.ones(3, 2)), r"ic must have shape \(2, 2\) or \(2,\)"),
    (dict(params=torch.ones(2, 2)), r"params must have shape \(2, 3\) or \(3,\)"),
    (dict(params={"m": [0.02, float("inf")]}), r"parameter m of trajectory 1 is inf"),
    (dict(params={"m": [0.02, -0.01]}), r"parameter m = -0.01 \(trajectory 1\) is outside physical sense; it must be > 0"),
    (dict(params={"mass": 1.0}), r"unknown parameter\(s\) \['mass'\]"),
    (dict(params="validation"), r"params must be 'train', 'test', None"),
    (dict(backend="jax"), r"backend must be one of"),
    (dict(rtol=-1.0), r"rtol must be a positive finite number"),
    (dict(protocol="nope"), r"has no protocol 'nope'"),
])
def test_bad_input_raises(kwargs, match):
    s = get("msd")
    base = dict(n_trajectories=2, t_span=(0.0, 0.1), n_steps=4)
    base.update(kwargs)
    n = base.pop("n_trajectories")
    with pytest.raises(ValueError, match=match):
        s.simulate(n, **base)


class _Blowup(System):
    """dx/dt = a x^2: x(t) = x0 / (1 - a x0 t) blows up at t = 1 / (a x0)."""

    name = "blowup_test"
    variables = ()
    parameters = ()

    def __init__(self) -> None:
        from warp_phys.systems import Parameter, Variable

        self.variables = (Variable("x", "1", "x"),)
        self.parameters = (Parameter("a", 1.0, (1.0, 1.0), (1.0, 1.0), "1", "rate"),)
        self.ic_train = {"x": 0.1}
        super().__init__()

    def rhs(self, t, x, p):
        return p[..., 0:1] * x ** 2


@pytest.mark.parametrize("backend", ["torch", "scipy"])
def test_blowup_names_trajectory_and_time(backend):
    ic = torch.tensor([[0.1], [0.2], [1.0]])  # only trajectory 2 blows up inside [0, 2] (at t = 1)
    with pytest.raises(SimulationError, match=r"trajectory 2 became non-finite at time t = 1(\.1)?\b") as info:
        _Blowup().simulate(3, (0.0, 2.0), 21, ic=ic, backend=backend)
    assert info.value.trajectory == 2 and 1.0 <= info.value.time <= 1.1
    assert isinstance(info.value, ValueError)


def test_overflowing_state_is_reported_not_returned_as_nan():
    with pytest.raises(SimulationError, match=r"trajectory 1 became non-finite at time t = 0"):
        get("lorenz").simulate(2, (0.0, 1.0), 11, ic=[[1.0, 1.0, 1.0], [1e200, 1e200, 1e200]])


# ---- solver options -----------------------------------------------------------------
def test_progress_chunks_and_fixed_step_rk4_agree_with_the_adaptive_solve(capsys):
    s = get("msd")
    kw = dict(params="train", seed=4, rtol=1e-10, atol=1e-12)
    ref = s.simulate(3, (0.0, 0.5), 51, **kw)
    chunked = s.simulate(3, (0.0, 0.5), 51, progress=True, **kw)
    assert "mass_spring_damper" in capsys.readouterr().err  # the tqdm bar
    scale = np.abs(ref.state.values).max()
    assert np.abs(chunked.state.values - ref.state.values).max() < 1e-8 * scale
    # RK4, 4 substeps per interval of 0.01 s (omega h <= 0.3): global error ~ (omega h)^4 / 120
    rk4 = s.simulate(3, (0.0, 0.5), 51, method="rk4", options={"substeps": 4}, **kw)
    err = np.abs(rk4.state.values - ref.state.values).max() / scale
    assert 1e-9 < err < 1e-4
    rk4h = s.simulate(3, (0.0, 0.5), 51, method="rk4", options={"step_size": 0.0025}, **kw)
    assert np.array_equal(rk4h.state.values, rk4.state.values)
    sp = s.simulate(2, (0.0, 0.5), 11, backend="scipy", progress=True, **kw)
    assert sp.attrs["method"] == "DOP853" and "traj" in capsys.readouterr().err


def test_describe_mentions_the_physics():
    text = get("lorenz").describe()
    for word in ["lorenz63", "sigma", "rho", "beta", "Prandtl", "lyapunov_time", "grey_box", "default"]:
        assert word in text
