"""One long measured series in, an honest forecast out (`warp_phys.pipeline.series`).

The chronological split never lets a validation or test step into a training window; a
sine + noise record gives finite metrics and a forecast beyond the record's end whose time
axis continues the record's; dates stay dates through the Dataset, NetCDF and the plot; NaN,
irregular steps and bad window settings fail with an InputError before any work."""
from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import xarray as xr

import warp_phys
from warp_phys.io import open_trajectories
from warp_phys.pipeline import sources
from warp_phys.pipeline.series import plan_windows, read_series
from warp_phys.validation import InputError

RNG = np.random.default_rng(0)
N_STEPS = 300
T = np.arange(N_STEPS) * 0.1
X = np.sin(T) + 0.05 * RNG.standard_normal(N_STEPS)
DATES = np.datetime64("2021-03-01T00:00") + np.arange(N_STEPS) * np.timedelta64(1, "h")
FAST = dict(progress=False, device="cpu")


# `guarded` (tests/conftest.py): any simulation, windowing or training fails the test.

# ---- the chronological split -------------------------------------------------------------
@pytest.mark.parametrize("n_steps, window, stride, gap, split", [
    (100, 10, 1, 0, None),
    (100, 10, 3, 0, None),
    (100, 10, 1, 4, None),
    (257, 20, 7, 3, (0.6, 0.2, 0.2)),
    (400, 40, 40, 0, (0.5, 0.25, 0.25)),
    (90, 9, 2, 1, (1, 1, 1)),
])
def test_no_window_straddles_blocks(n_steps, window, stride, gap, split):
    plan = plan_windows(n_steps, 1, window=window, stride=stride, gap=gap, split=split)
    record = read_series(np.arange(n_steps, dtype=float), np.arange(n_steps) * 0.5)
    sp = sources.series_splits(record, plan)
    steps = {name: ds["state"].values[..., 0].astype(int) for name, ds in
             (("train", sp.train), ("val", sp.val), ("test", sp.tests["test"]))}
    for name, idx in steps.items():
        lo, hi = plan.blocks[name]
        assert idx.shape[1] == window and idx.shape[0] >= 1
        assert idx.min() >= lo and idx.max() < hi, (name, lo, hi)  # wholly inside its block
        np.testing.assert_array_equal(idx[:, 0], plan.starts[name])
        np.testing.assert_array_equal(np.diff(idx[:, 0]), stride)
    # train on the past, validate on the next block, test on the last: disjoint, gap steps apart
    assert steps["train"].max() + gap < steps["val"].min()
    assert steps["val"].max() + gap < steps["test"].min()
    assert plan.blocks["test"][1] == n_steps and plan.blocks["train"][0] == 0
    assert set(steps["test"].ravel()).isdisjoint(steps["train"].ravel())
    assert set(steps["val"].ravel()).isdisjoint(steps["train"].ravel())


