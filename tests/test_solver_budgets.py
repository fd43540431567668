"""Bounded work in System.simulate: step and wall-clock budgets, the stiffness pre-check, blow-up
reports, constructor overrides that win over the protocol, output-size and seed checks."""
from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from warp_phys.systems import ODE_SYSTEMS, SimulationError, SolverBudgetError, get
from warp_phys.validation import InputError

SEED = 0
BACKENDS = ["torch", "scipy"]


# ---- the examples that used to hang -------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_stiff_van_der_pol_fails_fast_naming_mu_and_the_fix(backend):
    start = time.perf_counter()
    with pytest.raises(SolverBudgetError) as info:
        get("van_der_pol", mu=1e4).simulate(2, params=None, n_steps=100, backend=backend, seed=SEED)
    assert time.perf_counter() - start < 20.0
    err = info.value
    msg = str(err)
    for words in ["van_der_pol", "too stiff", "max_steps=20000", "mu=10000", "mu = 10000 lies outside",
                  "[0.2, 3]", "pass max_steps above", "method='Radau'", "change the parameter"]:
        assert words in msg, (words, msg)
    assert isinstance(err, SimulationError) and isinstance(err, ValueError)
    assert err.trajectory in (0, 1) and f"trajectory {err.trajectory}" in msg and err.time == 0.0
    assert err.params == {"mu": 1e4}
    # the estimate is a stiff lower bound: spectral radius ~ mu |1 - x0^2| over t in [0, 20]
    assert 2e4 < err.steps < 1e7


@pytest.mark.parametrize("backend", BACKENDS)
def test_vanishing_mass_fails_fast_naming_m(backend):
    start = time.perf_counter()
    with pytest.raises(SolverBudgetError) as info:
        get("msd").simulate(2, params={"m": 1e-300}, n_steps=50, backend=backend, seed=SEED)
    assert time.perf_counter() - start < 20.0
    msg = str(info.value)
    assert "m=1e-300" in msg and "m = 1e-300 lies outside its protocol range [0.01, 0.05]" in msg
    assert "at t = 0 s" in msg and "implicit method" in msg
    assert "pass max_steps above" not in msg  # over 1e9 steps: no budget is practical
    assert info.value.steps > 1e200 and info.value.params["m"] == 1e-300


def test_the_suggested_implicit_method_solves_the_stiff_case():
    ds = get("van_der_pol", mu=1e4).simulate(2, params=None, n_steps=100, backend="scipy", method="LSODA",
                                              seed=SEED)
    x = ds.state.values
    assert x.shape == (2, 100, 2) and np.isfinite(x).all()
    assert np.abs(x[:, :, 0]).max() < 2.2  # the relaxation cycle's amplitude is 2


def test_an_implicit_method_that_breaks_down_reports_trajectory_and_parameters():
    with pytest.raises(SimulationError, match=r"scipy solver Radau failed on trajectory 0 at t = 0 .*m=1e-300"):
        get("msd").simulate(2, params={"m": 1e-300}, n_steps=20, backend="scipy", method="Radau")


# ---- budgets during the solve ---------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_step_budget_runs_out_during_the_solve(backend):
    # x0 = 1, v0 = 0: the Jacobian is mild there (the pre-check passes), the solve then turns stiff
    with pytest.raises(SolverBudgetError) as info:
        get("vdp", mu=1e4).simulate(2, params=None, n_steps=100, ic=[1.0, 0.0], backend=backend, max_steps=150)
    err, msg = info.value, str(info.value)
    assert f"used up its budget of max_steps=150 steps on trajectory {err.trajectory}" in msg
    assert "mu=10000" in msg and "pass a larger max_steps" in msg and "Radau" in msg
    assert 0.0 < err.time < 20.0 and f"at t = {err.time:g}" in msg
    assert 150 <= err.steps <= 151


@pytest.mark.parametrize("backend", BACKENDS)
def test_wall_clock_budget(backend):
    start = time.perf_counter()
    with pytest.raises(SolverBudgetError, match=r"wall-clock budget max_time=0.3 s ran out on trajectory 0 "
                                                r"at t = .* mu=10000.*pass a larger max_time") as info:
        get("vdp", mu=1e4).simulate(1, params=None, n_steps=100, ic=[1.0, 0.0], backend=backend,
                                    max_steps=10**8, max_time=0.3)
    assert 0.3 <= time.perf_counter() - start < 5.0
    assert info.value.steps >= 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_raising_the_budget_makes_a_moderately_stiff_case_succeed(backend):
    s = get("vdp", mu=20.0)
    kw = dict(t_span=(0.0, 5.0), n_steps=26, params=None, ic=[2.0, 0.0], backend=backend, rtol=1e-8, atol=1e-10)
    with pytest.raises(SolverBudgetError, match="max_steps=50"):
        s.simulate(1, max_steps=50, **kw)
    ds = s.simulate(1, max_steps=2000, **kw)
    ref = s.simulate(1, **{**kw, "backend": "scipy"}, method="Radau")
    assert ds.attrs["max_steps"] == 2000 and np.isfinite(ds.state.values).all()
    np.testing.assert_allclose(ds.state.values, ref.state.values, atol=1e-3 * 20)


