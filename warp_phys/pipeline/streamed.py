"""The user's trajectories streamed from disk: ``reconstruct(data="x.zarr")`` for data larger than memory.

`open_lazy` opens a Zarr store or one NetCDF file lazily without dask (xarray's lazy indexing:
a read fetches only the chunks of the selected trajectories), several NetCDF files (a glob or a
list of paths: ``xr.open_mfdataset``, joined along ``trajectory``), or takes an already open
dask-backed Dataset, without reading the values. `stream_job` then builds the same `Job` as
`warp_phys.pipeline.jobs.user_job` (same seeded 70/15/15 split by trajectory, same model,
recipe and trainer) with a `StreamEncoder`:

* the scaler (and the plausible band) is fit in ONE pass over the training split, a block of
  trajectories at a time (`warp_phys.streaming.moments_of`);
* training and validation read their batches from disk (`warp_phys.streaming.TrajectorySource`):
  the validation score is computed batch by batch, neither split is ever held in memory;
* the test split is read into memory to be forecast and scored (the `Reconstruction` holds it
  with its forecasts): at most ``max_test_trajectories`` (default `MAX_TEST_TRAJECTORIES`) of
  the test trajectories, the first ones of the seeded split (a documented cap; the attribute
  ``test_trajectories_scored`` says how many of how many).

What differs from the in-memory path: the classical baselines (``ar_``, ``ets_``,
``seasonal_naive_`` scores) are left out, closed-form models (their fit reads the whole
training split) and ``time_rescale`` are refused. With the same data and seed the metrics
equal the in-memory run's up to float rounding of the scaler (`tests/test_streaming.py`).
"""
from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr

from warp_phys.data import as_dataset, split_indices
from warp_phys.streaming import TrajectorySource, is_lazy, moments_of, scaler_from
from warp_phys.validation import InputError, check_context, check_int, check_seed, check_time_grid

from .encoders import StateEncoder
from .engine import Job
from .jobs import (METRICS_DESCRIPTION, _check_model, _refuse_simulation_options, _user_model, check_horizon,
                   check_training, data_seed_of)
from .plausibility import TrainingBand
from .sources import Splits

#: Default cap on the test trajectories read into memory and scored (``max_test_trajectories=``).
MAX_TEST_TRAJECTORIES = 1024
#: Models trained by the `Trainer` alone (no closed-form fit on the whole training split).
STREAMABLE = ("warp", "gru", "lstm", "transformer", "node", "persistence")
_DIMS = ("trajectory", "time", "variable")


def is_paths(data: Any) -> bool:
    """Whether ``data`` is a path (str / PathLike) or a non-empty list or tuple of paths."""
    return isinstance(data, (str, os.PathLike)) or (
        isinstance(data, (list, tuple)) and len(data) > 0 and all(isinstance(p, (str, os.PathLike)) for p in data))


def _open_paths(data: Any) -> tuple[xr.Dataset, str]:
    """The Dataset of a path, glob or list of paths (lazily), and a name for messages."""
    if isinstance(data, (str, os.PathLike)) and any(c in str(data) for c in "*?["):
        paths = sorted(glob.glob(os.path.expanduser(str(data))))
        if not paths:
            raise InputError(f"data={str(data)!r}: the pattern matches no file; check the path")
    else:
        paths = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    paths = [Path(p).expanduser() for p in paths]
    name = str(paths[0]) if len(paths) == 1 else f"{len(paths)} files ({paths[0]}, ...)"
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise InputError(f"data: no such file or store {missing[0]!r}; check the path (relative paths are read "
                         f"from {os.getcwd()}). A path is streamed from disk; to read a file into memory first, "
                         "pass warp_phys.open_trajectories(path)")
    zarr = [p for p in paths if p.suffix == ".zarr" or p.is_dir()]
    if zarr:
        if len(paths) > 1:
            raise InputError(f"data: pass one Zarr store, not a list ({name}); join stores with xarray first")
        try:
            # without dask: xarray's lazy indexing reads only the selected trajectories' chunks, with no
            # task graph (a graph over ~1e5 chunks of one trajectory each costs memory and time per read)
            return xr.open_dataset(paths[0], engine="zarr", chunks=None, cache=False), name
        except Exception as err:  # noqa: BLE001 - any reader failure is the user's file
            raise InputError(f"data={name!r} is not a readable Zarr store ({type(err).__name__}: {err})") from None
    try:
        if len(paths) == 1:
            return xr.open_dataset(paths[0], cache=False), name
        return xr.open_mfdataset(paths, combine="nested", concat_dim="trajectory", data_vars="minimal",
                                 coords="minimal", compat="override"), name
    except Exception as err:  # noqa: BLE001
        raise InputError(f"data={name!r} could not be opened as NetCDF ({type(err).__name__}: {err}); pass "
                         "NetCDF files with state(trajectory, time, variable) or a .zarr store") from None


