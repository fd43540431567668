"""User data in, tensors out: conversion, scaling and splits.

The pipeline accepts trajectories as an xarray Dataset in the package's conventions
(``state(trajectory, time, variable)`` float64, a ``time`` coordinate and a ``variable``
coordinate naming the state variables) or as an array of shape (trajectory, time,
variable) plus a 1-D ``time`` array. The checks are `warp_phys.validation`'s; each raises an
`InputError` (a ValueError) that names the problem and the fix.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import xarray as xr

from warp_phys.scaling import Scaler
from warp_phys.validation import InputError, check_float32_range, check_seed, check_time_grid, check_trajectories

#: Default train / validation / test fractions for user data (by trajectory).
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)


def _variable_names(names: Sequence[str] | None, d: int) -> list[str]:
    """``names`` checked against d variables (unique strings), or "x0", "x1", ... when None."""
    if names is None:
        return [f"x{i}" for i in range(d)]
    if isinstance(names, str):
        names = [names]
    names = list(names)
    if len(names) != d or not all(isinstance(n, str) and n for n in names) or len(set(names)) != d:
        raise InputError(f"variable names must be {d} distinct non-empty strings, one per variable "
                         f"(last axis of the data), got {names!r}")
    return names


def as_dataset(data, time=None, *, variable_names: Sequence[str] | None = None,
               time_units: str = "1") -> xr.Dataset:
    """Convert user data to a Dataset with ``state(trajectory, time, variable)``.

    ``data``: an xarray Dataset with a ``state`` variable of dims (trajectory, time,
    variable) (its coordinates and attributes are kept), or an array (N, T, d) with
    ``time`` (T,). Validates values and the time grid.
    """
    if isinstance(data, xr.Dataset):
        if "state" not in data.data_vars:
            found = sorted(map(str, data.data_vars))
            hint = f"; rename yours, e.g. ds.rename({{{found[0]!r}: 'state'}})" if len(found) == 1 else ""
            raise InputError("the Dataset has no 'state' variable; expected state(trajectory, time, variable) "
                             f"(found: {found}){hint}")
        dims = tuple(data["state"].dims)
        if set(dims) != {"trajectory", "time", "variable"} or len(dims) != 3:
            raise InputError(f"state has dims {dims}; expected ('trajectory', 'time', 'variable'): rename them "
                             "with ds.rename({...}) or add a missing one with ds.expand_dims")
        ds = data.transpose("trajectory", "time", "variable", ...)
        a = check_trajectories(ds["state"].values, "state")
        if "time" not in ds.coords:
            if time is None:
                raise InputError("the Dataset has no 'time' coordinate; pass time=<1-D array> or "
                                 "ds.assign_coords(time=...)")
            ds = ds.assign_coords(time=np.asarray(time))
        elif time is not None:
            raise InputError("time= was given but the Dataset has its own 'time' coordinate; drop time= or "
                             "replace the coordinate with ds.assign_coords(time=...)")
        check_time_grid(ds["time"].values, ds.sizes["time"])
        if "variable" not in ds.coords:
            names = _variable_names(variable_names, ds.sizes["variable"])
            ds = ds.assign_coords(variable=names)
        elif variable_names is not None:
            raise InputError(f"the Dataset already names its variables {list(map(str, ds['variable'].values))}; "
                             f"drop variable_names= or rename them with ds.assign_coords(variable=[...])")
        check_float32_range(a, [str(v) for v in ds["variable"].values], "state")
        return ds
    if isinstance(data, xr.DataArray):
        raise InputError("pass an xarray Dataset with a 'state' variable, or a numpy array "
                         "(trajectory, time, variable) plus time=; got a DataArray: use da.to_dataset(name='state')")
    _refuse_series(data)
    a = check_trajectories(data)
    N, T, d = a.shape
    t = check_time_grid(time, T)
    names = _variable_names(variable_names, d)
    check_float32_range(a, names)
    state = xr.DataArray(a, dims=("trajectory", "time", "variable"),
                         attrs={"long_name": "state", "units": "1"})
    ds = xr.Dataset({"state": state},
                    coords={"trajectory": np.arange(N), "time": ("time", t, {"units": time_units, "long_name": "time"}),
                            "variable": ("variable", np.array(names, dtype=str))})
    return ds


def _refuse_series(data) -> None:
    """A 1-D or 2-D array is one series, not trajectories: say how to pass either."""
    ndim = getattr(data, "ndim", None)
    if ndim in (1, 2) and not np.iscomplexobj(data):
        shape = tuple(data.shape)
        raise InputError(
            f"data has shape {shape} ({ndim}-D); expected (trajectory, time, variable). For one long "
            "measured series (time,) or (time, variable), pass window=<steps> to reconstruct: it cuts the "
            "series into windows and splits them chronologically. For a single trajectory use "
            + ("data[None]" if ndim == 2 else "data[None, :, None]"))


def chronological_blocks(n_steps: int, fractions: Sequence[float], gap: int,
                         window: int, lead: int = 0) -> dict[str, tuple[int, int]]:
    """Time-step blocks [start, stop) of one record of ``n_steps`` steps: train, val, test in
    time order, of sizes ``fractions`` (normalised) of the record. ``gap`` steps at the end of
    the train and of the val block belong to no block. The train block must hold one
    ``window`` of steps, the val and test blocks ``window - lead`` (their windows may start
    ``lead`` steps before the block: see `window_starts`); InputError (naming the block and
    the fix) if not."""
    f = np.cumsum(np.asarray(fractions, dtype=np.float64) / float(np.sum(fractions)))
    b1, b2 = int(round(f[0] * n_steps)), int(round(f[1] * n_steps))
    blocks = {"train": (0, b1 - gap), "val": (b1, b2 - gap), "test": (b2, n_steps)}
    for name, (lo, hi) in blocks.items():
        need = window if name == "train" else window - lead
        if hi - lo < need:
            what = (f"one window of {window} steps" if need == window else
                    f"the {need} forecast steps of one window")
            raise InputError(
                f"the {name} block holds {max(hi - lo, 0)} steps (steps {lo}..{hi - 1} of the {n_steps}-step "
                f"record, split={tuple(float(x) for x in fractions)}, gap={gap}), fewer than {what}; use a "
                f"smaller window=, a smaller gap=, a longer record, or give the {name} block a larger fraction "
                f"in split=")
    return blocks


def window_starts(block: tuple[int, int], window: int, stride: int, lead: int = 0) -> np.ndarray:
    """First steps of the windows of ``window`` steps, every ``stride`` steps, whose steps from
    the ``lead``-th on lie inside ``block`` = [start, stop): int64 (n,), each start >= start -
    lead and start + window <= stop. ``lead=0``: windows wholly inside the block."""
    lo, hi = block
    return np.arange(lo - lead, hi - window + 1, stride, dtype=np.int64)


def split_indices(n: int, fractions: Sequence[float] = DEFAULT_FRACTIONS, *,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded random split of ``n`` trajectories into (train, val, test) index arrays.

    Each split gets at least one trajectory; so at least 3 are needed.
    """
    seed = check_seed(seed)
    if len(fractions) != 3 or any(not np.isfinite(f) or f <= 0 for f in fractions):
        raise InputError(f"fractions must be three positive numbers (train, val, test), got {fractions}")
    if n < 3:
        raise InputError(
            f"only {n} trajectories: need at least 3, one each for training, validation (model "
            "selection) and testing (the forecast that is scored); cut long trajectories into "
            "several shorter windows, or pass more trajectories")
    f = np.asarray(fractions, dtype=np.float64) / float(np.sum(fractions))
    n_val = max(1, int(round(f[1] * n)))
    n_test = max(1, int(round(f[2] * n)))
    n_train = n - n_val - n_test
    if n_train < 1:
        n_train, n_val, n_test = n - 2, 1, 1
    perm = np.random.default_rng(seed).permutation(n)
    return (np.sort(perm[:n_train]), np.sort(perm[n_train:n_train + n_val]),
            np.sort(perm[n_train + n_val:]))