@pytest.mark.parametrize("n_steps, window, context, stride, gap, split", [
    (100, 10, 4, 1, 0, None),
    (100, 10, 7, 3, 2, None),
    (309, 44, 33, 1, 0, (0.6, 0.2, 0.2)),
    (257, 20, 5, 7, 3, (0.6, 0.2, 0.2)),
    (90, 9, 8, 2, 1, (1, 1, 1)),
])
def test_split_by_forecast_scores_every_origin_and_never_a_trained_step(n_steps, window, context, stride, gap, split):
    plan = plan_windows(n_steps, 1, window=window, context=context, stride=stride, gap=gap, split=split,
                        split_by="forecast")
    record = read_series(np.arange(n_steps, dtype=float), np.arange(n_steps) * 0.5)
    sp = sources.series_splits(record, plan)
    steps = {name: ds["state"].values[..., 0].astype(int) for name, ds in
             (("train", sp.train), ("val", sp.val), ("test", sp.tests["test"]))}
    by_window = plan_windows(n_steps, 1, window=window, context=context, stride=stride, gap=gap, split=split)
    assert plan.blocks == by_window.blocks
    np.testing.assert_array_equal(plan.starts["train"], by_window.starts["train"])  # training is unchanged
    lo, hi = plan.blocks["train"]
    assert steps["train"].min() >= lo and steps["train"].max() < hi
    trained = set(steps["train"].ravel())
    for name in ("val", "test"):
        lo, hi = plan.blocks[name]
        forecast, ctx = steps[name][:, context:], steps[name][:, :context]
        assert forecast.min() >= lo and forecast.max() < hi, (name, lo, hi)  # forecast steps inside the block
        assert ctx.min() >= lo - context  # the context reads at most `context` steps before the block
        assert trained.isdisjoint(forecast.ravel())  # no scored step was ever trained on
        np.testing.assert_array_equal(np.diff(steps[name][:, 0]), stride)
        if stride == 1:  # every forecast origin of the block: B - (window - context) + 1 windows
            assert len(forecast) == (hi - lo) - (window - context) + 1
            assert forecast[0, 0] == lo and forecast[-1, -1] == hi - 1
        assert len(forecast) >= by_window.starts[name].size
    assert set(steps["test"][:, context:].ravel()).isdisjoint(steps["val"][:, context:].ravel())
    # the gap steps are neither trained on nor scored
    gaps = set(range(plan.blocks["train"][1], plan.blocks["val"][0])) | set(
        range(plan.blocks["val"][1], plan.blocks["test"][0]))
    assert gaps.isdisjoint(trained)
    assert all(gaps.isdisjoint(steps[k][:, context:].ravel()) for k in ("val", "test"))


def test_split_by_forecast_needs_only_the_forecast_steps_in_a_block():
    # 100 steps split 80/10/10: a block of 10 steps cannot hold a window of 12, but holds its 5 forecast steps
    with pytest.raises(InputError, match="fewer than one window of 12 steps"):
        plan_windows(100, 1, window=12, context=7, split=(0.8, 0.1, 0.1))
    plan = plan_windows(100, 1, window=12, context=7, split=(0.8, 0.1, 0.1), split_by="forecast")
    assert [plan.starts[k].size for k in ("val", "test")] == [6, 6]
    with pytest.raises(InputError, match="fewer than the 5 forecast steps of one window"):
        plan_windows(100, 1, window=12, context=7, split=(0.88, 0.08, 0.04), split_by="forecast")


def test_default_blocks_are_70_15_15_of_the_steps():
    plan = plan_windows(100, 2, window=10)
    assert plan.blocks == {"train": (0, 70), "val": (70, 85), "test": (85, 100)}
    assert [plan.starts[k].size for k in ("train", "val", "test")] == [61, 6, 6]
    assert (plan.context, plan.horizon, plan.stride, plan.gap) == (2, 8, 1, 0)
    plan = plan_windows(100, 2, window=10, gap=4)
    assert plan.blocks == {"train": (0, 66), "val": (70, 81), "test": (85, 100)}
    assert plan_windows(100, 1, window=10, horizon=3).context == 7


# ---- end to end --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sine():
    kw = dict(data=X, time=T, window=40, context=24, model="gru", epochs=1, stride=4, seed=3, **FAST)
    return warp_phys.reconstruct(**kw), warp_phys.reconstruct(**kw)


def test_sine_series_end_to_end(sine):
    rec, again = sine
    assert np.isfinite(rec.metrics["mse"]) and np.isfinite(rec.metrics["mse_persistence"])
    assert rec.metrics == again.metrics  # same seed, same numbers
    ds = rec.dataset
    assert (ds.sizes["trajectory"], ds.sizes["time"]) == (2, 40)  # test block 255..299, windows at 255, 259
    np.testing.assert_array_equal(ds["window_start_index"].values, [255, 259])
    np.testing.assert_allclose(ds["record_time"].values, T[ds["window_start_index"].values[:, None] + np.arange(40)])
    info = json.loads(ds.attrs["series"])
    assert info["blocks"] == {"train": [0, 210], "val": [210, 255], "test": [255, 300]}
    assert rec.context == 24 and rec.horizon == 16