def test_fixed_step_rk4_counts_its_steps_before_solving():
    with pytest.raises(SolverBudgetError, match=r"method='rk4' would take 990 fixed steps \(99 grid intervals x 10 "
                                                r"substeps\), more than max_steps=500.*max_steps >= 990"):
        get("msd").simulate(2, n_steps=100, method="rk4", options={"substeps": 10}, max_steps=500)
    ds = get("msd").simulate(2, n_steps=100, method="rk4", options={"substeps": 10}, max_steps=990)
    assert np.isfinite(ds.state.values).all()


def test_blowup_names_trajectory_time_and_parameters():
    with pytest.raises(SimulationError, match=r"trajectory 1 became non-finite at time t = 0 with parameters "
                                              r"sigma=10, rho=28, beta=2\.66667") as info:
        get("lorenz").simulate(2, (0.0, 1.0), 11, params=None, ic=[[1.0, 1.0, 1.0], [1e200, 1e200, 1e200]])
    assert not isinstance(info.value, SolverBudgetError) and info.value.trajectory == 1


def test_bad_budgets_are_refused():
    s = get("msd")
    with pytest.raises(InputError, match=r"max_steps must be >= 1, got 0"):
        s.simulate(2, n_steps=4, max_steps=0)
    with pytest.raises(InputError, match=r"max_steps must be an integer, got 1000.5 .*max_steps=1000"):
        s.simulate(2, n_steps=4, max_steps=1000.5)
    with pytest.raises(InputError, match=r"max_time must be None .* got -1.*max_time=60"):
        s.simulate(2, n_steps=4, max_time=-1)


def test_scipy_stepping_is_solve_ivp_bit_for_bit():
    from scipy.integrate import solve_ivp

    s = get("lorenz")
    ds = s.simulate(1, (0.0, 1.0), 21, params=None, ic=[1.0, 2.0, 3.0], backend="scipy")
    p = s.parameter_vector()
    sol = solve_ivp(lambda t, y: s.rhs(torch.tensor(t, dtype=torch.float64), torch.from_numpy(y), p).numpy(),
                    (0.0, 1.0), np.array([1.0, 2.0, 3.0]), method="DOP853", t_eval=ds.time.values,
                    rtol=1e-7, atol=1e-9)
    assert np.array_equal(sol.y.T, ds.state.values[0])


# ---- constructor overrides win over the protocol ------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_constructor_override_holds_the_parameter_for_every_trajectory(backend):
    plain = get("msd").simulate(3, n_steps=16, seed=SEED, backend=backend)
    ds = get("msd", m=5.0).simulate(3, n_steps=16, seed=SEED, backend=backend)
    assert np.all(ds.m.values == 5.0)
    # the other parameters are sampled exactly as without the override (same draws)
    assert np.array_equal(ds.k.values, plain.k.values) and np.array_equal(ds.c.values, plain.c.values)
    assert np.all((ds.k.values >= 4.0) & (ds.k.values <= 16.0)) and ds.k.values.std() > 0
    assert json.loads(ds.attrs["parameter_overrides"]) == {"m": 5.0}
    assert json.loads(ds.attrs["parameter_ranges"])["m"] == {"train": [5.0, 5.0], "test": [5.0, 5.0]}
    # the dynamics use it: the closed-form solution at m = 5 (omega = sqrt(k / 5) ~ 1 rad/s)
    from warp_phys.systems import MassSpringDamper

    for i in range(3):
        exact = MassSpringDamper.analytic(torch.tensor(ds.time.values), float(ds.x_0[i]), float(ds.v_0[i]),
                                          5.0, float(ds.k[i]), float(ds.c[i])).numpy()
        np.testing.assert_allclose(ds.state.values[i], exact, atol=1e-5)
    # explicit simulate-time values still win over the override
    e = get("msd", m=5.0).simulate(2, n_steps=8, params={"m": 0.02}, backend=backend)
    assert np.all(e.m.values == 0.02)
    paper = get("msd", m=5.0).simulate(2, n_steps=8, protocol="paper", params="test", backend=backend)
    assert np.all(paper.m.values == 5.0)


