"""The result Datasets of a transformed series back in the record's own units.

With ``detrend=``/``deseason=``/``difference=`` (`series_transforms`) the engine trains, forecasts
and scores the residual windows. `restore` then puts every window Dataset (the test split and
``datasets["future"]``) back in the record's units: the truth is read from the record itself
(NaN past its end), the predictions get trend + season added back at each step's record index
(extrapolated past the end) and, with differencing, are summed from the last observed level of
the window's context (inside the context: the previous observed level plus the predicted
difference, one step ahead). The metrics are then recomputed on these original-unit arrays by
the encoder's scorer (`warp_phys.metrics.forecast_metrics`). For detrend/deseason alone the
model's errors equal those on the residual windows (trend and season are known functions of
time: they cancel in prediction - truth), up to float rounding.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import xarray as xr

from warp_phys.metrics import baseline_scores, forecast_mse, forecast_window

from .series_transforms import SeriesTransform

#: Classical scores (`engine.classical_metrics`) kept as they are for detrend/deseason: their
#: forecast errors are unchanged by adding back the known trend and season.
CLASSICAL_PREFIXES = ("ar_", "ets_", "seasonal_naive_")


def record_steps(ds: xr.Dataset, transform: SeriesTransform) -> np.ndarray:
    """Record step index of every step of every window (trajectory, time), int64."""
    starts = np.asarray(ds["window_start_index"].values, dtype=np.int64)
    return starts[:, None] + transform.options.offset + np.arange(ds.sizes["time"])


def levels(transform: SeriesTransform, original: np.ndarray, steps: np.ndarray, mean: np.ndarray,
           std: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
    """Predicted mean and std (N, T, d) of the record at ``steps`` (N, T) from the model's
    output (N, T, d) on the model series; ``original`` (T_record, d) the record."""
    d = original.shape[1]
    base = transform.base(steps, d)
    if not transform.options.difference:
        return mean + base, std
    z = transform.residual(original)  # observed residual levels, (T_record, d)
    last = z[steps[:, context - 1]]  # the level at the last context step of each window
    out = np.empty_like(mean)
    out[:, :context] = z[steps[:, :context] - 1] + mean[:, :context]  # one step ahead from the observed level
    out[:, context:] = last[:, None] + np.cumsum(mean[:, context:], axis=1)
    sd = std.copy()  # the forecast's step errors taken as independent: variances add
    sd[:, context:] = np.sqrt(np.cumsum(std[:, context:] ** 2, axis=1))
    return out + base, sd


def restore(ds: xr.Dataset, transform: SeriesTransform, original: np.ndarray, encoder: Any, context: int,
            horizon: int | None, keep_classical: bool) -> tuple[xr.Dataset, dict[str, Any]]:
    """One window Dataset in the record's units and its metrics recomputed there ({} when the
    Dataset had none, as the future). Adds ``mse_transform``: the error of the transform alone
    (trend + season, and the last level held with differencing: the model's residual forecast 0)."""
    steps = record_steps(ds, transform)
    n = original.shape[0]
    truth = np.where((steps < n)[..., None], original[np.minimum(steps, n - 1)], np.nan)
    mean, std = levels(transform, original, steps, ds["prediction_mean"].values, ds["prediction_std"].values,
                       context)
    out = ds.copy()
    for name, value in (("state", truth), ("prediction_mean", mean), ("prediction_std", std)):
        out[name] = (ds[name].dims, value, dict(ds[name].attrs))
    if "baseline_mean" in ds:  # the classical forecasts, also made on the model series
        zeros = np.zeros_like(mean)
        restored = [levels(transform, original, steps, b, zeros, context)[0] for b in ds["baseline_mean"].values]
        out["baseline_mean"] = (ds["baseline_mean"].dims, np.stack(restored), dict(ds["baseline_mean"].attrs))
    if transform.options.offset:
        out = out.assign_coords(window_start_index=("trajectory", steps[:, 0], dict(ds["window_start_index"].attrs)))
    old = json.loads(ds.attrs.get("metrics", "{}"))
    metrics: dict[str, Any] = {}
    if old:
        metrics, _ = encoder.score(truth, mean, out, context, horizon, None, std=std)
        zero, _ = levels(transform, original, steps, np.zeros_like(mean), np.zeros_like(std), context)
        metrics["mse_transform"] = forecast_mse(truth, zero, forecast_window(truth.shape[1], context, horizon))
        if "baseline_mean" in out:  # rescored in the record's units (with differencing too)
            window = forecast_window(truth.shape[1], context, horizon)
            rescored = baseline_scores(truth, dict(zip(out["baseline"].values.tolist(),
                                                       out["baseline_mean"].values)), window)
            metrics.update({k: rescored.get(k, v) for k, v in old.items() if k.startswith(CLASSICAL_PREFIXES)})
        elif keep_classical:
            metrics.update({k: v for k, v in old.items() if k.startswith(CLASSICAL_PREFIXES)})
    out.attrs = {**ds.attrs, "series_transform": transform.to_json(), "metrics": json.dumps(metrics, sort_keys=True)}
    return out, metrics


def restore_all(job: Any, rec: Any) -> Any:
    """Every window Dataset of ``rec`` (scored splits and the future) and its metrics in the
    record's units (`restore`); the classical scores are rescored there from their forecasts
    (``baseline_mean``, put back in the record's units like the model's). Returns ``rec``."""
    transform: SeriesTransform = job.splits.extra["transform"]
    original = job.splits.extra["original"].values
    keep = not transform.options.difference
    for name, ds in list(rec.datasets.items()):
        rec.datasets[name], metrics = restore(ds, transform, original, rec.encoder, rec.context, job.horizon, keep)
        if name in rec.all_metrics:
            rec.all_metrics[name] = metrics
    rec.dataset = rec.datasets["test"]
    rec.metrics = rec.all_metrics.get("test", rec.metrics)
    return rec


__all__ = ["CLASSICAL_PREFIXES", "levels", "record_steps", "restore", "restore_all"]
