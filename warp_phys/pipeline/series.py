"""One long measured series in, windows and an honest forecast out.

A record ``(time,)`` or ``(time, variable)`` with a regular time axis (numbers, or dates:
numpy datetime64 / a pandas DatetimeIndex) is read (`read_series`), cut into windows of
``window`` steps and split in time order (`plan_windows`: train on the past, validate on the
next block, test on the last; a window belongs to a block only if all its steps lie inside
it, or, with ``split_by="forecast"``, if its forecast steps do). The windows are then the
trajectories of the ordinary pipeline. After the run, `finish` adds ``rec.datasets["future"]``:
the last ``context`` steps of the record and the forecast of ``horizon`` steps beyond its end,
on a time axis that continues the record's.

Coordinates of a window Dataset: ``time`` (time since the window's first step: the record's
units, or seconds for dates; what the model sees, normalised), ``window_start`` and
``window_start_index`` (trajectory), and ``record_time`` (trajectory, time): every step's
time in the record, as dates when the record has dates.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import xarray as xr

from warp_phys.data import DEFAULT_FRACTIONS, chronological_blocks, normalised_time, window_starts
from warp_phys.validation import InputError, as_real_array, check_float32_range, check_int, check_memory

from .record_time import RecordTime, check_record_time, step_text

#: How NaN inside the series is handled: None refuses it, "linear" interpolates between steps.
FILLS = (None, "linear")
#: What puts a window in the val or test block: all its steps ("window"), or its forecast steps
#: only ("forecast": the context may read the steps before the block; every forecast origin of
#: the block is scored, rolling-origin evaluation). Training windows lie wholly in the train block.
SPLIT_BY = ("window", "forecast")


@dataclass(frozen=True)
class SeriesRecord:
    """One record: ``values`` (T, d) float64, its `RecordTime`, the variable ``names``, the
    number of NaN values ``n_filled`` that ``fill="linear"`` interpolated, and its ``known``
    input channels (a `known_channels.KnownChannels`, or None)."""

    values: np.ndarray
    time: RecordTime
    names: list[str]
    n_filled: int = 0
    known: Any = None

    @property
    def n_steps(self) -> int:
        return int(self.values.shape[0])

    def windows(self, starts: np.ndarray, length: int) -> xr.Dataset:
        """Windows of ``length`` steps from each start: ``state(trajectory, time, variable)``
        (steps past the record's end hold NaN) and, with known inputs, ``known(trajectory, time,
        known_variable)`` (phases continue past the end; covariates past those given are NaN)."""
        idx = np.asarray(starts, dtype=np.int64)[:, None] + np.arange(length)
        inside = idx < self.n_steps
        state = np.where(inside[..., None], self.values[np.minimum(idx, self.n_steps - 1)], np.nan)
        units = {} if self.time.is_date else {"units": self.time.units}
        data = {"state": (("trajectory", "time", "variable"), state, {"long_name": "state", "units": "1"})}
        if self.known is not None:
            from .known_channels import known_windows

            data["known"] = known_windows(self.known, idx)
        return xr.Dataset(
            data,
            coords={"trajectory": np.arange(idx.shape[0]),
                    "time": ("time", self.time.relative(length),
                             {"units": self.time.units, "long_name": "time since the window's first step"}),
                    "variable": ("variable", np.array(self.names, dtype=str)),
                    "window_start": ("trajectory", self.time.at(idx[:, 0]),
                                     {"long_name": "time of the window's first step in the record", **units}),
                    "window_start_index": ("trajectory", idx[:, 0], {
                        "long_name": "index of the window's first step in the record", "units": "1"}),
                    "record_time": (("trajectory", "time"), self.time.at(idx),
                                    {"long_name": "time of each step in the record", **units})})


def _fill(values: np.ndarray, fill: str | None, names: list[str]) -> tuple[np.ndarray, int]:
    """NaN refused (fill=None) or linearly interpolated inside the record (fill="linear")."""
    if np.isinf(values).any():
        i, j = np.argwhere(np.isinf(values))[0]
        raise InputError(f"data are inf at time step {i} (variable {names[j]!r}); fix or drop those values")
    nan = np.isnan(values)
    if not nan.any():
        return values, 0
    i, j = np.argwhere(nan)[0]
    if fill is None:
        raise InputError(f"data contain {int(nan.sum())} NaN values (first at time step {i}, variable {names[j]!r}); "
                         "every window needs every step: interpolate first (pandas: s.interpolate(); xarray: "
                         "ds.interpolate_na('time')) or pass fill='linear'")
    out = values.copy()
    steps = np.arange(values.shape[0])
    for j in range(values.shape[1]):
        ok = ~nan[:, j]
        if not ok.any():
            raise InputError(f"variable {names[j]!r} is NaN at every step; drop it (or pass real values)")
        if not ok[0] or not ok[-1]:
            where = f"the last {int(np.argmax(ok[::-1]))} steps" if ok[0] else f"the first {int(np.argmax(ok))} steps"
            raise InputError(f"variable {names[j]!r} is NaN in {where} of the record, which fill='linear' cannot "
                             "interpolate (no value on one side); trim the record to its first and last valid steps")
        out[~ok, j] = np.interp(steps[~ok], steps[ok], values[ok, j])
    return out, int(nan.sum())


def _from_dataset(data: xr.Dataset | xr.DataArray, time: Any, variables: Any) -> tuple[Any, Any, Any, str]:
    """(values, time, names, time units) of a Dataset ``state(time[, variable])`` or a DataArray."""
    if isinstance(data, xr.DataArray):
        data = data.to_dataset(name="state")
    if "state" not in data.data_vars:
        raise InputError(f"the Dataset has no 'state' variable; expected state(time) or state(time, variable) "
                         f"(found: {sorted(map(str, data.data_vars))})")
    st = data["state"]
    if "trajectory" in st.dims or not set(st.dims) <= {"time", "variable"} or "time" not in st.dims:
        raise InputError(f"window= cuts one series state(time) or state(time, variable); state has dims {st.dims}: "
                         "select one trajectory (ds.isel(trajectory=0)) or drop window= to split trajectories")
    if "time" in data.coords and time is not None:
        raise InputError("time= was given but the Dataset has its own 'time' coordinate; drop time=")
    values = st.transpose("time", ...).values
    names = [str(v) for v in data["variable"].values] if "variable" in data.coords else None
    if names is not None and variables is not None:
        raise InputError(f"the Dataset already names its variables {names}; drop variables=")
    t = data["time"].values if "time" in data.coords else time
    units = str(data["time"].attrs.get("units", "1")) if "time" in data.coords else "1"
    return values, t, variables if names is None else names, units


def read_series(data: Any, time: Any = None, variables: Sequence[str] | None = None,
                fill: str | None = None) -> SeriesRecord:
    """One record from an array (time,) / (time, variable) plus ``time``, a pandas Series or
    DataFrame (its index is the time unless ``time=`` is given), or an xarray Dataset
    ``state(time[, variable])`` / DataArray. Values, time axis and ``fill`` are checked here."""
    from warp_phys.data import _variable_names

    if fill not in FILLS:
        raise InputError(f"fill must be None (NaN refused) or 'linear' (interpolated between steps), got {fill!r}")
    units = "1"
    if isinstance(data, (xr.Dataset, xr.DataArray)):
        data, time, variables, units = _from_dataset(data, time, variables)
    elif hasattr(data, "to_numpy") and hasattr(data, "index"):  # pandas Series / DataFrame
        if variables is None and hasattr(data, "columns"):
            variables = [str(c) for c in data.columns]
        elif variables is None and isinstance(getattr(data, "name", None), str):
            variables = [data.name]
        time = data.index if time is None else time
        data = data.to_numpy()
    values = as_real_array(data, "data", "(time,) or (time, variable)")
    if values.ndim == 3:
        raise InputError(f"window= cuts one long series (time,) or (time, variable); data have shape {values.shape} "
                         "(trajectory, time, variable): drop window= (trajectories are split as they are), or "
                         "pass one trajectory, data[i]")
    if values.ndim not in (1, 2) or values.size == 0:
        raise InputError(f"data must be a non-empty series (time,) or (time, variable), got shape {values.shape}")
    values = values.reshape(values.shape[0], -1)
    names = _variable_names(variables, values.shape[1])
    record_time = check_record_time(time, values.shape[0], units)
    values, n_filled = _fill(values, fill, names)
    check_float32_range(values[None], names)
    return SeriesRecord(values, record_time, names, n_filled)


@dataclass(frozen=True)
class WindowPlan:
    """The windows of one record: ``window`` = ``context`` + forecast steps (``horizon`` of
    them scored), first steps every ``stride``; ``blocks`` [start, stop) and ``starts`` by
    split name ("train", "val", "test"); ``gap`` steps before val and test are never trained on
    or scored; ``split_by`` (`SPLIT_BY`) says which steps of a val/test window lie in its block."""

    window: int
    context: int
    horizon: int
    stride: int
    gap: int
    split: tuple[float, float, float]
    blocks: dict[str, tuple[int, int]]
    starts: dict[str, np.ndarray]
    split_by: str = "window"


def _context_horizon(window: int, context: Any, horizon: Any) -> tuple[int, int]:
    """(context, horizon) in a window: any two of the three; default context a quarter."""
    if horizon is not None:
        horizon = check_int(horizon, "horizon", minimum=1)
    if context is None:
        context = window - horizon if horizon is not None else max(1, window // 4)
        if context < 1:
            raise InputError(f"horizon ({horizon} steps) leaves no context in a window of {window} steps; use "
                             f"horizon <= {window - 1} or window >= {horizon + 1}")
    context = check_int(context, "context", minimum=1)
    if context >= window:
        raise InputError(f"context ({context} steps) must be shorter than the window ({window} steps) to leave "
                         f"steps to forecast; use context <= {window - 1} or a longer window=")
    horizon = window - context if horizon is None else horizon
    if context + horizon > window:
        raise InputError(f"context ({context}) + horizon ({horizon}) = {context + horizon} steps do not fit in a "
                         f"window of {window} steps; use window={context + horizon} or horizon <= {window - context}")
    return context, horizon


def plan_windows(n_steps: int, n_variables: int, *, window: Any, context: Any = None, horizon: Any = None,
                 stride: Any = None, gap: Any = None, split: Any = None, split_by: Any = None) -> WindowPlan:
    """Check the window settings against a record of ``n_steps`` steps and plan the
    chronological split; InputError naming the setting and the fix, before anything is cut.
    ``split_by="forecast"``: a val/test window belongs to the block holding its forecast steps
    (its context may lie in the block before), so a block of B steps scores B - (window -
    context) + 1 origins instead of B - window + 1; training windows are unchanged."""
    window = check_int(window, "window", minimum=2)
    if window > n_steps:
        raise InputError(f"window ({window} steps) is longer than the record ({n_steps} steps); use a smaller window=")
    stride = 1 if stride is None else check_int(stride, "stride", minimum=1)
    gap = 0 if gap is None else check_int(gap, "gap", minimum=0)
    split = DEFAULT_FRACTIONS if split is None else split
    split_by = "window" if split_by is None else split_by
    if split_by not in SPLIT_BY:
        raise InputError(f"split_by must be 'window' (a val/test window lies wholly in its block) or 'forecast' "
                         f"(its forecast steps do; the context may read the block before), got {split_by!r}")
    try:
        fractions = tuple(float(f) for f in split)
    except (TypeError, ValueError):
        fractions = ()
    if len(fractions) != 3 or not all(np.isfinite(f) and f > 0 for f in fractions):
        raise InputError(f"split must be three positive fractions (train, val, test) of the record's time steps, "
                         f"e.g. split=(0.7, 0.15, 0.15); got {split!r}")
    context, horizon = _context_horizon(window, context, horizon)
    lead = context if split_by == "forecast" else 0
    blocks = chronological_blocks(n_steps, fractions, gap, window, lead)
    starts = {name: window_starts(b, window, stride, 0 if name == "train" else lead) for name, b in blocks.items()}
    check_memory(sum(s.size for s in starts.values()) * window * n_variables,
                 f"the windows of the series ({window} steps, stride {stride}, {n_variables} variables)",
                 "use a larger stride= or a smaller window=")
    return WindowPlan(window, context, horizon, stride, gap, fractions, blocks, starts, split_by)


def describe(record: SeriesRecord, plan: WindowPlan, fill: str | None) -> str:
    """The series settings as JSON (a NetCDF-safe attribute)."""
    return json.dumps({"n_steps": record.n_steps, "window": plan.window, "context": plan.context,
                       "horizon": plan.horizon, "stride": plan.stride, "gap": plan.gap, "split": list(plan.split),
                       "split_by": plan.split_by,
                       "blocks": {k: [int(lo), int(hi)] for k, (lo, hi) in plan.blocks.items()},
                       "n_windows": {k: int(s.size) for k, s in plan.starts.items()},
                       "time_start": str(record.time.values[0]), "time_step": step_text(record.time.step),
                       "fill": fill or "none", "n_filled": record.n_filled})


def future_dataset(job: Any, rec: Any) -> xr.Dataset:
    """The forecast beyond the record's end: its last ``context`` steps (truth) and ``horizon``
    steps of forecast (truth NaN), (1, context + horizon, d), time continuing the record's."""
    from .engine import _predict
    from .plausibility import flag_dataset
    from .results import result_dataset

    record: SeriesRecord = job.splits.extra["series"]
    plan: WindowPlan = job.splits.extra["plan"]
    n = plan.context + plan.horizon
    ds = record.windows(np.array([record.n_steps - plan.context]), plan.window)
    if "known" in ds.data_vars:  # steps after context + horizon are never read: hold the last given values
        k = ds["known"].values
        given = np.maximum.accumulate(np.where(np.isfinite(k), np.arange(k.shape[1])[None, :, None], 0), axis=1)
        ds["known"].values[:] = np.take_along_axis(k, given, axis=1)
    observed = ds["state"].values.copy()
    ds["state"].values[:, plan.context:] = observed[:, plan.context - 1:plan.context]  # never read: finite filler
    mean, std = _predict(job, rec.model, ds, normalised_time(ds["time"].values))
    ds["state"].values[:] = observed
    drop = ("metrics", "split", "split_description", "Conventions", "featureType")
    attrs = {k: v for k, v in rec.dataset.attrs.items() if k not in drop}
    attrs.update(split="future", split_description=(
        f"forecast of {plan.horizon} steps beyond the end of the record from its last {plan.context} steps; "
        "state (truth) is NaN where nothing was observed"))
    future = result_dataset(ds.isel(time=slice(0, n)), "state", mean[:, :n], std[:, :n], plan.context, attrs, {},
                            str(rec.dataset["prediction_std"].attrs.get("long_name", "predictive standard deviation")))
    if flag_dataset(future, "state", getattr(rec.encoder, "band", None))[0]:  # a runaway forecast is flagged
        warnings.warn("the forecast beyond the end of the record leaves the plausible band of the training data "
                      "(datasets['future'].implausible)", RuntimeWarning, stacklevel=3)
    return future


