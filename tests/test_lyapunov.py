"""Lyapunov exponents by the Benettin/QR method."""
from __future__ import annotations

import math

import pytest
import torch

from warp_phys.lyapunov import lyapunov_exponents
from warp_phys.systems import get


def test_lorenz63_spectrum_matches_literature_and_trace_identity():
    s = get("lorenz")
    x0 = s.sample_ic(48, torch.Generator().manual_seed(0))
    lam = lyapunov_exponents(s, x0, n_exponents=3, dt=0.01, n_steps=2000, n_transient=500)
    assert lam.shape == (48, 3)
    mean = lam.mean(0)
    assert abs(mean[0].item() - 0.906) < 0.05 * 0.906          # largest exponent
    assert abs(mean[1].item()) < 0.05                            # the zero exponent (flow direction)
    # the exponents sum to the (constant) divergence -(sigma + 1 + beta) of the Lorenz flow
    assert abs(mean.sum().item() + (10 + 1 + 8 / 3)) < 0.01 * 13.667
    assert torch.all(lam[:, 0] >= lam[:, 1]) and torch.all(lam[:, 1] >= lam[:, 2])


def test_non_chaotic_limit_cycle_has_a_zero_largest_exponent():
    # van der Pol converges to a stable limit cycle: largest exponent 0 (phase direction).
    # The finite-time estimate of a zero exponent is ln(|f(x_T)| / |f(x_0)|) / T, bounded
    # by ln(max|f| / min|f| on the cycle) / T, about 0.1 here (T = 20).
    lam = lyapunov_exponents(get("vdp"), torch.tensor([2.0, 0.0]), n_exponents=2, dt=0.01,
                             n_steps=2000, n_transient=500)
    assert lam.shape == (2,)
    assert abs(lam[0].item()) < 0.1 and lam[1].item() < -0.3


def test_linear_damped_oscillator_spectrum_sums_to_the_trace():
    # x' = v, v' = -(k x + c v)/m: the exponents sum to trace = -c/m exactly
    s = get("msd")
    lam = lyapunov_exponents(s, torch.tensor([1.0, 0.0]), n_exponents=2, dt=0.002, n_steps=500,
                             n_transient=0)
    assert abs(lam.sum().item() + 0.1 / 0.03) < 0.01 * (0.1 / 0.03)
    assert lam[0].item() < 0


def test_seeded_and_deterministic():
    s = get("lorenz")
    a = lyapunov_exponents(s, n_steps=100, n_transient=10, n_ensemble=2, seed=3)
    b = lyapunov_exponents(s, n_steps=100, n_transient=10, n_ensemble=2, seed=3)
    assert a.shape == (1,) and torch.equal(a, b)


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_exponents=4), r"n_exponents must be an integer in \[1, 3\]"),
    (dict(x0=torch.ones(2)), r"x0 must have shape \(3,\) or \(B, 3\)"),
    (dict(x0=torch.tensor([1.0, float("nan"), 0.0])), r"x0 contains NaN/inf"),
    (dict(params={"r": 1.0}), r"unknown parameter\(s\) \['r'\]"),
    (dict(params={"sigma": -1.0}), r"parameter sigma = -1 .* outside physical sense"),
    (dict(dt=0.0), r"dt must be > 0"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lyapunov_exponents(get("lorenz"), n_steps=10, n_transient=0, **kwargs)


# ---- largest_exponent: mean +- standard error over starts (two-trajectory method) ----------
from warp_phys.lyapunov import largest_exponent  # noqa: E402


def test_largest_exponent_agrees_with_the_tangent_method_on_the_same_starts():
    s = get("lorenz")
    est = largest_exponent(s, n_starts=8, horizon=20.0, transient=5.0, align=2.0, seed=4)
    assert est.per_start.shape == (8,) and est.n_starts == 8 and est.horizon == pytest.approx(20.0)
    assert est.stderr == pytest.approx(float(est.per_start.std()) / 8 ** 0.5)
    assert abs(est.mean - 0.906) < 4 * est.stderr + 0.02
    x0 = s.sample_ic(8, torch.Generator().manual_seed(4))
    tangent = lyapunov_exponents(s, x0, dt=0.01, n_steps=2000, n_transient=500)[:, 0]
    assert abs(est.mean - tangent.mean().item()) < 4 * est.stderr
    again = largest_exponent(s, n_starts=8, horizon=20.0, transient=5.0, align=2.0, seed=4)
    assert torch.equal(est.per_start, again.per_start)


def test_largest_exponent_of_a_damped_oscillator_is_minus_half_the_damping_rate():
    # underdamped m x'' + c x' + k x = 0: both exponents equal -c / (2 m). A separation turns
    # with the motion, so its (x, v) length also swings by up to the ratio of the axes of the
    # phase ellipse, sqrt(k / m) ~ 18 here: the finite-time value is within ln(18) / T of the limit.
    T = 20.0
    est = largest_exponent(get("msd"), n_starts=4, horizon=T, transient=0.1, dt=0.002)
    assert abs(est.mean + 0.1 / (2 * 0.03)) < math.log(18.3) / T
    assert est.zero_allowance() > 0 and est.zero_allowance(power=1) < est.zero_allowance()


def test_largest_exponent_of_a_field_system_uses_its_own_stepper():
    ks = get("kuramoto_sivashinsky")
    est = largest_exponent(ks, n_starts=2, horizon=5.0, transient=2.0)
    assert est.dt == pytest.approx(1 / 28) and "ETDRK4" in est.method
    assert est.per_start.shape == (2,) and torch.isfinite(est.per_start).all()


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_starts=1), r"n_starts must be >= 2"),
    (dict(n_starts=2.5), r"n_starts must be an integer"),
    (dict(horizon=0.0), r"horizon must be a positive number"),
    (dict(transient=-1.0), r"transient must be a finite number >= 0"),
    (dict(align=float("nan")), r"align must be a finite number >= 0"),
    (dict(dt=-0.1), r"dt must be a positive number"),
])
def test_largest_exponent_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        largest_exponent(get("lorenz"), **{"horizon": 1.0, **kwargs})
