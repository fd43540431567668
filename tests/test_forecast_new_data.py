"""Reconstruction.forecast on new data, the implausible-forecast flag, and `warp-phys
reconstruct --data FILE`. Tiny budgets: one small user-data run shared by the tests."""
import dataclasses
import json
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
import xarray as xr

import warp_phys
from warp_phys.cli import main
from warp_phys.io import open_trajectories
from warp_phys.pipeline.plausibility import IMPLAUSIBLE_K, implausible, training_band
from warp_phys.validation import InputError


def _sines(n: int = 20, steps: int = 48, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 4, steps)
    x = np.stack([np.stack([np.sin(w * t + p), np.cos(w * t + p)], -1) for w, p in rng.uniform(1, 2, (n, 2))])
    return x, t


@pytest.fixture(scope="module")
def rec():
    x, t = _sines()
    return warp_phys.reconstruct(data=x, time=t, epochs=2, seed=2, progress=False, device="cpu",
                                 variables=["p", "q"])


# ------------------------------------------------------------------ forecast pins correctness
def test_forecast_of_the_test_split_reproduces_its_predictions(rec):
    ds = rec.dataset
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # normal data: no implausible-forecast warning
        out = rec.forecast(ds)
    # same model, same context, same grid: bit-identical forecasts
    np.testing.assert_array_equal(out["prediction_mean"].values, ds["prediction_mean"].values)
    np.testing.assert_array_equal(out["prediction_std"].values, ds["prediction_std"].values)
    np.testing.assert_array_equal(out["state"].values, ds["state"].values)
    np.testing.assert_array_equal(out["context"].values, ds["context"].values)
    # the same layout; the classical forecasts (baseline_mean) belong to the run's own test windows only
    assert list(out.data_vars) == [v for v in ds.data_vars if v != "baseline_mean"]
    assert out["state"].dims == ds["state"].dims
    met, ref = json.loads(out.attrs["metrics"]), rec.metrics
    assert met["mse"] == pytest.approx(ref["mse"], rel=1e-12) and met["mse_p"] == pytest.approx(ref["mse_p"], rel=1e-12)
    assert out.attrs["split"] == "new_data" and out.attrs["model"] == "warp" and out.attrs["context_steps"] == rec.context
    # the same numbers as a plain array with its times
    arr = rec.forecast(ds["state"].values, time=ds["time"].values)
    np.testing.assert_array_equal(arr["prediction_mean"].values, ds["prediction_mean"].values)
    assert list(arr["variable"].values) == ["p", "q"]


def test_forecast_beyond_the_data_equals_the_forecast_over_it(rec):
    x, t = _sines(n=3, seed=5)  # new trajectories
    ctx = rec.context
    full = rec.forecast(x, time=t)
    short = rec.forecast(x[:, :ctx], time=t[:ctx], horizon=t.size - ctx)  # only the context is given
    np.testing.assert_array_equal(short["prediction_mean"].values, full["prediction_mean"].values)
    np.testing.assert_allclose(short["time"].values, t, rtol=0, atol=1e-12)
    assert np.isnan(short["state"].values[:, ctx:]).all() and np.isfinite(short["state"].values[:, :ctx]).all()
    assert short.attrs["metrics"] == "{}" and short.attrs["steps_beyond_given_data"] == t.size - ctx
    assert np.isfinite(json.loads(full.attrs["metrics"])["mse"])
    # the model's time advances by the training step whatever the length: a shorter horizon is a prefix
    part = rec.forecast(x[:, :ctx], time=t[:ctx], horizon=10)
    np.testing.assert_allclose(part["prediction_mean"].values, full["prediction_mean"].values[:, :ctx + 10],
                               rtol=1e-5, atol=1e-6)
    # a longer horizon than the data: 100 steps after the context, times continue with the step
    long = rec.forecast(x[:, :ctx + 4], time=t[:ctx + 4], horizon=100)
    assert long.sizes["time"] == ctx + 100 and int(long["context"].sum()) == ctx
    np.testing.assert_allclose(np.diff(long["time"].values), t[1] - t[0], rtol=1e-9)
    np.testing.assert_array_equal(long["state"].values[:, :ctx + 4], x[:, :ctx + 4])
    assert np.isfinite(long["prediction_mean"].values).all()


