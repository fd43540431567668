"""User data in, tensors out: validation, conversion, scaling and splits.

The workflow accepts trajectories as an xarray Dataset in the package's conventions
(``state(trajectory, time, variable)``, DESIGN.md §4) or as an array of shape
(trajectory, time, variable) plus a 1-D ``time`` array. Everything here raises a
ValueError that names the problem and the fix.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import xarray as xr

from warp_phys.scaling import Scaler

#: Default train / validation / test fractions for user data (by trajectory).
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)


def validate_time(time, n_steps: int | None = None) -> np.ndarray:
    """Check a time axis: 1-D, finite, strictly increasing, uniform. Returns float64 (T,)."""
    if time is None:
        raise ValueError("time is required with array data: pass time=<1-D array of the sampling "
                         "times>, one per step along the array's second axis")
    t = np.asarray(time, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"time must be 1-D (one value per step), got shape {t.shape}")
    if n_steps is not None and t.shape[0] != n_steps:
        raise ValueError(f"time has {t.shape[0]} values but the data has {n_steps} time steps "
                         "(axis 1 of the (trajectory, time, variable) array); they must match")
    if t.shape[0] < 2:
        raise ValueError(f"need at least 2 time steps, got {t.shape[0]}")
    if not np.all(np.isfinite(t)):
        raise ValueError("time contains NaN or inf values; drop those steps or fix the time axis")
    dt = np.diff(t)
    if not np.all(dt > 0):
        i = int(np.argmax(dt <= 0))
        raise ValueError(f"time must be strictly increasing; it is not at index {i + 1} "
                         f"(t[{i}]={t[i]!r}, t[{i + 1}]={t[i + 1]!r}); sort the steps or drop duplicates")
    med = float(np.median(dt))
    tol = 1e-3 * med + 8 * np.finfo(np.float32).eps * float(np.max(np.abs(t)))
    if np.max(np.abs(dt - med)) > tol:
        raise ValueError(
            f"time steps are not uniform (dt ranges from {dt.min():.6g} to {dt.max():.6g}); WARP "
            "needs a uniform time grid: resample the trajectories onto one first, e.g. with "
            "ds.interp(time=np.linspace(t0, t1, n)) or numpy.interp")
    return t


def validate_array(data) -> np.ndarray:
    """Check trajectories of shape (trajectory, time, variable): numeric, finite. Returns float64."""
    try:
        a = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"data must be a numeric array of shape (trajectory, time, variable): {err}") from None
    if a.ndim == 2:
        raise ValueError(f"data has shape {a.shape} (2-D); expected (trajectory, time, variable). "
                         "For a single trajectory use data[None]; for one variable use data[..., None]")
    if a.ndim != 3:
        raise ValueError(f"data must be 3-D (trajectory, time, variable), got {a.ndim}-D shape {a.shape}")
    if min(a.shape) < 1:
        raise ValueError(f"data has an empty axis: shape {a.shape}")
    bad = ~np.isfinite(a)
    if bad.any():
        n, t, _ = np.argwhere(bad)[0]
        raise ValueError(
            f"data contains {int(bad.sum())} NaN/inf values (first at trajectory {n}, time step {t}); "
            "drop or interpolate the NaN steps (e.g. ds.interpolate_na('time')) before reconstructing")
    return a


def _variable_names(names: Sequence[str] | None, d: int) -> list[str]:
    """``names`` checked against d variables (unique strings), or "x0", "x1", ... when None."""
    if names is None:
        return [f"x{i}" for i in range(d)]
    if isinstance(names, str):
        names = [names]
    names = list(names)
    if len(names) != d or not all(isinstance(n, str) and n for n in names) or len(set(names)) != d:
        raise ValueError(f"variable names must be {d} distinct non-empty strings, one per variable "
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
            raise ValueError("the Dataset has no 'state' variable; expected state(trajectory, time, variable) "
                             f"(found: {sorted(map(str, data.data_vars))})")
        dims = tuple(data["state"].dims)
        if set(dims) != {"trajectory", "time", "variable"}:
            raise ValueError(f"state has dims {dims}; expected ('trajectory', 'time', 'variable')")
        ds = data.transpose("trajectory", "time", "variable", ...)
        validate_array(ds["state"].values)
        if "time" not in ds.coords:
            if time is None:
                raise ValueError("the Dataset has no 'time' coordinate; pass time=<1-D array>")
            ds = ds.assign_coords(time=np.asarray(time))
        validate_time(ds["time"].values, ds.sizes["time"])
        if "variable" not in ds.coords:
            names = _variable_names(variable_names, ds.sizes["variable"])
            ds = ds.assign_coords(variable=names)
        elif variable_names is not None:
            raise ValueError(f"the Dataset already names its variables {list(map(str, ds['variable'].values))}; "
                             f"drop variable_names= or rename them with ds.assign_coords(variable=[...])")
        return ds
    if isinstance(data, xr.DataArray):
        raise ValueError("pass an xarray Dataset with a 'state' variable, or a numpy array "
                         "(trajectory, time, variable) plus time=; got a DataArray: use da.to_dataset(name='state')")
    a = validate_array(data)
    N, T, d = a.shape
    t = validate_time(time, T)
    names = _variable_names(variable_names, d)
    state = xr.DataArray(a, dims=("trajectory", "time", "variable"),
                         attrs={"long_name": "state", "units": "1"})
    ds = xr.Dataset({"state": state},
                    coords={"trajectory": np.arange(N), "time": ("time", t, {"units": time_units, "long_name": "time"}),
                            "variable": ("variable", np.array(names, dtype=str))})
    return ds


def check_context(context: int, n_steps: int) -> int:
    """Context length must leave at least one step to forecast."""
    if isinstance(context, bool) or not isinstance(context, (int, np.integer)):
        raise ValueError(f"context must be an integer number of steps, got {context!r}")
    if context < 1:
        raise ValueError(f"context must be at least 1 step, got {context}")
    if context >= n_steps:
        raise ValueError(f"context ({context} steps) must be shorter than the trajectories "
                         f"({n_steps} steps) to leave steps to forecast; use a smaller context")
    return int(context)


def split_indices(n: int, fractions: Sequence[float] = DEFAULT_FRACTIONS, *,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded random split of ``n`` trajectories into (train, val, test) index arrays.

    Each split gets at least one trajectory; so at least 3 are needed.
    """
    if len(fractions) != 3 or any(f <= 0 for f in fractions):
        raise ValueError(f"fractions must be three positive numbers (train, val, test), got {fractions}")
    if n < 3:
        raise ValueError(
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


def to_tensor(ds: xr.Dataset, *, dtype: torch.dtype = torch.float32,
              device: torch.device | str = "cpu") -> torch.Tensor:
    """``state`` as a tensor (N, T, d) in physical units."""
    x = ds["state"].transpose("trajectory", "time", "variable").values
    return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)


def normalised_time(time, *, dtype: torch.dtype = torch.float32,
                    device: torch.device | str = "cpu") -> torch.Tensor:
    """tau = (t - t_0) / (t_{T-1} - t_0), shape (T,) (the SequenceModel convention)."""
    t = np.asarray(time, dtype=np.float64)
    tau = (t - t[0]) / (t[-1] - t[0])
    return torch.as_tensor(tau, dtype=dtype, device=device)


def fit_scaler(x_train: torch.Tensor, *, floor: float = 1e-6) -> Scaler:
    """Per-variable mean/std over all trajectories and steps of the training set (N, T, d).

    A variable that is constant in the training data (std below ``floor`` times its
    magnitude) gets scale 1 so normalisation never divides by ~0.
    """
    flat = x_train.reshape(-1, x_train.shape[-1]).to(torch.float64)
    loc = flat.mean(dim=0)
    scale = flat.std(dim=0, unbiased=False)
    tiny = scale <= floor * torch.clamp(loc.abs(), min=1.0)
    scale = torch.where(tiny, torch.ones_like(scale), scale)
    return Scaler(loc.to(x_train.dtype).cpu(), scale.to(x_train.dtype).cpu())
