"""Sharded simulation: a system's trajectories written chunk by chunk into a Zarr store,
in parallel with Dask (`simulate_to_zarr`, `warp-phys simulate ... --out x.zarr`).

Chunk ``i`` holds trajectories [i * chunk, min((i + 1) * chunk, n)). It is simulated by
`System.simulate` with its own seed, derived from ``(seed, i)`` by numpy's `SeedSequence`
(`chunk_seed`), with one torch thread: the same ``seed`` and ``chunk`` give bit-identical
stores whatever the number of workers. (A different ``chunk`` draws other trajectories, as does
the unsharded ``simulate(n, seed=seed)``.) Each chunk is written into its own region of the
store (Zarr chunks along ``trajectory`` are the simulation chunks, so writers never share a
Zarr chunk) and then marked done in ``shard_written(shard)``. Calling again with
the same settings finishes an interrupted store without recomputing the chunks marked done;
other settings are refused. Peak memory is that of the chunks in flight (``workers`` chunks),
not of the whole set. Needs the ``scale`` extra (dask, distributed, zarr).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from warp_phys.validation import InputError, check_int, check_seed

#: Variable of the store that records the finished chunks, ``shard_written(shard)`` (0/1).
DONE_VAR = "shard_written"
#: Zarr format 2: consolidated metadata and fixed-length strings are part of its specification, and
#: every Zarr reader opens it (`xarray.open_zarr(path)` with no options).
ZARR_FORMAT = 2
#: Store attribute holding the settings a store was written with (checked on resume).
PLAN_ATTR = "warp_phys_sharding"
_EXTRA = 'pip install -e ".[scale]"  (dask[distributed] and zarr)'


def _require_scale_extra() -> None:
    missing = [m for m in ("dask", "distributed", "zarr") if __import__("importlib").util.find_spec(m) is None]
    if missing:
        raise ImportError(f"sharded simulation needs {', '.join(missing)}: {_EXTRA}")


def chunk_seed(seed: int, index: int) -> int:
    """The simulation seed of chunk ``index`` (an integer in [0, 2**63 - 1]) derived from
    ``seed`` by `numpy.random.SeedSequence([seed, index])`: independent streams per chunk."""
    words = np.random.SeedSequence([int(seed), int(index)]).generate_state(2, dtype=np.uint32)
    return int((int(words[0]) << 32 | int(words[1])) & (2**63 - 1))


def _bounds(n: int, chunk: int, index: int) -> tuple[int, int]:
    return index * chunk, min((index + 1) * chunk, n)


def _simulate_chunk(system: Any, plan: dict[str, Any], index: int) -> Any:
    """Chunk ``index`` as a Dataset: trajectories numbered globally, state in the plan's dtype."""
    import torch

    torch.set_num_threads(1)  # the same numbers in any process, and no oversubscription
    start, stop = _bounds(plan["n"], plan["chunk"], index)
    ds = system.simulate(stop - start, seed=chunk_seed(plan["seed"], index), progress=False, **plan["options"])
    ds = ds.assign_coords(trajectory=np.arange(start, stop))
    return ds.assign({name: ds[name].astype(plan["dtype"]) for name in ds.data_vars
                      if ds[name].dtype.kind == "f"})


def _write_chunk(system: Any, plan: dict[str, Any], path: str, index: int) -> int:
    """Simulate chunk ``index``, write it into its region of the store, mark it done."""
    ds = _simulate_chunk(system, plan, index)
    start, stop = _bounds(plan["n"], plan["chunk"], index)
    shared = [name for name in ds.variables if "trajectory" not in ds[name].dims]  # written with the template
    ds.drop_vars(shared).drop_attrs().to_zarr(path, region={"trajectory": slice(start, stop)}, mode="r+",
                                              consolidated=False)
    import xarray as xr

    # marked only once its region is written; each shard's flag is its own Zarr chunk (no shared writes)
    xr.Dataset({DONE_VAR: ("shard", np.ones(1, dtype=np.uint8))}).to_zarr(
        path, region={"shard": slice(index, index + 1)}, mode="r+", consolidated=False)
    return index