# ------------------------------------------------------------------ bad input, before any work
@pytest.mark.parametrize("change, words", [
    (lambda x, t: (x, t * 2), ["time step 0.170213", "training time step 0.0851064", "resample"]),
    (lambda x, t: (x[..., :1], t), ["1 variables", "trained on 2", "['p', 'q']"]),
    (lambda x, t: (x[:, :10], t[:10]), ["context (12 steps) must be shorter than new_data (10 steps)", "horizon="]),
    (lambda x, t: (x[:, :, :, None], t), ["4-D"]),
])
def test_bad_new_data_raises_before_the_model_runs(rec, monkeypatch, change, words):
    monkeypatch.setattr(rec.model, "forecast", lambda *a, **k: pytest.fail("the model ran before the checks"))
    x, t = change(*_sines(n=2, seed=7))
    with pytest.raises(InputError) as err:
        rec.forecast(x, time=t)
    for w in words:
        assert w in str(err.value), (w, str(err.value))


def test_bad_names_context_horizon(rec):
    x, t = _sines(n=2, seed=7)
    ds = xr.Dataset({"state": (("trajectory", "time", "variable"), x)}, coords={"time": t, "variable": ["a", "b"]})
    with pytest.raises(InputError, match=r"\['a', 'b'\] do not match the training variables \['p', 'q'\]"):
        rec.forecast(ds)
    with pytest.raises(InputError, match=r"reorder them with new_data.sel\(variable=\['p', 'q'\]\)"):
        rec.forecast(ds.assign_coords(variable=["q", "p"]))
    with pytest.raises(InputError, match="fewer than context=12"):
        rec.forecast(x[:, :5], time=t[:5], horizon=3)
    with pytest.raises(InputError, match="horizon must be >= 1, got 0"):
        rec.forecast(x, time=t, horizon=0)
    with pytest.raises(InputError, match="context must be >= 1, got 0"):
        rec.forecast(x, time=t, context=0)


# ------------------------------------------------------------------ the implausible flag
def test_band_definition_k_training_std_beyond_the_range():
    train = np.array([[[0.0], [1.0], [2.0], [3.0]]])  # range [0, 3], std 1.118
    band = training_band(train)
    s = float(np.std(train))
    assert band.low[0] == 0.0 and band.high[0] == 3.0 and band.scale[0] == pytest.approx(s, rel=1e-12)
    ctx = np.array([1, 0])
    truth = np.zeros((4, 2, 1))
    edge = 3.0 + IMPLAUSIBLE_K * s
    mean = np.array([[[0.0], [edge * (1 - 1e-9)]], [[0.0], [edge * (1 + 1e-9)]], [[0.0], [np.nan]],
                     [[0.0], [-IMPLAUSIBLE_K * s * (1 - 1e-9)]]])
    flag, non_finite = implausible(truth, mean, ctx, band)
    assert flag.tolist() == [False, True, True, False] and non_finite.tolist() == [False, False, True, False]
    # a context outside the training range widens that trajectory's band
    truth[1, 0, 0] = 100.0
    assert not implausible(truth, mean, ctx, band)[0][1]


def _planted(rec, monkeypatch, value: float, row: int = 1):
    real = rec.model.forecast

    def blown(x_ctx, tau):
        pred = real(x_ctx, tau)
        mean = pred.mean.clone()
        mean[row, x_ctx.shape[1]:] = value
        return pred._replace(mean=mean)

    monkeypatch.setattr(rec.model, "forecast", blown)


def test_flag_fires_on_a_planted_blow_up_only(rec, monkeypatch):
    assert rec.dataset["implausible"].dtype == bool and not rec.dataset["implausible"].values.any()
    assert rec.dataset.attrs["implausible_count"] == 0
    _planted(rec, monkeypatch, 1e30)
    with pytest.warns(RuntimeWarning, match=r"1 of 3 new-data forecasts are implausible \(all finite"):
        out = rec.forecast(rec.dataset)
    assert out["implausible"].values.tolist() == [False, True, False] and out.attrs["implausible_count"] == 1
    assert np.abs(out["prediction_mean"].values[1, rec.context:]).min() > 1e28  # not clipped
    np.testing.assert_array_equal(out["prediction_mean"].values[[0, 2]], rec.dataset["prediction_mean"].values[[0, 2]])


def test_non_finite_forecasts_stay_visible_and_are_counted(rec, monkeypatch):
    _planted(rec, monkeypatch, float("nan"), row=0)
    with pytest.warns(RuntimeWarning, match=r"1 of 3 new-data forecasts are implausible \(1 with non-finite"):
        out = rec.forecast(rec.dataset)
    assert np.isnan(out["prediction_mean"].values[0, rec.context:]).all()
    assert out["implausible"].values.tolist() == [True, False, False]
    assert np.isnan(json.loads(out.attrs["metrics"])["mse"])


