"""Trend, season and differences of one long series (`warp_phys.pipeline.series_transforms`).

The transform and its inverse are exact; trend and season are fitted on the training block
only; a trend + season + AR(1) record is forecast far better by AR on the residual; the
result is in the record's units, with the metrics unchanged by adding back the known trend and
season; the future continues the trend; bad options fail with an InputError before any work."""
from __future__ import annotations

import json

import numpy as np
import pytest

import warp_phys
from warp_phys.metrics import forecast_mse, forecast_window
from warp_phys.pipeline import jobs
from warp_phys.pipeline.engine import run
from warp_phys.pipeline.series import finish
from warp_phys.pipeline.series_restore import levels
from warp_phys.pipeline.series_transforms import check_transform_options, fit_transform
from warp_phys.validation import InputError

N, P, SLOPE, PHI, SIGMA = 1000, 52, 0.05, 0.7, 0.3
NOISE_VAR = SIGMA**2 / (1 - PHI**2)  # stationary variance of the AR(1) noise
T = np.arange(N, dtype=float)
SEASON = 2.0 * np.sin(2 * np.pi * T / P)


def _ar_noise(seed: int = 0) -> np.ndarray:
    e = np.random.default_rng(seed).standard_normal(N) * SIGMA
    x = np.zeros(N)
    for i in range(1, N):
        x[i] = PHI * x[i - 1] + e[i]
    return x


Y = SLOPE * T + SEASON + _ar_noise()
RUN = dict(data=Y, time=T, window=40, context=20, model="ar", progress=False, device="cpu")


def _job(**kw):
    kw = {**RUN, **kw}
    data, time = kw.pop("data"), kw.pop("time")
    kw.pop("progress"), kw.pop("device")
    return jobs.series_job(data, time, None, prior="auto", prior_options=None, seed=0,
                           options={"context": kw.pop("context")}, progress=False, **kw)


# ---- the transform itself ------------------------------------------------------------------
@pytest.mark.parametrize("detrend, deseason, difference", [
    (1, None, False), (None, 7, False), (3, 12, False), (2, 5, True), (None, None, True), (0, 30, True)])
def test_round_trip_is_exact(detrend, deseason, difference):
    values = np.random.default_rng(1).standard_normal((300, 3)) * [1.0, 100.0, 1e-3] + [5.0, -2e3, 0.0]
    opts = check_transform_options(detrend, deseason, difference)
    tr = fit_transform(values, opts, (0, 200))
    back = tr.inverse(tr.forward(values), first=values[0])
    assert back.shape == values.shape
    assert np.abs(back - values).max() <= 1e-9 * np.abs(values).max()
    assert tr.forward(values).shape[0] == 300 - int(difference)


def test_fit_reads_the_training_block_only():
    opts = check_transform_options(2, 12, False)
    values = np.random.default_rng(2).standard_normal((400, 2)) + np.arange(400)[:, None] * 0.1
    changed = values.copy()
    changed[250:] = 1e3 * np.random.default_rng(3).standard_normal((150, 2))  # validation and test blocks
    a, b = fit_transform(values, opts, (0, 250)), fit_transform(changed, opts, (0, 250))
    assert np.array_equal(a.coefficients, b.coefficients) and np.array_equal(a.profile, b.profile)
    c = fit_transform(changed, opts, (0, 260))  # the fit does read what it is given
    assert not np.allclose(a.coefficients, c.coefficients)


def test_job_fits_on_training_block_only():
    y = Y.copy()
    y[800:] *= 100.0  # the test block (last 15 %)
    a, b = _job(detrend=1, deseason=P).splits.extra["transform"], _job(data=y, detrend=1, deseason=P).splits.extra[
        "transform"]
    assert a.fit_block == (0, 700)
    assert np.array_equal(a.coefficients, b.coefficients) and np.array_equal(a.profile, b.profile)
    assert abs(a.coefficients[1, 0] / a.xs - SLOPE) < 0.005  # slope per step of the fitted trend