def normalised_time(time, *, dtype: torch.dtype = torch.float32,
                    device: torch.device | str = "cpu") -> torch.Tensor:
    """tau = (t - t_0) / (t_{T-1} - t_0), shape (T,) (the SequenceModel convention)."""
    t = np.asarray(time, dtype=np.float64)
    tau = (t - t[0]) / (t[-1] - t[0])
    return torch.as_tensor(tau, dtype=dtype, device=device)


def fit_scaler(x_train: torch.Tensor, *, floor: float = 1e-6) -> Scaler:
    """Per-variable mean/std over all trajectories and steps of the training set (N, T, d),
    computed in float64.

    Only a variable that is constant in the training data gets scale 1: exactly constant, or
    with a std below ``floor`` times its mean (a variation float32 cannot resolve; user data
    like that are refused by `warp_phys.validation.check_float32_range`). A small but real
    variation is scaled by its own std, however small its units.
    """
    flat = x_train.reshape(-1, x_train.shape[-1]).to(torch.float64)
    loc = flat.mean(dim=0)
    scale = flat.std(dim=0, unbiased=False)
    constant = (flat.amax(dim=0) == flat.amin(dim=0)) | (scale <= floor * loc.abs()) | (scale == 0)
    scale = torch.where(constant, torch.ones_like(scale), scale)
    return Scaler(loc.to(x_train.dtype).cpu(), scale.to(x_train.dtype).cpu())