def test_split_by_forecast_end_to_end():
    kw = dict(data=X, time=T, window=40, context=24, model="persistence", stride=4, **FAST)
    by_window = warp_phys.reconstruct(**kw)
    rec = warp_phys.reconstruct(split_by="forecast", **kw)
    starts = rec.dataset["window_start_index"].values
    np.testing.assert_array_equal(starts, np.arange(255 - 24, 300 - 40 + 1, 4))  # forecasts from step 255 on
    assert rec.dataset.sizes["trajectory"] == 8 > by_window.dataset.sizes["trajectory"] == 2
    info = json.loads(rec.dataset.attrs["series"])
    assert info["split_by"] == "forecast" and info["n_windows"]["test"] == 8
    assert "whose forecast steps (from step 24 on) lie inside steps 255..299" in rec.dataset.attrs["split_description"]
    # persistence holds each window's last context value: the score is computable by hand
    truth = X[starts[:, None] + np.arange(24, 40)]
    held = X[starts + 23][:, None]
    np.testing.assert_allclose(rec.metrics["mse"], ((truth - held) ** 2).mean(), rtol=1e-5)


def test_future_forecast_continues_the_record(sine):
    rec, again = sine
    fut = rec.datasets["future"]
    assert (fut.sizes["trajectory"], fut.sizes["time"]) == (1, 24 + 16)
    rt = fut["record_time"].values[0]
    np.testing.assert_allclose(rt[:24], T[-24:])  # the record's last context steps
    np.testing.assert_allclose(rt[24:], T[-1] + 0.1 * np.arange(1, 17), rtol=1e-12)  # then beyond its end
    np.testing.assert_array_equal(fut["state"].values[0, :24, 0], X[-24:])
    assert np.isnan(fut["state"].values[0, 24:]).all()
    assert np.isfinite(fut["prediction_mean"].values).all()
    assert fut["context"].values.sum() == 24 and fut.attrs["split"] == "future"
    np.testing.assert_array_equal(fut["prediction_mean"].values, again.datasets["future"]["prediction_mean"].values)
    assert "future" not in rec.all_metrics


def test_persistence_future_holds_the_last_value():
    rec = warp_phys.reconstruct(data=X, time=T, window=30, context=10, horizon=5, model="persistence", **FAST)
    fut = rec.datasets["future"]
    assert fut.sizes["time"] == 15
    np.testing.assert_array_equal(fut["prediction_mean"].values[0, 10:, 0], np.full(5, X[-1]))


# ---- dates ------------------------------------------------------------------------------
def test_dates_stay_dates_through_netcdf_and_plot(tmp_path):
    x2 = np.stack([X, np.cos(T)], -1)
    rec = warp_phys.reconstruct(data=x2, time=DATES, window=40, stride=6, model="persistence",
                                variables=["a", "b"], **FAST)
    ds, fut = rec.dataset, rec.datasets["future"]
    assert ds["record_time"].dtype.kind == "M" and ds["window_start"].dtype.kind == "M"
    np.testing.assert_array_equal(ds["window_start"].values, DATES[ds["window_start_index"].values])
    assert ds["time"].attrs["units"] == "s" and float(ds["time"].values[1]) == 3600.0  # the model's time: seconds
    assert fut["record_time"].values[0, 9] == DATES[-1]  # context 10 = 40 // 4, then 30 steps beyond
    assert fut["record_time"].values[0, 10] == DATES[-1] + np.timedelta64(1, "h")
    assert fut["record_time"].values[0, -1] == DATES[-1] + np.timedelta64(30, "h")
    for split in ("test", "future"):
        path = tmp_path / f"{split}.nc"
        rec.to_netcdf(path, split=split)
        back = open_trajectories(path)
        assert back["record_time"].dtype.kind == "M"
        assert back.identical(rec.datasets[split])
    fig = rec.plot(split="future")
    assert fig.axes[1].get_xlabel() == "date"
    assert "beyond the end of the record" in fig._suptitle.get_text()


