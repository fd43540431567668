"""Runaway forecasts are flagged, never silent: the plausible band of the training data.

The band of variable j for trajectory n, in physical units:

    [min(lo_j, c_nj) - k s_j,  max(hi_j, C_nj) + k s_j]

lo_j, hi_j: the minimum and maximum of variable j over the training split; s_j: its standard
deviation there (1 for a variable that is constant in training); c_nj, C_nj: the minimum and
maximum of the trajectory's own observed context (so data outside the training range that
the model was given do not flag themselves); k = `IMPLAUSIBLE_K` = 10.

A trajectory is *implausible* when any forecast step (``context`` mask 0) of any variable is
non-finite or outside its band. Field data (one field over a grid) count as one variable:
lo, hi and s are taken over all grid points. Non-finite predictions stay visible (NaN/inf in
``prediction_mean``); they are flagged and counted, not replaced.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import xarray as xr

#: Half-width of the margin around the training range, in training standard deviations.
IMPLAUSIBLE_K = 10.0


@dataclass(frozen=True)
class TrainingBand:
    """Per-variable training ``low``/``high`` (min/max) and ``scale`` (std; 1 where constant),
    shape (d,) when ``per_variable`` (the last axis of the data is the variable), else ()."""

    low: np.ndarray
    high: np.ndarray
    scale: np.ndarray
    per_variable: bool


def training_band(truth: np.ndarray, per_variable: bool = True) -> TrainingBand:
    """The `TrainingBand` of training data (N, T, d) (``per_variable``) or (N, T, *grid)."""
    x = np.asarray(truth, dtype=np.float64)
    axes = tuple(range(x.ndim - 1)) if per_variable else None
    std = np.std(x, axis=axes)
    return TrainingBand(np.min(x, axis=axes), np.max(x, axis=axes), np.where(std > 0, std, 1.0), per_variable)


def implausible(truth: np.ndarray, mean: np.ndarray, context: np.ndarray, band: TrainingBand | None,
                k: float = IMPLAUSIBLE_K) -> tuple[np.ndarray, np.ndarray]:
    """(implausible, non_finite), bool (N,) each: a forecast step of the trajectory leaves the
    band (or is non-finite); a forecast step is non-finite. ``truth``/``mean``: (N, T, ...)
    physical; ``context``: (T,) mask, 1 = observed. ``band`` None: only non-finite counts."""
    observed = np.asarray(context).astype(bool)
    pred = np.asarray(mean, dtype=np.float64)[:, ~observed]
    n = pred.shape[0]
    non_finite = ~np.isfinite(pred).reshape(n, -1).all(axis=1)
    if band is None or pred.shape[1] == 0:
        return non_finite.copy(), non_finite
    obs = np.asarray(truth, dtype=np.float64)[:, observed]
    axes = tuple(range(1, obs.ndim - 1)) if band.per_variable else tuple(range(1, obs.ndim))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: no observation, training band only
        c_lo = np.nanmin(obs, axis=axes, keepdims=True)
        c_hi = np.nanmax(obs, axis=axes, keepdims=True)
    lo = np.fmin(band.low, c_lo) - k * band.scale
    hi = np.fmax(band.high, c_hi) + k * band.scale
    with np.errstate(invalid="ignore"):
        outside = ((pred < lo) | (pred > hi)).reshape(n, -1).any(axis=1)
    return outside | non_finite, non_finite


def flag_dataset(ds: xr.Dataset, variable: str, band: TrainingBand | None,
                 k: float = IMPLAUSIBLE_K) -> tuple[int, int]:
    """Add ``implausible`` (trajectory,) bool and the attributes ``implausible_count`` and
    ``implausible_k`` to a result Dataset in place; returns (implausible, non-finite) counts."""
    truth = ds[variable].transpose("trajectory", "time", ...).values
    mean = ds["prediction_mean"].transpose("trajectory", "time", ...).values
    flag, non_finite = implausible(truth, mean, ds["context"].values, band, k)
    rule = (f"forecast leaves the plausible band (non-finite, or beyond k = {k:g} training standard deviations "
            "outside the range of the training data and of the trajectory's own context, per variable)")
    ds["implausible"] = ("trajectory", flag, {"long_name": f"implausible {rule}", "units": "1"})
    ds.attrs["implausible_count"] = int(flag.sum())
    ds.attrs["implausible_k"] = float(k)
    return int(flag.sum()), int(non_finite.sum())


def warn_implausible(count: int, non_finite: int, total: int, what: str, k: float = IMPLAUSIBLE_K,
                     stacklevel: int = 3) -> None:
    """A RuntimeWarning naming how many of ``total`` ``what`` forecasts are implausible (none: silent)."""
    if count <= 0:
        return
    nf = (f"{non_finite} with non-finite values (kept as NaN/inf in prediction_mean), "
          f"{count - non_finite} finite but far outside" if non_finite else "all finite but far outside")
    warnings.warn(f"{count} of {total} {what} forecasts are implausible ({nf} the training band: k = "
                  f"{k:g} training std beyond the training range); see the Dataset's 'implausible' "
                  "variable. Train longer / with a lower lr, or a shorter forecast horizon",
                  RuntimeWarning, stacklevel=stacklevel)


__all__ = ["IMPLAUSIBLE_K", "TrainingBand", "flag_dataset", "implausible", "training_band", "warn_implausible"]
