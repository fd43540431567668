"""Training from data larger than memory (`warp_phys.streaming`, `warp_phys.pipeline.streamed`).

``reconstruct(data="x.zarr")`` (and a list of NetCDF files, and an open dask-backed Dataset)
streams batches from disk and gives the metrics of the in-memory run on the same data and seed;
the one-pass scaler equals `fit_scaler`; a batch reads only its own trajectories; a bad path is
an InputError before any work."""
from __future__ import annotations

import json

import dask.array as dsa
import numpy as np
import pytest
import torch
import xarray as xr

import warp_phys as wp
from warp_phys.cli import main
from warp_phys.data import fit_scaler
from warp_phys.model import WARP
from warp_phys.pipeline.plausibility import training_band
from warp_phys.pipeline.streamed import StreamEncoder
from warp_phys.streaming import RunningMoments, TrajectorySource, moments_of, scaler_from
from warp_phys.training import Trainer
from warp_phys.validation import InputError

RUN = dict(model="warp", epochs=3, lr=1e-3, seed=0, device="cpu", progress=False)


def oscillators(n: int, steps: int = 40, seed: int = 1) -> xr.Dataset:
    """n damped oscillators (x, v, and a slow drift w) on 0..4, float32, like a simulated store."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 4.0, steps)
    w, c, ph = rng.uniform(2, 5, (n, 1)), rng.uniform(0.05, 0.3, (n, 1)), rng.uniform(0, 6.3, (n, 1))
    e = np.exp(-c * t)
    state = np.stack([e * np.cos(w * t + ph), e * np.sin(w * t + ph), 10.0 + 0.1 * t * w], -1).astype(np.float32)
    return xr.Dataset({"state": (("trajectory", "time", "variable"), state)},
                      coords={"trajectory": np.arange(n), "time": t, "variable": ["x", "v", "w"]})


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A small Zarr store (format 2, consolidated, as `simulate_to_zarr` writes; 5 trajectories per
    chunk): 45 trajectories of 40 steps, 3 variables."""
    path = tmp_path_factory.mktemp("stream") / "osc.zarr"
    oscillators(45).chunk({"trajectory": 5}).to_zarr(path, zarr_format=2, consolidated=True)
    return path


@pytest.fixture(scope="module")
def in_memory(store):
    return wp.reconstruct(data=xr.open_zarr(store).load(), **RUN)