def test_reconstruct_output_is_flagged_by_the_results_builder(rec):
    ds = rec.dataset.drop_vars("implausible")
    mean = ds["prediction_mean"].values.copy()
    mean[2, -1, 0] = 1e6  # one finite runaway step
    ds["prediction_mean"] = (ds["prediction_mean"].dims, mean, ds["prediction_mean"].attrs)
    with pytest.warns(RuntimeWarning, match=r"1 of 3 'test' forecasts are implausible"):
        other = dataclasses.replace(rec, dataset=ds, datasets={"test": ds})
    assert other.dataset["implausible"].values.tolist() == [False, False, True]
    assert "implausible forecasts" in other.summary() and "1 of 3 test" in other.summary()
    assert "implausible forecasts" not in rec.summary()
    attrs = rec.dataset["implausible"].attrs
    assert attrs["units"] == "1" and "k = 10 training standard deviations" in attrs["long_name"]


# ------------------------------------------------------------------ the CLI on a data file
def _write_csv(path, x, t, keyed=True):
    lines = ["# two variables", ("trajectory,time,p,q" if keyed else "time,p,q")]
    for n in range(x.shape[0] if keyed else 1):
        lines += [(f"{n}," if keyed else "") + f"{float(t[i])!r},{float(x[n, i, 0])!r},{float(x[n, i, 1])!r}" for i in range(t.size)]
    path.write_text("\n".join(lines) + "\n")


def _check_output(out, n_steps):
    ds = open_trajectories(out)
    assert {"state", "prediction_mean", "context", "implausible"} <= set(ds.data_vars)
    metrics = json.loads(ds.attrs["metrics"])
    assert np.isfinite(metrics["mse"]) and ds.sizes["time"] == n_steps
    return ds


def test_cli_data_csv_and_netcdf(tmp_path, capsys):
    x, t = _sines(n=10, steps=32)
    csv_path, nc_path = tmp_path / "traj.csv", tmp_path / "traj.nc"
    _write_csv(csv_path, x, t)
    xr.Dataset({"state": (("trajectory", "time", "variable"), x)},
               coords={"time": t, "variable": ["p", "q"]}).to_netcdf(nc_path)  # plain xarray, no checksums
    for src in (csv_path, nc_path):
        out = tmp_path / f"{src.stem}_{src.suffix[1:]}_out.nc"
        rc = main(["reconstruct", "--data", str(src), "-o", str(out), "--model", "persistence", "--epochs", "1",
                   "--context", "8", "--device", "cpu", "--quiet"])
        assert rc == 0, capsys.readouterr().err
        ds = _check_output(out, 32)
        assert list(ds["variable"].values) == ["p", "q"] and ds.attrs["system"] == "user data"
        assert "mse_persistence" in capsys.readouterr().out


def _series_cli(tmp_path, capsys, *flags: str):
    """`warp-phys reconstruct --data <one 400-step series as CSV> --window 40 <flags>`: the written Dataset."""
    x, t = _sines(n=1, steps=400)
    path, out = tmp_path / "series.csv", tmp_path / "series_out.nc"
    _write_csv(path, x, t, keyed=False)
    rc = main(["reconstruct", "--data", str(path), "-o", str(out), "--window", "40", "--device", "cpu", "--quiet",
               *flags])
    assert rc == 0, capsys.readouterr().err
    return _check_output(out, 40)


def test_cli_data_one_series_with_window(tmp_path, capsys):
    _series_cli(tmp_path, capsys, "--model", "persistence", "--epochs", "1")


def test_cli_split_by_forecast_reaches_the_series_plan(tmp_path, capsys):
    ds = _series_cli(tmp_path, capsys, "--model", "persistence", "--split-by", "forecast")
    info = json.loads(ds.attrs["series"])
    # test block 340..399, context 10 (a quarter of the window): forecast origins 340..370, windows from 330
    assert info["split_by"] == "forecast" and info["n_windows"]["test"] == 31 == ds.sizes["trajectory"]
    assert int(ds["window_start_index"].values[0]) == 330


