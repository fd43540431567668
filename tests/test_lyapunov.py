"""Lyapunov exponents by the Benettin/QR method."""
from __future__ import annotations

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