def _same_run(a, b):
    """Everything the streamed run scores equals the in-memory run (the classical baselines are left out)."""
    assert set(b.metrics) < set(a.metrics) and "mse" in b.metrics and "ar_mse" not in b.metrics
    for k, v in b.metrics.items():
        np.testing.assert_allclose(v, a.metrics[k], rtol=1e-6, err_msg=k)
    assert np.isfinite(a.history.val_loss).all()
    np.testing.assert_allclose(b.history.val_loss, a.history.val_loss, rtol=1e-6)
    np.testing.assert_allclose(b.dataset["prediction_mean"].values, a.dataset["prediction_mean"].values,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(b.dataset["truth"].values if "truth" in b.dataset else b.dataset["state"].values,
                                  a.dataset["truth"].values if "truth" in a.dataset else a.dataset["state"].values)


def test_streamed_zarr_path_gives_the_in_memory_metrics(store, in_memory):
    streamed = wp.reconstruct(data=str(store), **RUN)
    _same_run(in_memory, streamed)
    assert streamed.dataset.attrs["data_access"].startswith("streamed")
    assert streamed.dataset.attrs["test_trajectories_scored"] == f"{in_memory.dataset.sizes['trajectory']} of 7"
    opened = wp.reconstruct(data=xr.open_zarr(store), **RUN)  # an open dask-backed Dataset is streamed too
    assert opened.metrics == streamed.metrics


def test_streamed_netcdf_files_and_the_test_cap(store, in_memory, tmp_path):
    ds = xr.open_zarr(store)[["state"]].load()
    paths = [tmp_path / "a.nc", tmp_path / "b.nc"]
    ds.isel(trajectory=slice(0, 20)).to_netcdf(paths[0])
    ds.isel(trajectory=slice(20, None)).to_netcdf(paths[1])
    _same_run(in_memory, wp.reconstruct(data=paths, **RUN))  # several files: open_mfdataset (dask)
    ds.to_netcdf(tmp_path / "all.nc")
    _same_run(in_memory, wp.reconstruct(data=tmp_path / "all.nc", **RUN))  # one file: lazy, without dask
    _same_run(in_memory, wp.reconstruct(data=str(tmp_path / "[ab].nc"), **RUN))
    capped = wp.reconstruct(data=str(store), max_test_trajectories=3, **RUN)
    assert capped.dataset.sizes["trajectory"] == 3 and capped.dataset.attrs["test_trajectories_scored"] == "3 of 7"
    np.testing.assert_array_equal(capped.dataset["trajectory"].values, in_memory.dataset["trajectory"].values[:3])


def test_one_pass_scaler_equals_the_in_memory_scaler():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(37, 11, 4)) * np.array([1e-3, 1.0, 50.0, 0.0]) + np.array([5.0, -2.0, 1e3, 7.0])
    src = TrajectorySource(xr.DataArray(dsa.from_array(a, chunks=(5, 11, 4)), dims=("trajectory", "time", "variable")))
    cast, raw = moments_of(src, block=6)  # uneven blocks: 6, 6, ..., 1
    ref = fit_scaler(torch.as_tensor(a, dtype=torch.float32))
    got = scaler_from(cast)
    np.testing.assert_allclose(got.loc.numpy(), ref.loc.numpy(), rtol=1e-6)
    np.testing.assert_allclose(got.scale.numpy(), ref.scale.numpy(), rtol=1e-5)
    assert got.scale[3] == 1.0 and ref.scale[3] == 1.0  # a constant variable keeps scale 1
    flat = a.reshape(-1, 4)
    np.testing.assert_allclose(raw.mean, flat.mean(0), rtol=1e-12)
    np.testing.assert_allclose(raw.std, flat.std(0), rtol=1e-9, atol=1e-15)
    band = training_band(a)
    np.testing.assert_array_equal(raw.low, band.low)
    np.testing.assert_array_equal(raw.high, band.high)
    assert src.reads == 37  # one pass: every trajectory read once
    assert RunningMoments(2).update(np.ones((0, 2))).count == 0


class _Counting:
    """An array that records the trajectory rows of every read."""

    def __init__(self, a):
        self.a, self.shape, self.dtype, self.ndim, self.rows = a, a.shape, a.dtype, a.ndim, []

    def __getitem__(self, key):
        out = self.a[key]
        if out.size:
            self.rows.extend(np.arange(self.shape[0])[key[0]].tolist())
        return out


def test_a_batch_reads_only_its_trajectories():
    a = np.random.default_rng(1).normal(size=(30, 8, 2))
    counting = _Counting(a)
    state = xr.DataArray(dsa.from_array(counting, chunks=(1, 8, 2), asarray=True),
                         dims=("trajectory", "time", "variable"))
    src = TrajectorySource(state, positions=np.arange(5, 30), scaler=fit_scaler(torch.as_tensor(a)))
    sub = src[::2]  # a lazy subset (as a rank's shard of the validation set): nothing read
    assert counting.rows == [] and src.reads == 0 and sub.shape == (13, 8, 2)
    x = src.read(torch.tensor([7, 0, 3, 7]))
    assert sorted(counting.rows) == [5, 8, 12]  # positions 5 + (0, 3, 7), each once
    expected = src.scaler.normalise(torch.as_tensor(a[[12, 5, 8, 12]], dtype=torch.float32))
    torch.testing.assert_close(x, expected, rtol=0, atol=0)  # in the order asked for
    counting.rows.clear()
    sub.read(slice(0, 2))
    assert sorted(counting.rows) == [5, 7]


