"""Sharded simulation into Zarr stores (`warp_phys.sharded`, `warp-phys simulate ... --out x.zarr`).

Chunk i of a store is exactly `System.simulate` of its trajectories with the seed
`chunk_seed(seed, i)` (cast to float32); 1 and 2 Dask workers write bit-identical stores; a store
interrupted half-way is completed by a second call that recomputes none of the finished chunks;
other settings are refused before anything is simulated."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from warp_phys import sharded
from warp_phys.cli import main
from warp_phys.sharded import chunk_seed, finished_chunks, simulate_to_zarr
from warp_phys.systems import get
from warp_phys.validation import InputError

SMALL = dict(n_steps=40)  # Lorenz-63 on its default span, 40 steps: a fraction of a second per chunk


def _arrays(path):
    ds = xr.open_zarr(path)
    return {name: ds[name].values for name in ds.variables}


def test_each_chunk_is_simulate_with_its_own_seed(tmp_path):
    ds = simulate_to_zarr("lorenz63", 10, tmp_path / "a.zarr", chunk=4, seed=3, **SMALL)
    assert ds["state"].dtype == np.float32 and ds.sizes["trajectory"] == 10
    assert ds.attrs["seed"] == 3 and ds["state"].chunks[0] == (4, 4, 2)
    assert finished_chunks(tmp_path / "a.zarr") == [0, 1, 2]
    torch.set_num_threads(1)
    for i, (a, b) in enumerate([(0, 4), (4, 8), (8, 10)]):
        ref = get("lorenz63").simulate(b - a, seed=chunk_seed(3, i), **SMALL)
        np.testing.assert_array_equal(ds["state"].values[a:b], ref["state"].values.astype(np.float32))
        np.testing.assert_array_equal(ds["rho"].values[a:b], ref["rho"].values)  # float64 coordinates kept
    np.testing.assert_array_equal(ds["trajectory"].values, np.arange(10))
    assert len({chunk_seed(3, i) for i in range(100)}) == 100 and chunk_seed(3, 0) != chunk_seed(4, 0)


def test_one_and_two_workers_write_bit_identical_stores(tmp_path):
    one = simulate_to_zarr("lorenz63", 12, tmp_path / "one.zarr", chunk=3, workers=1, **SMALL)
    two = simulate_to_zarr("lorenz63", 12, tmp_path / "two.zarr", chunk=3, workers=2, **SMALL)
    a, b = _arrays(tmp_path / "one.zarr"), _arrays(tmp_path / "two.zarr")
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert one.attrs == two.attrs


def test_a_dask_cluster_by_its_scheduler_address_writes_the_same_store(tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        simulate_to_zarr("lorenz63", 6, tmp_path / "c.zarr", chunk=2, scheduler=cluster.scheduler_address, **SMALL)
    local = simulate_to_zarr("lorenz63", 6, tmp_path / "l.zarr", chunk=2, **SMALL)
    np.testing.assert_array_equal(xr.open_zarr(tmp_path / "c.zarr")["state"].values, local["state"].values)


def test_interrupted_store_is_completed_without_recomputing_finished_chunks(tmp_path, monkeypatch):
    path = tmp_path / "part.zarr"
    real = sharded._simulate_chunk
    calls = []

    def failing_after_two(system, plan, index):
        if len(calls) == 2 and plan["n"] > 1:  # the probe (n=1) of the layout does not count
            raise KeyboardInterrupt("killed half-way")
        if plan["n"] > 1:
            calls.append(index)
        return real(system, plan, index)

    monkeypatch.setattr(sharded, "_simulate_chunk", failing_after_two)
    with pytest.raises(KeyboardInterrupt):
        simulate_to_zarr("lorenz63", 16, path, chunk=4, **SMALL)
    assert finished_chunks(path) == [0, 1]
    calls.clear()
    monkeypatch.setattr(sharded, "_simulate_chunk", lambda s, p, i: (calls.append(i), real(s, p, i))[1])
    simulate_to_zarr("lorenz63", 16, path, chunk=4, **SMALL)
    assert calls == [2, 3]  # the two finished chunks were kept, not recomputed
    assert finished_chunks(path) == [0, 1, 2, 3]
    whole = simulate_to_zarr("lorenz63", 16, tmp_path / "whole.zarr", chunk=4, **SMALL)
    np.testing.assert_array_equal(xr.open_zarr(path)["state"].values, whole["state"].values)


def test_other_settings_are_refused_and_overwrite_restarts(tmp_path):
    path = tmp_path / "s.zarr"
    simulate_to_zarr("lorenz63", 6, path, chunk=3, **SMALL)
    with pytest.raises(InputError, match=r"other settings.*options.n_steps: store 40, now 41"):
        simulate_to_zarr("lorenz63", 6, path, chunk=3, n_steps=41)
    with pytest.raises(InputError, match=r"seed: store 0, now 1"):
        simulate_to_zarr("lorenz63", 6, path, chunk=3, seed=1, **SMALL)
    with pytest.raises(InputError, match=r"system_options"):  # another configuration of the system
        simulate_to_zarr(get("navier_stokes_2d", forcing="decaying"), 6, path, chunk=3, **SMALL)
    ds = simulate_to_zarr("lorenz63", 6, path, chunk=3, seed=1, overwrite=True, **SMALL)
    assert ds.attrs["seed"] == 1
    (tmp_path / "plain.zarr").mkdir()
    with pytest.raises(InputError, match="not a sharded warp_phys store"):
        simulate_to_zarr("lorenz63", 6, tmp_path / "plain.zarr", **SMALL)


@pytest.mark.parametrize("kwargs, words", [
    (dict(chunk=0), "chunk"), (dict(workers=0), "workers"), (dict(seed=-1), "seed"),
    (dict(dtype="int32"), "floating"), (dict(n_steps=40, t_span=object()), "plain values"),
])
def test_bad_settings_fail_before_writing(tmp_path, kwargs, words):
    with pytest.raises(InputError, match=words):
        simulate_to_zarr("lorenz63", 4, tmp_path / "bad.zarr", **kwargs)
    assert not (tmp_path / "bad.zarr").exists()


def test_cli_writes_and_completes_a_store(tmp_path, capsys):
    out = tmp_path / "cli.zarr"
    assert main(["simulate", "lorenz63", "-n", "5", "--steps", "40", "--out", str(out), "--chunk", "2", "-q"]) == 0
    assert "wrote" in capsys.readouterr().out
    ref = simulate_to_zarr("lorenz63", 5, tmp_path / "api.zarr", chunk=2, n_steps=40, backend="torch",
                           rtol=1e-7, atol=1e-9, params="train", protocol="default", device="auto")
    np.testing.assert_array_equal(xr.open_zarr(out)["state"].values, ref["state"].values)
    assert main(["simulate", "lorenz63", "-n", "5", "--steps", "40", "--out", str(out), "--chunk", "2", "-q"]) == 0
    assert main(["simulate", "lorenz63", "-n", "5", "--out", str(tmp_path / "x.nc"), "--workers", "2"]) == 2
    assert "--workers shard the simulation into a Zarr store" in capsys.readouterr().err


def test_field_systems_are_sharded_too(tmp_path):
    """A 2-D flow (navier_stokes_2d, Kolmogorov forcing) sharded: each chunk is its own simulate call."""
    kw = dict(grid=64, n_steps=3, t_span=(0.0, 2.0))
    ds = simulate_to_zarr("navier_stokes_2d", 3, tmp_path / "ns.zarr", chunk=2, **kw)
    assert ds["vorticity"].dims == ("trajectory", "time", "y", "x") and ds["vorticity"].shape == (3, 3, 64, 64)
    torch.set_num_threads(1)
    ref = get("navier_stokes_2d").simulate(1, seed=chunk_seed(0, 1), **kw)
    np.testing.assert_array_equal(ds["vorticity"].values[2:], ref["vorticity"].values.astype(np.float32))


def test_missing_extra_names_the_install_command(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "zarr" else real(name, *a))
    with pytest.raises(ImportError, match=r'zarr.*pip install -e "\.\[scale\]"'):
        simulate_to_zarr("lorenz63", 4, "unused.zarr")
