"""Field data for reconstruction: long simulated runs cut into overlapping windows.

A chaotic forced flow is statistically stationary after its spin-up, so one long run yields
many training windows for the price of one spin-up (stride < window: windows overlap).
Train, validation and test windows come from *separate* runs (distinct seeds), never from
the same run, so no test window shares a snapshot with training data.
"""
from __future__ import annotations

import numpy as np
import xarray as xr


def field_name(ds: xr.Dataset) -> str:
    """The single field variable of a field-system dataset (``vorticity`` or ``u``); a
    reconstruction's ``prediction_mean``/``prediction_std`` are not counted."""
    names = [n for n, v in ds.data_vars.items() if v.dims[:2] == ("trajectory", "time") and v.ndim >= 3
             and not str(n).startswith("prediction_")]
    if len(names) != 1:
        raise ValueError(f"expected one field variable with dims (trajectory, time, *space), found {names}")
    return names[0]


def cut_windows(ds: xr.Dataset, length: int | None, stride: int | None) -> xr.Dataset:
    """Windows of ``length`` steps every ``stride`` steps from every run of ``ds``.

    Returns a Dataset with a new ``trajectory`` index (window), time relative to the window
    start, and per-window coordinates ``run`` (source trajectory) and ``window_start``
    (absolute start time); per-run parameter coordinates are carried along.
    ``length=None`` keeps each run whole (one window per run).
    """
    name = field_name(ds)
    T = ds.sizes["time"]
    if length is None:
        length, stride = T, T
    if not 2 <= length <= T:
        raise ValueError(f"window length {length} must be in [2, {T}] (the steps of a run)")
    if stride is None or stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride!r}")
    starts = np.arange(0, T - length + 1, stride)
    t = ds["time"].values
    data = ds[name].values                      # (R, T, *space)
    R = data.shape[0]
    win = np.stack([data[:, s:s + length] for s in starts], 1)   # (R, W, L, *space)
    win = win.reshape(R * len(starts), length, *data.shape[2:])
    space = ds[name].dims[2:]
    runs = np.repeat(np.arange(R), len(starts))
    t0 = np.tile(t[starts], R)
    coords = {
        "trajectory": ("trajectory", np.arange(win.shape[0], dtype=np.int64),
                       {"long_name": "window index", "units": "1"}),
        "time": ("time", t[:length] - t[0], {**ds["time"].attrs, "long_name": "time since the window start"}),
        "run": ("trajectory", ds["trajectory"].values[runs], {"long_name": "source run (simulated trajectory)",
                                                              "units": "1"}),
        "window_start": ("trajectory", t0, {"long_name": "start time of the window in its run",
                                            "units": ds["time"].attrs.get("units", "1")}),
    }
    for c in space:
        coords[c] = (c, ds[c].values, dict(ds[c].attrs))
    for c, v in ds.coords.items():
        if v.dims == ("trajectory",) and c != "trajectory":
            coords[c] = ("trajectory", v.values[runs], dict(v.attrs))
    out = xr.Dataset({name: (("trajectory", "time", *space), win, dict(ds[name].attrs))}, coords=coords,
                     attrs=dict(ds.attrs))
    out.attrs.update(window_length=int(length), window_stride=int(stride))
    return out


def shift_augment(ds: xr.Dataset, copies: int) -> xr.Dataset:
    """``copies`` copies of every trajectory, periodically shifted along the last (x) axis by
    k n / copies grid points (k = 0..copies-1). Exact data for flows that are invariant under
    x translations (Kolmogorov forcing depends on y only; Burgers, KS). copies <= 1: unchanged."""
    if copies <= 1:
        return ds
    name = field_name(ds)
    n = ds.sizes[ds[name].dims[-1]]
    if n % copies:
        raise ValueError(f"augment_shifts={copies} must divide the grid size {n} (exact grid shifts)")
    parts = [ds.roll({ds[name].dims[-1]: k * n // copies}, roll_coords=False) for k in range(copies)]
    out = xr.concat(parts, dim="trajectory")
    return out.assign_coords(trajectory=np.arange(out.sizes["trajectory"], dtype=np.int64))


__all__ = ["cut_windows", "field_name", "shift_augment"]