def test_differences_sum_back_to_the_record():
    """A model that forecast the true differences would give the record exactly."""
    opts = check_transform_options(1, 10, True)
    values = np.cumsum(np.random.default_rng(4).standard_normal((200, 2)), axis=0)
    tr = fit_transform(values, opts, (0, 150))
    model = tr.forward(values)  # r[i] at record step i + 1
    starts = np.array([0, 17, 150])
    steps = starts[:, None] + 1 + np.arange(30)
    mean, std = levels(tr, values, steps, model[steps - 1], np.ones((3, 30, 2)), context=8)
    assert np.abs(mean - values[steps]).max() < 1e-9 * np.abs(values).max()
    assert np.allclose(std[:, 8:, 0], np.sqrt(np.arange(1, 23)))  # independent step errors add variances


# ---- runs --------------------------------------------------------------------------------
def test_residual_model_beats_raw_and_metrics_are_in_record_units():
    raw = warp_phys.reconstruct(**RUN)
    job = _job(detrend=1, deseason=P)
    rec = run(job)
    residual_metrics = dict(rec.metrics)
    finish(job, rec)
    again = warp_phys.reconstruct(**RUN, detrend=1, deseason=P)
    assert again.metrics == rec.metrics  # same seed, same numbers; reconstruct == job + run + finish
    # the AR forecast of the residual: near the noise's own variance; far below AR on the raw record
    assert rec.metrics["mse"] < 1.5 * NOISE_VAR
    assert raw.metrics["mse"] > 3.0 * rec.metrics["mse"]
    # trend and season are known: the errors in the record's units equal those on the residual
    for key in ("mse", "mae", "ar_mse", "seasonal_naive_mse", "ets_mse"):
        assert rec.metrics[key] == pytest.approx(residual_metrics[key], rel=1e-9, abs=1e-12)
    ds = rec.dataset
    steps = ds["window_start_index"].values[:, None] + np.arange(ds.sizes["time"])
    assert np.array_equal(ds["state"].values[..., 0], Y[steps])  # the truth is the record itself
    mask = forecast_window(ds.sizes["time"], 20, None)
    assert forecast_mse(ds["state"].values, ds["prediction_mean"].values, mask) == pytest.approx(
        rec.metrics["mse"], rel=1e-12)
    assert json.loads(ds.attrs["metrics"]) == rec.metrics
    applied = json.loads(ds.attrs["series_transform"])
    assert applied["detrend"]["degree"] == 1 and applied["deseason"]["period"] == P
    assert len(applied["deseason"]["profile"][0]) == P and "series_transform" not in raw.dataset.attrs
    assert rec.metrics["mse_persistence"] == pytest.approx(raw.metrics["mse_persistence"], rel=1e-12)
    with pytest.raises(InputError, match="series_transform"):
        rec.forecast(Y[None, :40, None], time=T[:40])


def test_future_continues_the_trend():
    rec = warp_phys.reconstruct(**{**RUN, "window": 80}, detrend="linear", deseason=P)
    fut = rec.datasets["future"]
    rt = fut["record_time"].values[0]
    assert np.array_equal(fut["state"].values[0, :20, 0], Y[-20:])  # the last observed steps, record units
    assert np.isnan(fut["state"].values[0, 20:]).all()
    pred = fut["prediction_mean"].values[0, 30:, 0] - 2.0 * np.sin(2 * np.pi * rt[30:] / P)
    slope = np.polyfit(rt[30:], pred, 1)[0]
    assert abs(slope - SLOPE) < 0.1 * SLOPE
    assert "series_transform" in fut.attrs


