"""The paper's MSD protocol (t in [0, 1], 256 steps, context 100; parameters and initial
conditions from ``systems.get("msd").protocol("paper")``): trivial-forecast scale and the
physics prior's edge.

Sizes are small (CI budget); the full comparison is benchmarks/paper_table.py.
"""
from __future__ import annotations

import numpy as np
import pytest

import warp_phys
from warp_phys import metrics as M

# Paper grid: t in [0, 1], 256 steps, context 100; forecast scored on the 156 later steps.
GRID = dict(context=100, progress=False)


@pytest.fixture(scope="module")
def msd_paper_trivial():
    """64 OOD test trajectories of the paper's MSD protocol through reconstruct(): the
    persistence 'model' has no parameters, so this only simulates and scores."""
    return warp_phys.reconstruct(system="msd", protocol="paper", model="persistence", n_train=8, n_val=4,
                                 n_test=64, epochs=1, seed=0, **GRID)


def test_trivial_forecasts_set_the_scale(msd_paper_trivial):
    """Reference scale of the protocol: predict-zero MSE ~ 8.8 and hold-last ~ 25 on 64 OOD
    test trajectories.

    Sampling error: over 2,048 OOD trajectories the per-trajectory forecast-window MSE has
    mean 10.7 (zero) / 30.2 (hold) and std 18.1 / 50.5 (heavy tail: small m, large k give
    large velocities), so a 64-trajectory mean has a standard error of ~2.3 / ~6.3, i.e.
    ~25% of the reference values; 8.8 and 25 are themselves one such draw. Tolerance: +-30%
    around them (about 1.2 standard errors) for this fixed seed, plus the structural check
    that holding the last value is ~3x worse than predicting zero (the window sees whole
    oscillations around 0, so hold-last pays the squared offset on top of the variance;
    population ratio 2.8). Measured for this seed: 7.36 and 26.2 (ratio 3.6).
    """
    rec = msd_paper_trivial
    ds = rec.dataset
    assert ds.sizes["trajectory"] == 64
    assert "test_id" in rec.datasets  # the primary split is the out-of-distribution one
    truth = ds["state"].transpose("trajectory", "time", "variable").values
    window = M.forecast_window(truth.shape[1], 100)
    zero = M.forecast_mse(truth, M.zero_forecast(truth), window)
    hold = M.forecast_mse(truth, M.persistence_forecast(truth, 100), window)
    assert zero == pytest.approx(rec.metrics["mse_zero"], rel=1e-12)
    assert hold == pytest.approx(rec.metrics["mse"], rel=1e-6)  # persistence holds the last value (float32 path)
    assert zero == pytest.approx(8.8, rel=0.3)
    assert hold == pytest.approx(25.0, rel=0.3)
    assert 2.0 < hold / zero < 4.0
    # OOD parameters really come from the wider test ranges
    assert ds["k"].values.min() < 4.0 or ds["k"].values.max() > 16.0
    assert ds["m"].values.min() < 0.02 or ds["m"].values.max() > 0.04


def _pair(**data):
    common = dict(system="msd", n_train=64, n_val=16, n_test=64, seed=0, epochs=10, lr=3e-3, batch_size=16,
                  p_force=1.0, patience=100, **GRID, **data)
    grey = warp_phys.reconstruct(prior="grey_box", width=16, depth=2, **common)
    black = warp_phys.reconstruct(prior=None, width=32, depth=2, **common)
    return grey, black


def test_grey_box_beats_black_box_warp_on_ood_initial_conditions():
    """Paper grid and context, spring at its default m, k, c, initial conditions from the
    wider OOD test ranges (x0 in [0, 2], v0 in [-1, 1] vs [0.5, 1.5], [-0.5, 0.5] in
    training): the grey-box prior (WARP emits m, k, c; RK4 advances the state) forecasts
    far better than black-box WARP under the same 40-step training budget.

    Measured (seed 0): grey box 0.026, black box 11.7 (ratio ~450; predict-zero
    12.7, ~490x the grey box); k/m at the end of the context within 0.6% of the truth.
    Asserted with ~4.5x headroom: ratio >= 100, grey box >= 100x below predict-zero, k/m
    within 5%.

    With the paper's parameter ranges (m, k, c sampled per trajectory) the prior must
    infer k/m and c/m from the context through WARP's linear recurrence; at this budget
    neither model gets there (measured ratio ~1.1), see benchmarks/paper_table.py.
    """
    grey, black = _pair(protocol="default", parameters="fixed")
    assert grey.dataset.attrs["split"] == "test" and "test_id" in grey.datasets  # OOD split scored
    g, b = grey.metrics["mse"], black.metrics["mse"]
    assert np.isfinite(g) and np.isfinite(b)
    assert b / g >= 100.0, (g, b)
    assert g * 100.0 <= grey.metrics["mse_zero"], (g, grey.metrics["mse_zero"])
    # the inferred spring constants are physical: k/m within 5% of the truth (10 / 0.03)
    P = grey.parameters()
    km = (P["k"] / P["m"]).values[:, 99]
    assert np.median(np.abs(km / (10.0 / 0.03) - 1)) < 0.05