def test_cli_ensemble_writes_the_mean_of_the_seeds_runs(tmp_path, capsys):
    ds = _series_cli(tmp_path, capsys, "--epochs", "1", "--ensemble", "2", "--seed", "3")
    text = capsys.readouterr().out
    assert ds.attrs["ensemble_size"] == 2 and [m["seed"] for m in json.loads(ds.attrs["members"])] == [3, 4]
    assert "seed 3:" in text and "seed 4:" in text and f"{json.loads(ds.attrs['metrics'])['mse']:.4g}" in text
    assert "coverage_2std: fraction of forecast values within" in text  # the band's check, explained
    single = _series_cli(tmp_path, capsys, "--epochs", "1", "--seed", "3")
    assert not np.array_equal(ds["prediction_mean"].values, single["prediction_mean"].values)
    after = ~ds["context"].values.astype(bool)
    assert (ds["prediction_std"].values[:, after] > 0).all()  # the members' spread (WARP is a point model)


def test_cli_calibrate_scales_a_systems_ensemble_band_on_validation(tmp_path, capsys):
    def ensemble_file(name: str, *flags: str):
        out = tmp_path / name
        rc = main(["reconstruct", "msd", "-o", str(out), "--n-train", "8", "--epochs", "1", "--ensemble", "2",
                   "--device", "cpu", "--quiet", *flags])
        assert rc == 0, capsys.readouterr().err
        return open_trajectories(out)

    raw, calibrated = ensemble_file("raw.nc"), ensemble_file("calibrated.nc", "--calibrate")
    scale = calibrated.attrs["std_scale"]
    assert scale > 0 and "std_scale" not in raw.attrs
    np.testing.assert_allclose(calibrated["prediction_std"].values, scale * raw["prediction_std"].values, rtol=1e-6)
    np.testing.assert_array_equal(calibrated["prediction_mean"].values, raw["prediction_mean"].values)
    rc = main(["reconstruct", "msd", "-o", str(tmp_path / "y.nc"), "--calibrate", "--quiet"])
    assert rc == 2 and "--ensemble" in capsys.readouterr().err and not (tmp_path / "y.nc").exists()


def test_cli_ensemble_of_one_is_refused(tmp_path, capsys):
    rc = main(["reconstruct", "msd", "-o", str(tmp_path / "x.nc"), "--ensemble", "1", "--quiet"])
    assert rc == 2 and "--ensemble" in capsys.readouterr().err
    assert not (tmp_path / "x.nc").exists()


def test_cli_phases_reach_the_series_model(tmp_path, capsys):
    ds = _series_cli(tmp_path, capsys, "--model", "gru", "--epochs", "1", "--phases", "25", "7.5")
    assert "25" in ds.attrs["known_inputs"] and "7.5" in ds.attrs["known_inputs"]


@pytest.mark.parametrize("argv, words", [
    (["msd", "--data", "{csv}"], ["either a SYSTEM ('msd') or --data", "not both"]),
    ([], ["give a SYSTEM name", "--data FILE"]),
    (["--data", "{dir}/missing.csv"], ["--data: no such file", "missing.csv"]),
    (["--data", "{csv}", "--n-train", "5"], ["--n-train describe simulated systems", "drop them"]),
    (["msd", "--window", "10"], ["--window cuts one measured series", "drop --window"]),
    (["msd", "--split-by", "forecast"], ["--split-by says how the windows", "drop --split-by"]),
    (["msd", "--phases", "12"], ["--phases are known inputs of one measured series", "drop --phases"]),
    (["--data", "{series}"], ["holds one series", "--window STEPS"]),
    (["--data", "{csv}", "--window", "10"], ["already holds 3 trajectories", "drop it"]),
    (["--data", "{bad}"], ["line 3", "'oops', not a number"]),
    (["--data", "{dir}/notes.txt"], ["suffix '.txt'", ".csv"]),
])
def test_cli_data_errors_before_any_work(tmp_path, capsys, argv, words):
    x, t = _sines(n=3, steps=10)
    _write_csv(tmp_path / "ok.csv", x, t)
    _write_csv(tmp_path / "series.csv", x, t, keyed=False)
    (tmp_path / "bad.csv").write_text("time,p\n0,1\n1,oops\n")
    (tmp_path / "notes.txt").write_text("time,p\n0,1\n")
    names = {"csv": tmp_path / "ok.csv", "series": tmp_path / "series.csv", "bad": tmp_path / "bad.csv",
             "dir": tmp_path}
    argv = [a.format(**names) for a in argv]
    rc = main(["reconstruct", *argv, "-o", str(tmp_path / "out.nc"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("warp-phys reconstruct: error:"), err
    for w in words:
        assert w in err, (w, err)
    assert not (tmp_path / "out.nc").exists()
