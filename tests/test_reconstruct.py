"""The one-call workflow: accuracy on MSD, determinism, the Dataset layout, NetCDF round
trip, user data, baselines, and the errors. Tiny budgets (seconds per call)."""
import json

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import xarray as xr

import warp_phys
from warp_phys.io import open_trajectories

# MSD at its default parameters (grey-box prior), initial conditions varied; half the
# default grid to keep the test fast: t in [0, 0.5], 128 steps (~1.5 periods), context 32.
SMALL = dict(n_train=32, n_val=8, n_test=8, t_span=(0.0, 0.5), n_steps=128, context=32,
             epochs=6, batch_size=16, max_time=30.0, progress=False, device="cpu")


@pytest.fixture(scope="module")
def msd():
    return warp_phys.reconstruct(system="msd", seed=0, **SMALL)


def test_msd_grey_box_beats_persistence_10x(msd):
    m = msd.metrics
    # persistence (last context value held) over ~1 period of forecast is O(10) in v^2
    assert m["mse_persistence"] > 1.0
    assert m["mse"] * 10 < m["mse_persistence"], m
    assert m["mse"] * 10 < m["mse_zero"], m
    assert msd.prior_name == "grey_box" and msd.model_name == "warp"
    # both test splits scored (out-of-distribution initial conditions and in-distribution), and the
    # validation split the model was selected on
    assert set(msd.datasets) == {"val", "test", "test_id"}
    assert msd.all_metrics["test_id"]["mse"] * 10 < msd.all_metrics["test_id"]["mse_persistence"]


def test_same_seed_same_metrics(msd):
    again = warp_phys.reconstruct(system="msd", seed=0, **SMALL)
    assert again.metrics == msd.metrics
    np.testing.assert_array_equal(again.dataset["prediction_mean"].values, msd.dataset["prediction_mean"].values)


def test_dataset_layout(msd):
    ds = msd.dataset
    assert ds["state"].dims == ("trajectory", "time", "variable")
    for name in ("state", "prediction_mean", "prediction_std"):
        assert ds[name].dims == ("trajectory", "time", "variable")
        assert np.isfinite(ds[name].values).all()
    assert (ds["prediction_std"].values == 0).all()  # point model: documented zeros
    assert "point predictions" in ds["prediction_std"].attrs["long_name"]
    assert ds["context"].dtype == np.int8 and int(ds["context"].sum()) == 32
    assert ds["context"].values[:32].all() and not ds["context"].values[32:].any()
    for p in ("m", "k", "c"):
        assert ds[p].dims == ("trajectory",)
    for name, var in ds.variables.items():
        assert "units" in var.attrs and "long_name" in var.attrs, name
    assert ds.attrs["Conventions"] == "CF-1.10" and ds.attrs["featureType"] == "trajectory"
    assert ds.attrs["model"] == "warp" and ds.attrs["prior"] == "grey_box" and ds.attrs["seed"] == 0
    assert json.loads(ds.attrs["metrics"]) == msd.metrics
    # truth in the context is exactly the simulated state; the forecast starts after it
    assert set(msd.metrics) >= {"mse", "mae", "mse_x", "mse_v", "mae_x", "mse_persistence", "mse_zero"}
    fc = ds["context"].values == 0
    err = ((ds["prediction_mean"] - ds["state"]) ** 2).values[:, fc].mean()
    assert err == pytest.approx(msd.metrics["mse"], rel=1e-12)


def test_netcdf_round_trip_exact(msd, tmp_path):
    path = tmp_path / "msd.nc"
    msd.to_netcdf(path)
    back = open_trajectories(path)
    xr.testing.assert_identical(back, msd.dataset)


def test_summary_weights_parameters_plot(msd):
    text = msd.summary()
    assert "mse_persistence" in text and "test_id" in text
    w = msd.weights(trajectory=[0, 1])
    assert w.dims == ("trajectory", "time", "weight") and w.shape[:2] == (2, 128)
    assert w.shape[2] == msd.model.weight_size
    # identity transition: theta_t - theta_0 = B (x_t - x_0) lies in a d-dim subspace (d = 2)
    dw = (w.values[0] - w.values[0, :1])
    s = np.linalg.svd(dw, compute_uv=False)
    assert s[2] < 1e-4 * s[0]
    par = msd.parameters(trajectory=0)
    assert set(par.data_vars) == {"m", "k", "c", "m_held", "k_held", "c_held"} and par["k"].dims == ("trajectory", "time")
    assert par["k_held"].dims == ("trajectory",)  # what the forecast holds after the context
    fig = msd.plot(0)
    assert len(fig.axes) == 3  # x, v, and the phase portrait
    with pytest.raises(ValueError, match="out of range"):
        msd.plot(99)