def test_difference_run_is_scored_in_record_units():
    rec = warp_phys.reconstruct(**RUN, detrend=1, deseason=P, difference=True)
    ds = rec.dataset
    steps = ds["window_start_index"].values[:, None] + np.arange(ds.sizes["time"])
    assert np.array_equal(ds["state"].values[..., 0], Y[steps])
    mask = forecast_window(ds.sizes["time"], 20, None)
    assert rec.metrics["mse"] == pytest.approx(forecast_mse(ds["state"].values, ds["prediction_mean"].values, mask))
    assert rec.metrics["mse"] < 2.0 * NOISE_VAR
    # the classical forecasts, made on the differences, are summed back to levels and rescored there
    for name in ("ar", "ets", "seasonal_naive"):
        pred = ds["baseline_mean"].sel(baseline=name).transpose("trajectory", "time", "variable").values
        assert rec.metrics[f"{name}_mse"] == pytest.approx(forecast_mse(ds["state"].values, pred, mask), rel=1e-9)
    # the residual is AR(1) noise: a forecast of its differences summed back to levels errs by at most
    # about twice its stationary variance (holding the last level does), far below the series' variance
    assert rec.metrics["ar_mse"] < 4.0 * NOISE_VAR
    assert json.loads(ds.attrs["series_transform"])["difference"] is True


def test_validation_block_is_scored_in_record_units():
    """rec.all_metrics["val"]: the validation windows' forecast error in the record's units (the
    truth is the record itself), so a transformed run and a plain one compare on validation."""
    raw = warp_phys.reconstruct(**RUN)
    rec = warp_phys.reconstruct(**RUN, detrend=1, deseason=P)
    for r in (raw, rec):
        val = r.datasets["val"]
        lo, hi = r.dataset["window_start_index"].values.min(), r.datasets["val"]["window_start_index"].values.max()
        assert hi < lo  # every validation window starts before the first test window
        steps = val["window_start_index"].values[:, None] + np.arange(val.sizes["time"])
        assert np.array_equal(val["state"].values[..., 0], Y[steps])
        mask = forecast_window(val.sizes["time"], 20, None)
        assert r.all_metrics["val"]["mse"] == pytest.approx(
            forecast_mse(val["state"].values, val["prediction_mean"].values, mask), rel=1e-12)
        for name in ("ar", "ets", "seasonal_naive"):
            pred = val["baseline_mean"].sel(baseline=name).transpose("trajectory", "time", "variable").values
            assert r.all_metrics["val"][f"{name}_mse"] == pytest.approx(forecast_mse(val["state"].values, pred, mask),
                                                                        rel=1e-9)
        assert list(r.all_metrics) == ["val", "test"] and r.metrics == r.all_metrics["test"]
    # on validation as on test, AR on the residual is near the noise variance and beats AR on the raw record
    assert rec.all_metrics["val"]["mse"] < 1.5 * NOISE_VAR < raw.all_metrics["val"]["mse"] / 2.0


# ---- bad input ---------------------------------------------------------------------------
@pytest.fixture
def guarded(monkeypatch):
    from warp_phys import workflow

    def fail(*args, **kwargs):
        raise AssertionError("windows were cut or a model trained before the bad input was caught")

    monkeypatch.setattr(jobs, "series_splits", fail)
    monkeypatch.setattr(workflow, "run", fail)


@pytest.mark.parametrize("kw, words", [
    (dict(detrend=-1), "detrend must be None, 'linear' or a polynomial degree"),
    (dict(detrend=True), "detrend must be"),
    (dict(detrend="quadratic"), "e.g. detrend=1"),
    (dict(detrend=9), "0..5"),
    (dict(deseason=1), "deseason must be None or the season's period in steps, an int >= 2"),
    (dict(deseason=52.0), "deseason must be"),
    (dict(deseason=800), "longer than the training block \\(700 steps\\)"),
    (dict(difference="yes"), "difference must be True"),
])
def test_bad_transform_options(guarded, kw, words):
    with pytest.raises(InputError, match=words):
        warp_phys.reconstruct(**RUN, **kw)


def test_transform_needs_a_series(guarded):
    with pytest.raises(InputError, match="cut one long measured series"):
        warp_phys.reconstruct(data=np.zeros((6, 30, 1)), time=np.arange(30.0), deseason=12, progress=False)
    with pytest.raises(InputError, match="cut one long measured series"):
        warp_phys.reconstruct(system="lorenz", detrend=1, progress=False)