def _template(system: Any, plan: dict[str, Any]) -> Any:
    """The whole store's layout (lazy zeros, Zarr chunks of ``chunk`` trajectories) from a
    one-trajectory probe; attributes of the probe plus the sharding settings."""
    import dask.array as da
    import xarray as xr

    probe = _simulate_chunk(system, {**plan, "n": 1, "chunk": 1}, 0)
    n, chunk = plan["n"], plan["chunk"]
    out = {}
    for name, var in probe.variables.items():
        if name == "trajectory":
            continue
        if "trajectory" in var.dims:
            shape = tuple(n if d == "trajectory" else s for d, s in zip(var.dims, var.shape))
            chunks = tuple(chunk if d == "trajectory" else s for d, s in zip(var.dims, var.shape))
            out[name] = xr.Variable(var.dims, da.zeros(shape, dtype=var.dtype, chunks=chunks), var.attrs)
        else:
            out[name] = var
    coords = {k: v for k, v in out.items() if k in probe.coords}
    data = {k: v for k, v in out.items() if k in probe.data_vars}
    attrs = {**probe.attrs, "seed": plan["seed"], PLAN_ATTR: json.dumps(plan, sort_keys=True),
             "seed_description": "chunk i simulated with seed SeedSequence([seed, i]) (warp_phys.sharded.chunk_seed)"}
    n_shards = -(-n // chunk)
    data[DONE_VAR] = xr.Variable("shard", da.zeros(n_shards, dtype=np.uint8, chunks=1), {
        "long_name": "1 when the shard's trajectories are written (shard i: trajectories i*chunk .. (i+1)*chunk - 1)",
        "units": "1"})
    ds = xr.Dataset(data, coords={"trajectory": np.arange(n), **coords}, attrs=attrs)
    ds["trajectory"].attrs.update(probe["trajectory"].attrs)
    return ds


def _check_resume(path: Path, plan: dict[str, Any]) -> None:
    import xarray as xr

    try:
        written = json.loads(xr.open_zarr(path).attrs[PLAN_ATTR])
    except Exception as err:  # not a store of ours, or unreadable
        raise InputError(f"{path} exists and is not a sharded warp_phys store ({type(err).__name__}: {err}); "
                         "choose another --out path or delete it") from err
    flat = lambda p: {**{k: v for k, v in p.items() if k != "options"},  # noqa: E731
                      **{f"options.{k}": v for k, v in p.get("options", {}).items()}}
    written, now = flat(written), flat(plan)
    differ = sorted(k for k in set(written) | set(now) if written.get(k) != now.get(k))
    if differ:
        detail = "; ".join(f"{k}: store {written.get(k)!r}, now {now.get(k)!r}" for k in differ)
        raise InputError(f"{path} was written with other settings ({detail}); resuming would mix them: use the "
                         "store's settings, another path, or delete the store (API: overwrite=True)")


def _pin_worker(cores: list[int], counter: Any) -> None:
    """Pool initializer: worker k runs on core cores[k] (each worker on its own core; unpinned
    workers were measurably slower per chunk on a 2-core VM)."""
    with counter.get_lock():
        k = counter.value
        counter.value += 1
    if hasattr(os, "sched_setaffinity") and k < len(cores):
        os.sched_setaffinity(0, {cores[k]})


def _worker_pool(workers: int) -> Any:
    """A spawn-context process pool of ``workers`` for dask's "processes" scheduler; each
    worker pinned to its own core of this process's CPU set when there are enough cores."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    cores = cores if len(cores) >= workers else []
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_pin_worker,
                               initargs=(cores, ctx.Value("i", 0)))


def _run(system: Any, plan: dict[str, Any], path: str, todo: list[int], workers: int, scheduler: str | None,
         progress: bool) -> None:
    from warp_phys.progress import progress_bar

    bar = progress_bar(total=len(todo), desc=f"chunks of {plan['chunk']}", disable=not progress, leave=False)
    if workers == 1 and scheduler is None:
        for index in todo:
            _write_chunk(system, plan, path, index)
            bar.update(1)
        bar.close()
        return
    if scheduler is None:  # dask's local process pool: each chunk in the main thread of a pinned worker
        import dask
        from dask.callbacks import Callback

        class _Progress(Callback):
            def _posttask(self, key, result, dsk, state, worker_id):  # noqa: ANN001 - dask's hook
                bar.update(1)

        tasks = [dask.delayed(_write_chunk, pure=False)(system, plan, path, i) for i in todo]
        with _worker_pool(workers) as pool, _Progress():
            dask.compute(*tasks, scheduler="processes", pool=pool)
        bar.close()
        return
    from distributed import Client, as_completed

    with Client(scheduler) as client:
        futures = client.map(_write_chunk, [system] * len(todo), [plan] * len(todo), [path] * len(todo), todo,
                             pure=False)
        for future in as_completed(futures):
            future.result()  # re-raises a worker's error here
            bar.update(1)
    bar.close()


def simulate_to_zarr(system: Any, n_trajectories: int, path: str | os.PathLike, *, chunk: int = 4096,
                     workers: int = 1, scheduler: str | None = None, seed: int = 0, dtype: str = "float32",
                     overwrite: bool = False, progress: bool = False, **options: Any) -> Any:
    """Simulate ``n_trajectories`` of ``system`` (a name or a `System`) into the Zarr store
    ``path``, ``chunk`` trajectories per task, on ``workers`` local processes (dask's
    "processes" scheduler, each worker pinned to its own core when there are enough; 1: in this
    process) or on the Dask cluster whose scheduler is at ``scheduler`` (an address such as
    "tcp://10.0.0.5:8786"; the store's path must be reachable from its workers). Local workers are
    started with "spawn": a script that calls this with workers > 1 needs the usual
    ``if __name__ == "__main__":`` guard.

    ``options`` go to `System.simulate` (t_span, n_steps, params, protocol, backend, ...).
    ``dtype``: of the floating data variables (``state``); coordinates keep float64. An existing
    store written with the same settings is completed (finished chunks kept); other settings raise
    InputError unless ``overwrite``. Returns the store opened lazily (`xarray.open_zarr`):
    ``state(trajectory, time, variable)`` and the per-trajectory parameters as coordinates.
    """
    _require_scale_extra()
    import xarray as xr

    from warp_phys.systems import get

    system = get(system) if isinstance(system, str) else system
    n = check_int(n_trajectories, "n_trajectories", minimum=1)
    chunk = check_int(chunk, "chunk", minimum=1)
    workers = check_int(workers, "workers", minimum=1)
    seed = check_seed(seed)
    if np.dtype(dtype).kind != "f":
        raise InputError(f"dtype must be a floating type such as 'float32' or 'float64', got {dtype!r}")
    if "seed" in options or "n_trajectories" in options:
        raise InputError("pass seed= and n_trajectories to simulate_to_zarr itself, not in the simulate options")
    overrides = dict(getattr(system, "overrides", {}) or {})
    plan = {"system": system.name, "system_options": system.options(), "overrides": overrides, "n": n, "chunk": min(chunk, n), "seed": seed,
            "dtype": np.dtype(dtype).name, "options": options}
    plan["options"] = {k: v for k, v in options.items() if v is not None}
    try:
        plan = json.loads(json.dumps(plan))  # as the store records it (tuples become lists)
    except TypeError as err:
        raise InputError(f"simulate options must be plain values (numbers, strings, lists, dicts): {err}") from err
    path = Path(path)
    if path.exists() and overwrite:
        shutil.rmtree(path)
    if path.exists():
        _check_resume(path, plan)
    else:
        _template(system, plan).to_zarr(path, compute=False, mode="w-", consolidated=True, zarr_format=ZARR_FORMAT)
    done = set(finished_chunks(path))
    todo = [i for i in range(-(-n // plan["chunk"])) if i not in done]
    if todo:
        _run(system, plan, str(path), todo, workers, scheduler, progress)
    return xr.open_zarr(path)


def finished_chunks(path: str | os.PathLike) -> list[int]:
    """Indices of the chunks of a sharded store that are written and marked done."""
    import xarray as xr

    flags = xr.open_zarr(path)[DONE_VAR].values
    return [int(i) for i in np.flatnonzero(flags)]


__all__ = ["DONE_VAR", "chunk_seed", "finished_chunks", "simulate_to_zarr"]
