"""Metrics on hand-made arrays: exact numbers."""
import numpy as np
import pytest
import torch

from warp_phys import metrics as M


def _pair():
    # 2 trajectories, 4 steps, 2 variables; errors only on variable 0 at steps 2, 3
    truth = np.zeros((2, 4, 2))
    truth[:, :, 1] = np.arange(4.0)            # variable 1: 0, 1, 2, 3
    pred = truth.copy()
    pred[0, 2, 0] = 1.0
    pred[0, 3, 0] = -2.0
    pred[1, 3, 0] = 3.0
    return truth, pred


def test_forecast_window():
    m = M.forecast_window(6, 2)
    assert m.tolist() == [False, False, True, True, True, True]
    assert M.forecast_window(6, 2, horizon=3).tolist() == [False, False, True, True, True, False]
    with pytest.raises(ValueError, match="context"):
        M.forecast_window(6, 6)
    with pytest.raises(ValueError, match="horizon"):
        M.forecast_window(6, 2, horizon=5)


def test_mse_mae_exact():
    truth, pred = _pair()
    mask = M.forecast_window(4, 2)
    # squared errors in window: 1, 4, 9 over 2 traj * 2 steps * 2 vars = 8 entries
    assert M.forecast_mse(truth, pred, mask) == pytest.approx(14 / 8, abs=0)
    assert M.forecast_mae(truth, pred, mask) == pytest.approx(6 / 8, abs=0)
    np.testing.assert_array_equal(M.per_variable_mse(truth, pred, mask), [14 / 4, 0.0])
    np.testing.assert_array_equal(M.per_variable_mae(truth, pred, mask), [6 / 4, 0.0])
    # no mask: all 16 entries
    assert M.forecast_mse(truth, pred) == pytest.approx(14 / 16, abs=0)
    # horizon 1: only step 2 -> one error of 1 among 4 entries
    assert M.forecast_mse(truth, pred, M.forecast_window(4, 2, horizon=1)) == 0.25
    # torch tensors are accepted
    assert M.forecast_mse(torch.tensor(truth), torch.tensor(pred), mask) == pytest.approx(14 / 8, abs=0)


def test_shape_errors():
    truth, pred = _pair()
    with pytest.raises(ValueError, match="shapes differ"):
        M.forecast_mse(truth, pred[:, :3])
    with pytest.raises(ValueError, match="mask"):
        M.forecast_mse(truth, pred, np.ones(3, bool))
    with pytest.raises(ValueError, match="no time step"):
        M.forecast_mse(truth, pred, np.zeros(4, bool))


def test_trivial_forecasts():
    truth, _ = _pair()
    per = M.persistence_forecast(truth, 2)
    np.testing.assert_array_equal(per[0, :, 1], [0, 1, 1, 1])
    mask = M.forecast_window(4, 2)
    # persistence errors on variable 1: (2-1)^2, (3-1)^2 per trajectory -> (1 + 4) * 2 / 8
    assert M.forecast_mse(truth, per, mask) == pytest.approx(10 / 8, abs=0)
    # zero forecast: variable 1 values 2, 3 -> (4 + 9) * 2 / 8
    assert M.forecast_mse(truth, M.zero_forecast(truth), mask) == pytest.approx(26 / 8, abs=0)


def test_normalised_error_and_vpt():
    T = 11
    time = np.linspace(0.0, 1.0, T)                     # dt = 0.1
    truth = np.zeros((3, T, 2))
    truth[:, :, 0] = np.where(np.arange(T) % 2, 1.0, -1.0)   # std 1 (about mean ~ -1/11)
    truth[:, :, 1] = np.where(np.arange(T) % 2, 2.0, -2.0)
    scale = np.array([1.0, 2.0])
    pred = truth.copy()
    # errors: trajectory 0 fails at step 6, trajectory 1 at step 4, trajectory 2 never
    pred[0, 6:, 0] += 1.0            # E = sqrt((1^2 + 0)/2) = 0.707 > 0.3
    pred[1, 4:, 1] += 2.0            # E = sqrt((0 + 1^2)/2) = 0.707
    pred[2, 3:, 0] += 0.4            # E = sqrt(0.16 / 2) = 0.283 < 0.3: never fails
    E = M.normalised_error(truth, pred, scale)
    assert E[0, 6] == pytest.approx(np.sqrt(0.5))
    assert E[2, 5] == pytest.approx(np.sqrt(0.08))
    ctx = 3                          # last observed step index 2 (t = 0.2)
    vpt = M.valid_prediction_time(truth, pred, time, ctx, scale=scale, reduce=None)
    # traj 0: last valid index 5 -> 0.5 - 0.2 = 0.3; traj 1: index 3 -> 0.1; traj 2: end 1.0 - 0.2
    np.testing.assert_allclose(vpt, [0.3, 0.1, 0.8], atol=1e-12)
    assert M.valid_prediction_time(truth, pred, time, ctx, scale=scale) == pytest.approx(0.3)
    assert M.valid_prediction_time(truth, pred, time, ctx, scale=scale, time_scale=0.5) == pytest.approx(0.6)
    # first forecast step already wrong -> VPT 0
    bad = truth + 5.0
    assert M.valid_prediction_time(truth, bad, time, ctx, scale=scale) == 0.0
    # default scale is the per-variable std of truth
    E_default = M.normalised_error(truth, pred)
    std = truth.reshape(-1, 2).std(axis=0)
    assert E_default[0, 6] == pytest.approx(np.sqrt(0.5 * (1 / std[0]) ** 2))