def test_pandas_datetime_index():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"level": X}, index=pd.date_range("2020-01-01", periods=N_STEPS, freq="D"))
    rec = warp_phys.reconstruct(data=frame, window=20, model="persistence", **FAST)
    assert list(rec.dataset["variable"].values) == ["level"]
    last = np.datetime64("2020-01-01") + np.timedelta64(N_STEPS - 1, "D")
    fut = rec.datasets["future"]["record_time"].values[0]
    assert fut[5] == last + np.timedelta64(1, "D") and fut[-1] == last + np.timedelta64(15, "D")
    with pytest.raises(InputError, match="time zone"):
        read_series(frame.tz_localize("UTC"))


# ---- NaN and irregular steps --------------------------------------------------------------
def test_nan_refused_or_filled(guarded):
    bad = X.copy()
    bad[[7, 8, 40]] = np.nan
    with pytest.raises(InputError, match=r"3 NaN values \(first at time step 7.*interpolate.*fill='linear'"):
        warp_phys.reconstruct(data=bad, time=T, window=20, **FAST)
    rec = read_series(bad, T, fill="linear")
    assert rec.n_filled == 3
    np.testing.assert_allclose(rec.values[7:9, 0], X[6] + (X[9] - X[6]) * np.array([1, 2]) / 3)
    bad[-2:] = np.nan
    with pytest.raises(InputError, match="last 2 steps.*trim"):
        read_series(bad, T, fill="linear")
    bad[:3] = np.nan
    with pytest.raises(InputError, match="first 3 steps.*trim"):
        read_series(bad, T, fill="linear")
    with pytest.raises(InputError, match="fill must be None"):
        read_series(X, T, fill="cubic")


@pytest.mark.parametrize("time, words", [
    (np.delete(DATES, 12)[:N_STEPS - 1], ["not regular", "index 12", "resample"]),
    (np.where(np.arange(N_STEPS) > 30, T + 0.05, T), ["not regular", "index 31", "resample"]),
    (np.where(np.arange(N_STEPS) == 5, T[4], T), ["strictly increasing", "index 5"]),
    (np.where(np.arange(N_STEPS) == 9, np.datetime64("NaT"), DATES), ["NaT", "index 9"]),
    (None, ["time is required"]),
])
def test_irregular_time_refused(guarded, time, words):
    data = X if time is None or len(time) == N_STEPS else X[:-1]
    with pytest.raises(InputError) as err:
        warp_phys.reconstruct(data=data, time=time, window=20, **FAST)
    for w in words:
        assert w in str(err.value), (w, str(err.value))


# ---- bad window settings: InputError before any work ---------------------------------------
@pytest.mark.parametrize("kw, words", [
    (dict(window=301), ["window (301 steps)", "longer than the record (300"]),
    (dict(window=1), ["window", ">= 2"]),
    (dict(window=20.5), ["window", "20.5"]),
    (dict(window=20, context=20), ["context (20 steps)", "shorter than the window", "context <= 19"]),
    (dict(window=20, context=15, horizon=10), ["context (15) + horizon (10)", "window=25"]),
    (dict(window=20, horizon=20), ["leaves no context", "horizon <= 19"]),
    (dict(window=20, stride=0), ["stride", ">= 1"]),
    (dict(window=20, gap=-1), ["gap", ">= 0"]),
    (dict(window=20, split=(0.7, 0.3)), ["split", "three positive fractions"]),
    (dict(window=20, split=(0.9, 0.05, 0.05)), ["val block holds 15 steps", "window of 20", "split="]),
    (dict(window=40, gap=10), ["val block holds 35 steps", "gap="]),
    (dict(window=20, fill="zero"), ["fill must be None", "'linear'"]),
    (dict(window=20, split_by="context"), ["split_by must be 'window'", "'forecast'", "'context'"]),
    (dict(split_by="forecast"), ["['split_by']", "window="]),
    (dict(stride=2), ["['stride']", "window="]),
    (dict(window=20, data=X[None, :, None]), ["(trajectory, time, variable)", "drop window="]),
    (dict(window=20, n_train=4), ["n_train", "drop them"]),
    (dict(window=20, protocol="paper"), ["protocol", "system="]),
])
def test_bad_window_settings(guarded, kw, words):
    kw = {"data": X, "time": T, **FAST, **kw}
    with pytest.raises(InputError) as err:
        warp_phys.reconstruct(**kw)
    for w in words:
        assert w in str(err.value), (w, str(err.value))


