"""`warp_phys.ensemble`: the combined forecast of several reconstructions of the same data."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import warp_phys
from warp_phys.metrics import forecast_mse, forecast_window

STEPS = 240
T = np.arange(STEPS, dtype=float)
Y = np.sin(2 * np.pi * T / 11) + 0.1 * np.random.default_rng(0).standard_normal(STEPS)
SERIES = dict(data=Y, time=T, window=30, context=20, horizon=10, epochs=1, progress=False, device="cpu")


@pytest.fixture(scope="module")
def members():
    return [warp_phys.reconstruct(**SERIES, seed=s) for s in range(3)]


def _values(ds, name):
    return ds[name].transpose("trajectory", "time", "variable").values


def test_the_forecast_is_the_members_mean_and_the_std_their_mixtures(members):
    ens = warp_phys.ensemble(members)
    means = np.stack([_values(m.dataset, "prediction_mean") for m in members])
    stds = np.stack([_values(m.dataset, "prediction_std") for m in members])
    assert np.abs(means[0] - means[1]).max() > 1e-3  # the seeds differ, so the spread is not zero
    np.testing.assert_allclose(_values(ens, "prediction_mean"), means.mean(axis=0), rtol=0, atol=1e-12)
    mixture = np.sqrt((stds ** 2).mean(axis=0) + means.var(axis=0))
    np.testing.assert_allclose(_values(ens, "prediction_std"), mixture, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(_values(ens, "state"), _values(members[0].dataset, "state"))


def test_the_metrics_are_recomputed_and_the_data_only_ones_carried(members):
    ens = warp_phys.ensemble(members)
    met = json.loads(ens.attrs["metrics"])
    truth, mean = _values(ens, "state"), _values(ens, "prediction_mean")
    mask = forecast_window(ens.sizes["time"], 20, 10)
    assert met["mse"] == pytest.approx(forecast_mse(truth, mean, mask), rel=1e-12)
    # squared error is convex: the mean forecast scores at most the members' mean MSE (Jensen)
    assert met["mse"] <= np.mean([m.metrics["mse"] for m in members]) + 1e-12
    for key in ("ar_mse", "ets_mse", "mse_persistence", "ar_order"):  # the data's, identical in every member
        assert met[key] == members[0].metrics[key]
    std = _values(ens, "prediction_std")
    assert met["coverage_2std"] == warp_phys.metrics.interval_coverage(truth, mean, std, mask)
    assert 0 < met["coverage_2std"] < 1
    assert ens.attrs["ensemble_size"] == 3
    assert [d["seed"] for d in json.loads(ens.attrs["members"])] == [0, 1, 2]


def test_the_future_forecast_has_an_uncertainty_and_no_score(members):
    fut = warp_phys.ensemble(members, split="future")
    assert json.loads(fut.attrs["metrics"]) == {}
    after = ~fut["context"].values.astype(bool)
    assert (_values(fut, "prediction_std")[:, after] > 0).all()


def test_a_non_finite_member_forecast_is_flagged_not_hidden(members):
    broken = [*members[:2], members[2]]
    saved = members[2].datasets["test"]["prediction_mean"].values.copy()
    try:
        members[2].datasets["test"]["prediction_mean"].values[0, -1, 0] = np.nan
        ens = warp_phys.ensemble(broken)
    finally:
        members[2].datasets["test"]["prediction_mean"].values[:] = saved
    assert bool(ens["implausible"].values[0]) and not ens["implausible"].values[1:].any()
    assert np.isnan(ens["prediction_mean"].values[0, -1, 0])


def test_members_on_other_windows_and_single_members_are_refused(members):
    other = warp_phys.reconstruct(**{**SERIES, "window": 31, "context": 21}, seed=0)
    with pytest.raises(warp_phys.InputError, match="same windows"):
        warp_phys.ensemble([members[0], other])
    with pytest.raises(warp_phys.InputError, match="at least two"):
        warp_phys.ensemble(members[:1])
    with pytest.raises(warp_phys.InputError, match="no split"):
        warp_phys.ensemble(members, split="test_id")


def test_the_ensemble_saves_to_netcdf_and_reads_back(members, tmp_path):
    ens = warp_phys.ensemble(members)
    path = warp_phys.to_netcdf(ens, tmp_path / "ensemble.nc")
    back = warp_phys.open_trajectories(path)
    np.testing.assert_array_equal(back["prediction_std"].values, ens["prediction_std"].values)
    assert json.loads(back.attrs["metrics"]) == json.loads(ens.attrs["metrics"])


def test_data_seed_keeps_the_split_of_your_trajectories():
    rng = np.random.default_rng(1)
    t = np.linspace(0, 6, 60)
    x = np.sin(t[None, :, None] + rng.uniform(0, 6, (20, 1, 1)))
    fit = dict(data=x, time=t, context=20, epochs=1, progress=False, device="cpu")
    base = warp_phys.reconstruct(**fit, seed=0)
    shared = warp_phys.reconstruct(**fit, seed=1, data_seed=0)
    other = warp_phys.reconstruct(**fit, seed=1)
    np.testing.assert_array_equal(shared.dataset["state"].values, base.dataset["state"].values)
    assert not np.array_equal(other.dataset["state"].values, base.dataset["state"].values)  # seed= splits too
    assert shared.dataset.attrs["data_seed"] == 0 and shared.dataset.attrs["seed"] == 1
    assert "data_seed" not in base.dataset.attrs
    ens = warp_phys.ensemble([base, shared])
    assert json.loads(ens.attrs["metrics"])["mse"] <= max(base.metrics["mse"], shared.metrics["mse"])
    with pytest.raises(warp_phys.InputError, match="data_seed"):
        warp_phys.ensemble([base, other])


@pytest.fixture(scope="module")
def lorenz_members():
    """Two runs on one Lorenz-63 data set (data_seed=0), seeds 1 and 2."""
    return [warp_phys.reconstruct(system="lorenz", epochs=1, n_train=8, seed=s, data_seed=0, progress=False,
                                  device="cpu") for s in (1, 2)]


def test_a_chaotic_systems_ensemble_rescores_the_valid_prediction_time(lorenz_members):
    runs = lorenz_members
    ens = warp_phys.ensemble(runs)
    met = json.loads(ens.attrs["metrics"])
    vpt = warp_phys.metrics.valid_prediction_time(
        _values(ens, "state"), _values(ens, "prediction_mean"), ens["time"].values, runs[0].context,
        time_scale=1.0 / runs[0].system.lyapunov_exponent)
    assert met["vpt"] == pytest.approx(vpt, rel=1e-12)
    assert met["vpt"] != runs[0].metrics["vpt"] or met["vpt"] != runs[1].metrics["vpt"]


def test_new_data_is_forecast_by_every_member_and_combined(members):
    fresh = np.sin(2 * np.pi * (np.arange(60.0) + 3.7) / 11)[None, :, None] * np.array([1.0, 0.8])[:, None, None]
    ens = warp_phys.ensemble(members, new_data=fresh[:, :30], time=T[:30], context=20)
    singles = [m.forecast(fresh[:, :30], time=T[:30], context=20) for m in members]
    np.testing.assert_allclose(_values(ens, "prediction_mean"),
                               np.mean([_values(s, "prediction_mean") for s in singles], axis=0), atol=1e-12)
    met = json.loads(ens.attrs["metrics"])
    mask = forecast_window(30, 20, None)
    assert met["mse"] == pytest.approx(forecast_mse(_values(ens, "state"), _values(ens, "prediction_mean"), mask),
                                       rel=1e-12)
    beyond = warp_phys.ensemble(members, new_data=fresh[:, :20], time=T[:20], context=20, horizon=10)
    assert json.loads(beyond.attrs["metrics"]) == {} and np.isfinite(_values(beyond, "prediction_mean")).all()
    with pytest.raises(warp_phys.InputError, match="not both"):
        warp_phys.ensemble(members, split="val", new_data=fresh)
    with pytest.raises(warp_phys.InputError, match="new_data="):
        warp_phys.ensemble(members, context=20)


def test_a_gaussian_forecast_reports_its_coverage_and_a_point_forecast_none(members):
    rec = warp_phys.reconstruct(**SERIES, seed=0, output="gaussian")
    for ds, met in ((rec.dataset, rec.metrics),
                    (new := rec.forecast(Y[None, :30, None], time=T[:30], context=20), json.loads(new.attrs["metrics"]))):
        std = _values(ds, "prediction_std")
        mask = forecast_window(ds.sizes["time"], 20, 10 if ds is rec.dataset else None)
        assert (std[:, mask] > 0).all()
        assert met["coverage_2std"] == warp_phys.metrics.interval_coverage(
            _values(ds, "state"), _values(ds, "prediction_mean"), std, mask)
    assert "coverage_2std" not in members[0].metrics  # a point model has no band to check


def test_calibrate_scales_the_band_on_the_validation_block(members, lorenz_members):
    plain, calibrated = warp_phys.ensemble(members), warp_phys.ensemble(members, calibrate=True)
    scale = calibrated.attrs["std_scale"]
    assert scale == warp_phys.pipeline.ensemble.validation_scale(members) and scale > 0
    np.testing.assert_allclose(_values(calibrated, "prediction_std"), scale * _values(plain, "prediction_std"),
                               rtol=1e-12)
    np.testing.assert_array_equal(_values(calibrated, "prediction_mean"), _values(plain, "prediction_mean"))
    val = warp_phys.ensemble(members, split="val", calibrate=True)  # by construction on the validation block
    assert json.loads(val.attrs["metrics"])["coverage_2std"] >= warp_phys.metrics.GAUSSIAN_2STD
    no_val = dataclasses.replace(members[1], datasets={"test": members[1].datasets["test"]})
    with pytest.raises(warp_phys.InputError, match="validation split"):
        warp_phys.ensemble([members[0], no_val], calibrate=True)


def test_a_system_scores_its_validation_split_and_calibrates_on_it(lorenz_members):
    """The validation trajectories (the ones the model was selected on) are forecast and scored like the
    test ones, so an ensemble of system runs calibrates its band there."""
    rec = lorenz_members[0]
    val, test = rec.datasets["val"], rec.datasets["test"]
    assert val.attrs["split"] == "val" and list(rec.all_metrics)[0] == "val"
    assert not np.array_equal(_values(val, "state")[:, 0], _values(test, "state")[:, 0])  # other trajectories
    mask = forecast_window(val.sizes["time"], rec.context, rec.horizon)
    assert rec.all_metrics["val"]["mse"] == pytest.approx(
        forecast_mse(_values(val, "state"), _values(val, "prediction_mean"), mask), rel=1e-6)
    scale = warp_phys.pipeline.ensemble.validation_scale(lorenz_members)
    on_val = warp_phys.ensemble(lorenz_members, split="val", calibrate=True)
    assert on_val.attrs["std_scale"] == scale
    assert json.loads(on_val.attrs["metrics"])["coverage_2std"] >= warp_phys.metrics.GAUSSIAN_2STD
    raw = warp_phys.ensemble(lorenz_members, split="val")  # the scale is the smallest that works there
    truth, mean, std = (_values(raw, k) for k in ("state", "prediction_mean", "prediction_std"))
    cover = warp_phys.metrics.interval_coverage
    assert cover(truth, mean, scale * std, mask) >= warp_phys.metrics.GAUSSIAN_2STD
    assert cover(truth, mean, 0.99 * scale * std, mask) < warp_phys.metrics.GAUSSIAN_2STD


def test_your_trajectories_score_the_validation_trajectories_of_the_seeded_split():
    rng = np.random.default_rng(3)
    t = np.linspace(0, 6, 40)
    phase = rng.uniform(0, 2 * np.pi, (20, 1))
    data = np.stack([np.sin(t + phase), np.cos(t + phase)], axis=-1)
    rec = warp_phys.reconstruct(data=data, time=t, epochs=1, seed=5, data_seed=2, progress=False, device="cpu")
    _, va, te = warp_phys.data.split_indices(20, seed=2)
    np.testing.assert_array_equal(_values(rec.datasets["val"], "state"), data[va])
    np.testing.assert_array_equal(_values(rec.datasets["test"], "state"), data[te])
    assert set(rec.all_metrics) == {"val", "test"} and rec.metrics is rec.all_metrics["test"]