def open_lazy(data: Any, time: Any = None, variables: Sequence[str] | None = None) -> xr.Dataset | None:
    """``data`` opened for streaming: ``state(trajectory, time, variable)`` with its ``time``
    and ``variable`` coordinates, values not read; None for data held in memory (an array, or a
    Dataset not backed by dask: the in-memory path). InputError for a missing path or no ``state``."""
    if is_paths(data):
        ds, name = _open_paths(data)
    elif isinstance(data, xr.Dataset) and "state" in data and data["state"].chunks is not None:
        ds, name = data, "the Dataset"
    else:
        return None
    if "state" not in ds.data_vars:
        raise InputError(f"{name} has no 'state' variable (found {sorted(map(str, ds.data_vars))}); expected "
                         "state(trajectory, time, variable): rename yours, e.g. ds.rename({'x': 'state'})")
    if set(ds["state"].dims) != set(_DIMS) or ds["state"].ndim != 3:
        raise InputError(f"{name}: state has dims {tuple(ds['state'].dims)}; expected {_DIMS}")
    ds = ds[["state"]].transpose(*_DIMS)
    if "time" not in ds.coords:
        if time is None:
            raise InputError(f"{name} has no 'time' coordinate; pass time=<1-D array>")
        ds = ds.assign_coords(time=np.asarray(time))
    elif time is not None:
        raise InputError(f"time= was given but {name} has its own 'time' coordinate; drop time=")
    check_time_grid(ds["time"].values, ds.sizes["time"])
    if "variable" not in ds.coords:
        ds = ds.assign_coords(variable=[f"x{i}" for i in range(ds.sizes["variable"])] if variables is None
                              else list(variables))
    elif variables is not None:
        raise InputError(f"{name} already names its variables; drop variables=")
    return ds


class StreamEncoder(StateEncoder):
    """A `StateEncoder` for lazily opened splits: ``fit`` in one pass (block by block), ``encode``
    of a lazy split gives a `TrajectorySource` (read batch by batch), of an in-memory one a tensor."""

    streams = True

    def fit(self, train: xr.Dataset, basis_data: xr.Dataset | None = None) -> "StreamEncoder":
        """Scaler (float32-cast values, as `warp_phys.data.fit_scaler`) and training band in one pass."""
        cast, raw = moments_of(TrajectorySource(train["state"]))
        self.scaler = scaler_from(cast)
        self.band = TrainingBand(raw.low, raw.high, np.where(raw.std > 0, raw.std, 1.0), True)
        return self

    def encode(self, ds: Any) -> Any:
        if isinstance(ds, xr.Dataset) and is_lazy(ds["state"]):
            return TrajectorySource(ds["state"], scaler=self.scaler)
        return super().encode(ds)


def stream_splits(ds: xr.Dataset, seed: int, max_test: int) -> Splits:
    """The seeded 70/15/15 split of `warp_phys.data.split_indices` (the in-memory one): train and
    val lazy, the first ``max_test`` test trajectories read into memory (and checked)."""
    tr, va, te = split_indices(int(ds.sizes["trajectory"]), seed=check_seed(seed))
    import dask

    with dask.config.set(scheduler="synchronous"):
        test = as_dataset(ds.isel(trajectory=te[:max_test]).load())
    test.attrs["split"] = "test"
    test.attrs["split_description"] = "held-out trajectories of the user's data (seeded 70/15/15 split)"
    test.attrs["test_trajectories_scored"] = f"{min(max_test, te.shape[0])} of {te.shape[0]}"
    return Splits(ds.isel(trajectory=tr), ds.isel(trajectory=va), {"test": test})


def stream_job(ds: xr.Dataset, *, model: str, prior: Any, prior_options: Mapping | None, seed: int,
               options: dict[str, Any], horizon: int | None = None, **common: Any) -> Job:
    """`warp_phys.pipeline.jobs.user_job` for a Dataset from `open_lazy`; options as there, plus
    ``max_test_trajectories`` (the cap on the scored test trajectories). Checked before any read."""
    seed = check_seed(seed)
    options = dict(options)
    max_test = check_int(options.pop("max_test_trajectories", MAX_TEST_TRAJECTORIES), "max_test_trajectories",
                         minimum=1)
    _refuse_simulation_options(options)
    n_steps = int(ds.sizes["time"])
    recipe, overrides, spec = _user_model(n_steps, model, prior, prior_options, seed, options)
    if spec.name not in STREAMABLE:
        raise InputError(f"model {spec.name!r} is fit in closed form on the whole training split, which streamed "
                         f"data do not hold in memory; choose one of {list(STREAMABLE)}")
    if recipe.time_rescale is not None:
        raise InputError("time_rescale needs a known symmetry, which user data lack: leave time_rescale=None")
    context = check_context(overrides.get("context", recipe.data["n_ctx"]), n_steps)
    horizon = check_horizon(horizon, context, n_steps)
    _check_model(spec, int(ds.sizes["variable"]), None)
    check_training(recipe, spec.output, context)
    splits = stream_splits(ds, data_seed_of(seed, common), max_test)
    return Job(splits=splits, encoder=StreamEncoder(), spec=spec, context=context, horizon=horizon, recipe=recipe,
               seed=seed, provenance={"title": "warp_phys reconstruction of user data", "system": "user data",
                                      "metrics_description": METRICS_DESCRIPTION,
                                      "data_access": "streamed from disk in batches (scaler fit in one pass)",
                                      "test_trajectories_scored": splits.tests["test"].attrs[
                                          "test_trajectories_scored"]}, **common)


__all__ = ["MAX_TEST_TRAJECTORIES", "STREAMABLE", "StreamEncoder", "is_paths", "open_lazy", "stream_job",
           "stream_splits"]