@pytest.mark.parametrize("cls", ODE_SYSTEMS, ids=lambda c: c.name)
def test_every_ode_system_honours_overrides_on_both_backends(cls):
    par = cls().parameters[0]
    lo, hi = par.train
    value = lo + 0.37 * (hi - lo) if hi > lo else par.default + 0.1
    s = get(cls.name, **{par.name: value})
    assert s.sample_params(50, "test", torch.Generator().manual_seed(1))[:, 0].eq(value).all()
    span = s.protocol().t_span
    for backend in BACKENDS:
        ds = s.simulate(3, (span[0], span[0] + 0.05 * (span[1] - span[0])), 4, seed=SEED, backend=backend)
        assert np.all(ds[par.name].values == value), (cls.name, backend)
        assert np.isfinite(ds.state.values).all()


def test_field_systems_hold_overrides_too():
    burgers = get("burgers", nu=0.07)
    p = burgers.sample_params(20, "train", torch.Generator().manual_seed(0))
    assert torch.all(p[:, 0] == 0.07)
    assert burgers.parameter_ranges("test") == {"nu": (0.07, 0.07)}
    assert get("burgers").parameter_ranges("test") == {"nu": (0.045, 0.1)}


# ---- sizes and seeds ------------------------------------------------------------------------
def test_impossible_sizes_are_refused_before_allocating():
    s = get("msd")
    start = time.perf_counter()
    with pytest.raises(InputError, match=r"n_trajectories=1000000000000 x n_steps=256 x 2 variables x 8 bytes "
                                         r"needs 4\.096e\+06 GB, more than the .* GB allowed"):
        s.simulate(10**12)
    with pytest.raises(InputError, match=r"needs 1\.6e\+07 GB.*use fewer time steps"):
        s.simulate(1, n_steps=10**15)
    with pytest.raises(InputError, match=r"burgers_1d: n_trajectories=1000000000 x n_steps=\d+ x 64 grid points "
                                         r"x 4 bytes needs"):
        get("burgers").simulate(10**9, grid=64, dtype=torch.float32)
    assert time.perf_counter() - start < 5.0


def test_size_limit_follows_the_available_memory(monkeypatch):
    from warp_phys.systems import budget

    assert budget.available_memory() > 2**20
    monkeypatch.setattr(budget, "available_memory", lambda: 10**6)
    with pytest.raises(InputError, match=r"needs 0\.0016 GB, more than the 0\.0005 GB allowed \(1/2 of the 0\.001 GB "
                                         r"of memory available\); simulate at most 31 trajectories per call"):
        get("msd").simulate(100, n_steps=1000)
    assert get("msd").simulate(31, n_steps=1000, params=None).sizes["trajectory"] == 31


@pytest.mark.parametrize("seed", [-1, 2**63, 2**64 + 5, 1.5, "0", True])
def test_bad_seeds_are_input_errors(seed):
    with pytest.raises(InputError, match=r"seed must be .*2\*\*63") as info:
        get("msd").simulate(2, n_steps=4, seed=seed)
    assert repr(seed) in str(info.value)


@pytest.mark.parametrize("n,match", [(2.5, r"n_trajectories must be an integer, got 2\.5 \(float\); pass a whole "
                                          r"number such as n_trajectories=2"),
                                     (0, r"n_trajectories must be >= 1, got 0"),
                                     ("3", r"n_trajectories must be an integer, got '3'")])
def test_bad_counts_are_input_errors(n, match):
    with pytest.raises(InputError, match=match):
        get("msd").simulate(n, n_steps=4)


def test_largest_seed_works_and_numpy_integers_too():
    a = get("msd").simulate(2, n_steps=8, seed=2**63 - 1)
    b = get("msd").simulate(2, n_steps=8, seed=np.int64(2**63 - 1))
    assert a.identical(b) and a.attrs["seed"] == 2**63 - 1


# ---- property: valid input -> finite, shaped, reproducible -----------------------------------
@settings(max_examples=20, deadline=None)
@given(name=st.sampled_from(["msd", "vdp", "lorenz", "lotka_volterra", "pendulum"]),
       seed=st.integers(0, 2**63 - 1), n=st.integers(1, 4), n_steps=st.integers(2, 8),
       split=st.sampled_from(["train", "test"]), frac=st.floats(0.01, 0.1))
def test_simulate_property_finite_shaped_and_reproducible(name, seed, n, n_steps, split, frac):
    s = get(name)
    t0, t1 = s.protocol().t_span
    kw = dict(t_span=(t0, t0 + frac * (t1 - t0)), n_steps=n_steps, params=split, seed=seed)
    a, b = s.simulate(n, **kw), s.simulate(n, **kw)
    assert a.state.shape == (n, n_steps, s.n_variables) and np.isfinite(a.state.values).all()
    assert np.array_equal(a.state.values, b.state.values)
    for name_, (lo, hi) in s.parameter_ranges(split).items():
        v = a[name_].values
        assert np.all((v >= lo) & (v <= hi)), name_
    assert math.isclose(float(a.time[-1]), kw["t_span"][1], rel_tol=1e-12)