def test_forecast_metrics_dict():
    truth, pred = _pair()
    mask = M.forecast_window(4, 2)
    out = M.forecast_metrics(truth, pred, mask, variable_names=["x", "y"], context=2)
    assert out["mse"] == pytest.approx(14 / 8, abs=0)
    assert out["mse_x"] == 3.5 and out["mse_y"] == 0.0
    assert out["mae_x"] == 1.5
    assert out["mse_persistence"] == pytest.approx(10 / 8, abs=0)
    assert out["mse_zero"] == pytest.approx(26 / 8, abs=0)
    assert "vpt" not in out
    time = np.arange(4.0)
    out = M.forecast_metrics(truth, pred, mask, variable_names=["x", "y"], context=2, time=time,
                             time_scale=2.0, chaotic=True, vpt_scale=[1.0, 1.0])
    # traj 0 fails at step 2 (E=0.707) -> 0; traj 1 fails at step 3 -> (2-1)/2 = 0.5; median 0.25
    assert out["vpt"] == pytest.approx(0.25)


def test_interval_coverage_of_a_calibrated_gaussian_forecast():
    GAUSSIAN_2STD, interval_coverage = M.GAUSSIAN_2STD, M.interval_coverage

    rng = np.random.default_rng(0)
    n = (200, 500, 1)
    mean, std = rng.normal(size=n), rng.uniform(0.5, 2.0, size=n)
    truth = mean + std * rng.standard_normal(n)
    mask = np.zeros(500, dtype=bool)
    mask[100:] = True
    p = interval_coverage(truth, mean, std, mask)
    binomial_sd = np.sqrt(GAUSSIAN_2STD * (1 - GAUSSIAN_2STD) / (200 * 400))
    assert abs(p - GAUSSIAN_2STD) < 5 * binomial_sd
    # k = 1: the one-sigma fraction; halving the std makes it overconfident
    assert abs(interval_coverage(truth, mean, std, mask, k=1.0) - 0.6826894921) < 5 * np.sqrt(0.25 / 80_000)
    assert interval_coverage(truth, mean, std / 2, mask) < 0.7
    # only the masked steps count; a non-finite forecast is a miss
    truth[:, :100] = 1e9
    assert interval_coverage(truth, mean, std, mask) == p
    hits_0 = np.sum(np.abs(truth[0, 100:] - mean[0, 100:]) <= 2 * std[0, 100:])
    mean[0, 100:] = np.nan
    assert interval_coverage(truth, mean, std, mask) == pytest.approx(p - hits_0 / (200 * 400), abs=1e-12)
    with pytest.raises(ValueError, match="shape"):
        interval_coverage(truth, mean, std[:, :10], mask)


def test_coverage_scale_is_the_smallest_factor_that_reaches_the_level():
    rng = np.random.default_rng(3)
    n = (50, 40, 2)
    mean, std = rng.normal(size=n), rng.uniform(0.5, 2.0, size=n)
    truth = mean + 1.7 * std * rng.standard_normal(n)  # a band 1.7 times too narrow
    mask = np.arange(40) >= 10
    c = M.coverage_scale(truth, mean, std, mask)
    assert abs(c - 1.7) < 0.1
    assert M.interval_coverage(truth, mean, c * std, mask) >= M.GAUSSIAN_2STD
    assert M.interval_coverage(truth, mean, c * (1 - 1e-9) * std, mask) < M.GAUSSIAN_2STD
    assert M.coverage_scale(truth, mean, std, mask, level=0.5) < c
    exact = mean.copy()  # no error: any band holds it
    assert M.coverage_scale(exact, mean, np.zeros_like(std), mask) == 0.0
    with pytest.raises(ValueError, match="level"):
        M.coverage_scale(truth, mean, std, mask, level=1.0)