def _date_attrs(ds: xr.Dataset) -> None:
    """Dates carry no units attribute (the NetCDF writer sets the CF time units itself)."""
    for coord in ds.coords.values():
        if coord.dtype.kind in "mM":
            coord.attrs.pop("units", None)
            coord.attrs.pop("calendar", None)


def finish(job: Any, rec: Any) -> Any:
    """Add ``rec.datasets["future"]``, put a transformed run (detrend/deseason/difference) back in
    the record's units (`series_restore.restore_all`) and keep date coordinates writable; returns ``rec``."""
    known = job.splits.extra["series"].known
    plan: WindowPlan = job.splits.extra["plan"]
    if known is not None and known.covariate_names and known.n_future < plan.horizon:
        warnings.warn(f"no forecast beyond the record's end (datasets['future']): it needs the covariates of the "
                      f"{plan.horizon} steps after the record, and future_covariates= gave {known.n_future}; pass "
                      f"future_covariates=<({plan.horizon}, {len(known.covariate_names)}) values>",
                      UserWarning, stacklevel=3)
    else:
        rec.datasets["future"] = future_dataset(job, rec)
    if "transform" in job.splits.extra:
        from .series_restore import restore_all

        restore_all(job, rec)
    for ds in rec.datasets.values():
        _date_attrs(ds)
    return rec


__all__ = ["FILLS", "SPLIT_BY", "RecordTime", "SeriesRecord", "WindowPlan", "check_record_time", "describe", "finish",
           "future_dataset", "plan_windows", "read_series"]