def test_series_arguments_need_a_series(guarded):
    with pytest.raises(InputError, match=r"\['gap', 'split'\].*data=<series> with window="):
        warp_phys.reconstruct(system="lorenz", gap=2, split=(0.5, 0.25, 0.25), **FAST)
    with pytest.raises(InputError, match=r"\(300, 2\) \(2-D\).*window=<steps>.*data\[None\]"):
        warp_phys.reconstruct(data=np.stack([X, X], -1), time=T, **FAST)
    with pytest.raises(InputError, match=r"\(300,\) \(1-D\).*window="):
        warp_phys.reconstruct(data=X, time=T, **FAST)


def test_series_dataset_input():
    ds = xr.Dataset({"state": (("time",), X)}, coords={"time": ("time", T, {"units": "s"})})
    record = read_series(ds)
    assert record.names == ["x0"] and record.time.units == "s" and record.time.step_value == pytest.approx(0.1)
    with pytest.raises(InputError, match="own 'time' coordinate"):
        read_series(ds, T)
    traj = xr.Dataset({"state": (("trajectory", "time", "variable"), X[None, :, None])}, coords={"time": T})
    with pytest.raises(InputError, match=r"isel\(trajectory=0\)"):
        read_series(traj)


# ---- calendar steps: monthly and yearly records ----------------------------------------------
MONTHS = np.arange("1990-01", "2015-01", dtype="M8[M]").astype("M8[ns]")  # 300 month starts (28-31 days apart)


def test_calendar_steps_read_as_whole_months_and_years():
    months = read_series(X, MONTHS).time
    assert months.units == "months" and months.step == np.timedelta64(1, "M") and months.step_value == 1.0
    # continuing the record adds calendar months: Dec 2014 + 1 is Jan 2015, + 14 is Feb 2016
    np.testing.assert_array_equal(months.at(np.array([299, 300, 313])),
                                  np.array(["2014-12-01", "2015-01-01", "2016-02-01"], dtype="M8[s]"))
    years = read_series(X[:50], np.arange("1700", "1750", dtype="M8[Y]")).time
    assert years.units == "years" and years.step == np.timedelta64(1, "Y")
    np.testing.assert_array_equal(years.at(np.array([50])), np.array(["1750-01-01"], dtype="M8[s]"))
    quarters = read_series(X[:40], MONTHS[::3][:40]).time
    assert quarters.step == np.timedelta64(3, "M") and quarters.step_value == 3.0


def test_month_end_dates_are_refused_with_the_fix():
    month_ends = (MONTHS[1:31].astype("M8[D]") - np.timedelta64(1, "D"))  # 31, 28, 31, 30 days apart
    with pytest.raises(InputError, match=r"not regular.*first of its month.*to_period\('M'\)"):
        read_series(X[:30], month_ends)


def test_monthly_record_end_to_end_keeps_calendar_dates(tmp_path):
    rec = warp_phys.reconstruct(data=X, time=MONTHS, window=24, context=18, epochs=1, **FAST)
    future = rec.datasets["future"]
    last = future["record_time"].values[0]
    # the forecast continues the record month by month: 18 observed months up to Dec 2014, then 6 ahead
    np.testing.assert_array_equal(last[17:], np.array(["2014-12-01", "2015-01-01", "2015-02-01", "2015-03-01",
                                                       "2015-04-01", "2015-05-01", "2015-06-01"], dtype="M8[ns]"))
    assert rec.dataset["time"].attrs["units"] == "months"
    path = tmp_path / "monthly.nc"
    rec.to_netcdf(path)
    back = open_trajectories(path)
    np.testing.assert_array_equal(back["record_time"].values, rec.dataset["record_time"].values)