def test_user_data_path_and_errors():
    rng = np.random.default_rng(0)
    t = np.linspace(0.0, 4 * np.pi, 64)
    phase = rng.uniform(0, 2 * np.pi, size=12)
    amp = rng.uniform(0.5, 1.5, size=12)
    x = np.stack([amp[:, None] * np.sin(t + phase[:, None]), amp[:, None] * np.cos(t + phase[:, None])], -1)
    kw = dict(context=16, epochs=3, batch_size=8, progress=False, device="cpu", width=16, depth=1)
    rec = warp_phys.reconstruct(data=x, time=t, **kw)
    assert rec.system is None and rec.prior_name == "increment"  # the user-data default: increment decoding
    assert rec.dataset.sizes["trajectory"] == 2  # 15% of 12, held out
    np.testing.assert_array_equal(rec.dataset["time"].values, t)
    assert np.isfinite(rec.metrics["mse"])
    # the user-data recipe's WARP settings: the subspace memory, the previous observation as input
    assert rec.model.config["prev_obs_input"] is True and rec.model.config["transition"] == "subspace"
    assert rec.model.config["transition_options"] == {"input_scale": 10.0}
    other = warp_phys.reconstruct(data=x, time=t, prior=None, transition="lowrank", **kw)  # the memory's defaults go
    assert other.prior_name is None and other.model.config["transition"] == "lowrank"
    assert other.model.config["transition_options"] in ({}, None)
    gru = warp_phys.reconstruct(data=x, time=t, model="gru", **{**kw, "width": 32})  # recipe's WARP options not passed
    assert gru.dataset["prediction_mean"].shape == rec.dataset["prediction_mean"].shape
    with pytest.raises(ValueError, match=r"different lengths \[40, 64\].*trim them to 40"):
        warp_phys.reconstruct(data=[x[0], x[1, :40]], time=t, **kw)
    bad = x.copy()
    bad[3, 10, 0] = np.nan
    with pytest.raises(ValueError, match="drop or interpolate the NaN steps"):
        warp_phys.reconstruct(data=bad, time=t, **kw)
    with pytest.raises(ValueError, match="uniform time grid"):
        warp_phys.reconstruct(data=x, time=t ** 1.5, **kw)
    with pytest.raises(ValueError, match="time has 63 values"):
        warp_phys.reconstruct(data=x, time=t[:-1], **kw)
    with pytest.raises(ValueError, match="need at least 3"):
        warp_phys.reconstruct(data=x[:2], time=t, **kw)
    with pytest.raises(ValueError, match="shorter than the trajectories"):
        warp_phys.reconstruct(data=x, time=t, **{**kw, "context": 64})


def test_user_data_variable_names_label_the_results(tmp_path):
    t = np.linspace(0.0, 2 * np.pi, 32)
    x = np.stack([np.sin(t + p) for p in np.linspace(0, 3, 10)])[..., None] * np.array([1.0, 2.0])
    kw = dict(context=8, epochs=1, batch_size=8, progress=False, device="cpu", width=8, depth=1)
    rec = warp_phys.reconstruct(data=x, time=t, variables=["position", "velocity"], **kw)
    assert list(rec.dataset["variable"].values) == ["position", "velocity"]
    rec.to_netcdf(tmp_path / "r.nc")
    assert list(warp_phys.open_trajectories(tmp_path / "r.nc")["variable"].values) == ["position", "velocity"]
    assert list(warp_phys.reconstruct(data=x, time=t, **kw).dataset["variable"].values) == ["x0", "x1"]
    for bad in (["position"], ["a", "a"], ["a", ""]):
        with pytest.raises(ValueError, match="2 distinct non-empty strings"):
            warp_phys.reconstruct(data=x, time=t, variables=bad, **kw)
    with pytest.raises(ValueError, match="a system names its own"):
        warp_phys.reconstruct(system="msd", variables=["a", "b"], **kw)


def test_name_errors():
    with pytest.raises(ValueError, match=r"unknown model 'grux'.*gru"):
        warp_phys.reconstruct(system="msd", model="grux")
    with pytest.raises(ValueError, match=r"unknown prior 'gray'.*grey_box"):
        warp_phys.reconstruct(system="msd", prior="gray")
    with pytest.raises(ValueError, match="applies to model='warp' only"):
        warp_phys.reconstruct(system="msd", model="gru", prior="grey_box")
    with pytest.raises(ValueError, match="exactly one of"):
        warp_phys.reconstruct()
    with pytest.raises(ValueError, match="field systems take FieldRecipe"):
        warp_phys.reconstruct(system="navier_stokes_2d", n_train=4)
    with pytest.raises(ValueError, match="unknown option"):
        warp_phys.reconstruct(system="msd", n_trian=3)
    # Trainer settings that reconstruct derives from context= name the argument to use
    for name in ("forecast_context", "val_n_ctx"):
        with pytest.raises(ValueError, match=rf"\['{name}'\]: reconstruct sets these from context=.*context=<steps>"):
            warp_phys.reconstruct(system="lorenz", forecast_weight=1.0, **{name: 100})


def test_baseline_same_layout(msd):
    rec = warp_phys.reconstruct(system="msd", model="gru", seed=0,
                                **{**SMALL, "epochs": 1, "hidden": 8, "layers": 1})
    assert rec.prior_name is None and rec.dataset.attrs["model"] == "gru"
    a, b = rec.dataset, msd.dataset
    assert list(a.data_vars) == list(b.data_vars) and list(a.coords) == list(b.coords)
    for name in a.data_vars:
        assert a[name].dims == b[name].dims and a[name].shape == b[name].shape
    np.testing.assert_array_equal(a["state"].values, b["state"].values)  # same simulated test set
    assert set(rec.metrics) == set(msd.metrics)
    with pytest.raises(ValueError, match="needs a WARP model"):
        rec.weights()