def test_trainer_on_a_source_equals_the_trainer_on_tensors():
    a = np.random.default_rng(2).normal(size=(40, 12, 2)).cumsum(1) * 0.1
    x = torch.as_tensor(a, dtype=torch.float32)
    state = xr.DataArray(dsa.from_array(a, chunks=(4, 12, 2)), dims=("trajectory", "time", "variable"))
    tau = torch.linspace(0, 1, 12)
    kw = dict(epochs=2, batch_size=8, lr=3e-3, seed=0, device="cpu", progress=False, val_n_ctx=4)
    h_mem = Trainer(**kw).fit(WARP(2, width=8, depth=1, seed=0), x[:30], tau, x[30:])
    src = TrajectorySource(state)
    h_src = Trainer(**kw).fit(WARP(2, width=8, depth=1, seed=0), src.subset(slice(0, 30)), tau,
                              src.subset(slice(30, 40)))
    assert h_src.train_loss == h_mem.train_loss and h_src.val_loss == h_mem.val_loss
    assert src.reads == 2 * (30 + 10)  # each epoch: every training batch and the validation set, read once
    with pytest.raises(InputError, match="not supported with streamed"):
        Trainer(**kw).fit(WARP(2, width=8, depth=1, seed=0), src, tau, y_train=x)


def test_stream_encoder_scaler_matches_the_state_encoder(store):
    ds = xr.open_zarr(store).isel(trajectory=slice(0, 30))
    lazy, mem = StreamEncoder().fit(ds), wp.pipeline.StateEncoder().fit(ds.load())
    torch.testing.assert_close(lazy.scaler.loc, mem.scaler.loc, rtol=1e-6, atol=0)
    torch.testing.assert_close(lazy.scaler.scale, mem.scaler.scale, rtol=1e-6, atol=0)


def test_bad_paths_are_refused_before_any_work(tmp_path, guarded, capsys):
    with pytest.raises(InputError, match="no such file or store"):
        wp.reconstruct(data=str(tmp_path / "missing.zarr"))
    with pytest.raises(InputError, match="matches no file"):
        wp.reconstruct(data=str(tmp_path / "*.nc"))
    xr.Dataset({"x": (("trajectory", "time"), np.zeros((3, 4)))}).to_zarr(tmp_path / "nostate.zarr")
    with pytest.raises(InputError, match="no 'state' variable"):
        wp.reconstruct(data=str(tmp_path / "nostate.zarr"))
    assert main(["reconstruct", "--data", str(tmp_path / "missing.zarr"), "-o", str(tmp_path / "o.nc")]) != 0
    assert "no such file" in capsys.readouterr().err


def test_refused_settings_for_streamed_data(store, guarded):
    with pytest.raises(InputError, match="closed form"):
        wp.reconstruct(data=str(store), model="dmd")
    with pytest.raises(InputError, match="window= reads one series"):
        wp.reconstruct(data=str(store), window=10)


def test_cli_reads_a_zarr_store(store, tmp_path):
    out = tmp_path / "rec.nc"
    assert main(["reconstruct", "--data", str(store), "-o", str(out), "--epochs", "2", "--seed", "0",
                 "--device", "cpu", "--quiet"]) == 0
    with xr.open_dataset(out) as ds:
        metrics = json.loads(ds.attrs["metrics"])
        assert ds.attrs["data_access"].startswith("streamed")
    ref = wp.reconstruct(data=str(store), model="warp", epochs=2, seed=0, device="cpu", progress=False)
    assert np.isfinite(ref.metrics["mse"])
    np.testing.assert_allclose(metrics["mse"], ref.metrics["mse"], rtol=1e-12)


def test_a_batch_from_a_zarr_path_reads_only_the_chunks_of_its_trajectories(store):
    from zarr.storage import LocalStore

    class Counting(LocalStore):
        keys: list = []

        async def get(self, key, *args, **kwargs):
            Counting.keys.append(key)
            return await super().get(key, *args, **kwargs)

    # opened as reconstruct(data=<path>) opens it: xarray's lazy indexing, no dask
    ds = xr.open_dataset(Counting(str(store), read_only=True), engine="zarr", chunks=None, cache=False)
    Counting.keys.clear()
    src = TrajectorySource(ds["state"].isel(trajectory=np.arange(0, 45, 3)))  # positions 0, 3, ..., 42
    x = src.read([0, 4, 1])  # positions 0, 12, 3: chunks of 5 trajectories -> chunks 0 and 2
    assert sorted(k for k in Counting.keys if k.startswith("state/")) == ["state/0.0.0", "state/2.0.0"]
    np.testing.assert_array_equal(x.numpy(), xr.open_zarr(store)["state"].values[[0, 12, 3]])
