"""Forecast metrics: pure functions on arrays (numpy arrays or CPU torch tensors).

Shapes used throughout:
    truth, pred : (N, T, d)  trajectories in physical units
    mask        : (T,) bool  the scored time steps (the forecast window); None = all steps
    time        : (T,)       time in the system's units

All errors are taken on the raw (physical) state, the way the paper scores its protocols.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

# The valid-prediction-time threshold on the per-variable-std-normalised RMS error.
VPT_THRESHOLD = 0.3


def _as_array(a) -> np.ndarray:
    if hasattr(a, "detach"):  # torch tensor
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def _check_pair(truth, pred) -> tuple[np.ndarray, np.ndarray]:
    truth, pred = _as_array(truth), _as_array(pred)
    if truth.shape != pred.shape:
        raise ValueError(f"truth and prediction shapes differ: {truth.shape} vs {pred.shape}")
    if truth.ndim != 3:
        raise ValueError(f"expected arrays of shape (trajectory, time, variable), got shape {truth.shape}")
    return truth, pred


def _time_mask(mask, T: int) -> np.ndarray:
    if mask is None:
        return np.ones(T, dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (T,):
        raise ValueError(f"mask must have shape ({T},) (one flag per time step), got {mask.shape}")
    if not mask.any():
        raise ValueError("the mask selects no time step: nothing to score")
    return mask


def forecast_window(n_steps: int, context: int, horizon: int | None = None) -> np.ndarray:
    """Boolean mask (T,) of the scored steps: ``context <= t < context + horizon``
    (``horizon=None``: to the end)."""
    if not 1 <= context < n_steps:
        raise ValueError(f"context ({context}) must be in [1, {n_steps - 1}] for {n_steps} time steps")
    end = n_steps if horizon is None else context + horizon
    if horizon is not None and (horizon < 1 or end > n_steps):
        raise ValueError(f"horizon ({horizon}) must be in [1, {n_steps - context}] "
                         f"(the steps after a context of {context} in {n_steps})")
    m = np.zeros(n_steps, dtype=bool)
    m[context:end] = True
    return m


def forecast_mse(truth, pred, mask=None) -> float:
    """Mean squared error over trajectories, the masked steps and variables (scalar)."""
    truth, pred = _check_pair(truth, pred)
    m = _time_mask(mask, truth.shape[1])
    return float(np.mean((truth[:, m] - pred[:, m]) ** 2))


def forecast_mae(truth, pred, mask=None) -> float:
    """Mean absolute error over trajectories, the masked steps and variables (scalar)."""
    truth, pred = _check_pair(truth, pred)
    m = _time_mask(mask, truth.shape[1])
    return float(np.mean(np.abs(truth[:, m] - pred[:, m])))


#: The fraction of a Gaussian within 2 standard deviations of its mean: what `interval_coverage`
#: returns at k = 2 for a calibrated Gaussian forecast.
GAUSSIAN_2STD = 0.9544997361036416


def interval_coverage(truth, mean, std, mask=None, k: float = 2.0) -> float:
    """The fraction of masked (trajectory, step, variable) entries whose truth lies within
    ``mean +- k std`` (k = 2: `GAUSSIAN_2STD` for a calibrated Gaussian forecast; lower means
    overconfident). ``std`` has ``mean``'s shape; non-finite entries count as misses."""
    truth, mean = _check_pair(truth, mean)
    std = np.asarray(std, dtype=np.float64)
    if std.shape != mean.shape:
        raise ValueError(f"std must have the forecast's shape {mean.shape}, got {std.shape}")
    if not k > 0:
        raise ValueError(f"k must be positive, got {k!r}")
    m = _time_mask(mask, truth.shape[1])
    with np.errstate(invalid="ignore"):
        inside = np.abs(truth[:, m] - mean[:, m]) <= k * std[:, m]
    return float(np.mean(inside))


def coverage_scale(truth, mean, std, mask=None, k: float = 2.0, level: float = GAUSSIAN_2STD) -> float:
    """The smallest factor c such that ``mean +- k c std`` holds at least ``level`` of the masked
    finite entries (`interval_coverage` of ``c * std`` >= level): the scale that calibrates a band
    on data it did not train on (e.g. the validation block), to be applied elsewhere. Entries with
    zero std and a nonzero error need c = inf; ValueError if no entry is finite."""
    truth, mean = _check_pair(truth, mean)
    std = np.asarray(std, dtype=np.float64)
    if std.shape != mean.shape:
        raise ValueError(f"std must have the forecast's shape {mean.shape}, got {std.shape}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    m = _time_mask(mask, truth.shape[1])
    err, sd = np.abs(truth[:, m] - mean[:, m]).ravel(), std[:, m].ravel()
    ok = np.isfinite(err) & np.isfinite(sd)
    if not ok.any():
        raise ValueError("no finite forecast value to calibrate on")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(err[ok] == 0, 0.0, err[ok] / (k * sd[ok]))
    ratio = np.sort(ratio)
    return float(ratio[int(np.ceil(level * ratio.size)) - 1])


def per_variable_mse(truth, pred, mask=None) -> np.ndarray:
    """MSE per variable, shape (d,) (mean over trajectories and masked steps)."""
    truth, pred = _check_pair(truth, pred)
    m = _time_mask(mask, truth.shape[1])
    return np.mean((truth[:, m] - pred[:, m]) ** 2, axis=(0, 1))


def per_variable_mae(truth, pred, mask=None) -> np.ndarray:
    """MAE per variable, shape (d,)."""
    truth, pred = _check_pair(truth, pred)
    m = _time_mask(mask, truth.shape[1])
    return np.mean(np.abs(truth[:, m] - pred[:, m]), axis=(0, 1))


def persistence_forecast(truth, context: int) -> np.ndarray:
    """The trivial forecast that holds the last context value: (N, T, d); steps before
    ``context`` are the truth itself."""
    truth = _as_array(truth)
    out = truth.copy()
    out[:, context:] = truth[:, context - 1 : context]
    return out


def zero_forecast(truth) -> np.ndarray:
    """The trivial forecast that predicts zero everywhere: (N, T, d)."""
    return np.zeros_like(_as_array(truth))


def normalised_error(truth, pred, scale=None) -> np.ndarray:
    """Normalised error per trajectory and step, shape (N, T):

        E[n, t] = sqrt( mean_i ( (pred - truth)[n, t, i] / scale_i )^2 )

    ``scale`` (d,) defaults to the per-variable standard deviation of ``truth`` over all
    trajectories and steps (the NRMSE of Pathak et al. 2018 / Vlachas et al. 2020):
    E = 1 means an error as large as the attractor's typical spread in every variable.
    """
    truth, pred = _check_pair(truth, pred)
    if scale is None:
        scale = truth.reshape(-1, truth.shape[-1]).std(axis=0)
    scale = np.asarray(scale, dtype=np.float64)
    scale = np.where(scale > 0, scale, 1.0)
    return np.sqrt(np.mean(((pred - truth) / scale) ** 2, axis=-1))


def valid_prediction_time(truth, pred, time, context: int, *, threshold: float = VPT_THRESHOLD,
                          time_scale: float = 1.0, scale=None, reduce: str | None = "median"):
    """Valid prediction time: how long the forecast stays within ``threshold`` of the truth.

    For each trajectory, with ``E`` from :func:`normalised_error` and k* the first forecast
    step (k >= context) with E > threshold, VPT = t[k* - 1] - t[context - 1], i.e. the time
    elapsed since the last observed step until the last step still valid (0 when the first
    forecast step already fails; t[T-1] - t[context-1], a lower bound, when it never fails).
    Divided by ``time_scale`` (e.g. the Lyapunov time 1/lambda_max). ``reduce``: "median"
    or "mean" over trajectories (float), or None for the (N,) array.
    """
    truth, pred = _check_pair(truth, pred)
    time = _as_array(time)
    N, T, _ = truth.shape
    if time.shape != (T,):
        raise ValueError(f"time must have shape ({T},), got {time.shape}")
    if not 1 <= context < T:
        raise ValueError(f"context ({context}) must be in [1, {T - 1}]")
    err = normalised_error(truth, pred, scale)[:, context:]          # (N, T - context)
    bad = err > threshold
    first_bad = np.where(bad.any(axis=1), bad.argmax(axis=1), T - context)  # offset of k*
    last_valid = context - 1 + first_bad                               # index k* - 1
    vpt = (time[last_valid] - time[context - 1]) / time_scale
    if reduce is None:
        return vpt
    if reduce == "median":
        return float(np.median(vpt))
    if reduce == "mean":
        return float(np.mean(vpt))
    raise ValueError(f"reduce must be 'median', 'mean' or None, got {reduce!r}")


def baseline_scores(truth, forecasts: Mapping[str, object], mask) -> dict[str, float]:
    """``<name>_mse`` and ``<name>_mae`` of each named forecast (N, T, d) against ``truth``
    over the scored steps ``mask``: the same scoring as `forecast_metrics`' ``mse``/``mae``
    (physical units)."""
    out: dict[str, float] = {}
    for name, pred in forecasts.items():
        out[f"{name}_mse"] = forecast_mse(truth, pred, mask)
        out[f"{name}_mae"] = forecast_mae(truth, pred, mask)
    return out


def forecast_metrics(truth, pred, mask, *, variable_names: Sequence[str], context: int,
                     time=None, time_scale: float | None = None, chaotic: bool = False,
                     vpt_scale=None) -> dict[str, float]:
    """The standard metrics dict of a reconstruction.

    Keys: ``mse``, ``mae``, ``mse_<var>``, ``mae_<var>``, ``mse_persistence`` (last
    context value held), ``mse_zero`` (predict zero), and for chaotic systems (with
    ``time`` and ``time_scale`` given) ``vpt`` in units of ``time_scale`` (median over
    trajectories, threshold :data:`VPT_THRESHOLD`, per-variable std normalisation).
    """
    truth, pred = _check_pair(truth, pred)
    if len(variable_names) != truth.shape[-1]:
        raise ValueError(f"{len(variable_names)} variable names for {truth.shape[-1]} variables")
    out: dict[str, float] = {
        "mse": forecast_mse(truth, pred, mask),
        "mae": forecast_mae(truth, pred, mask),
    }
    for name, v in zip(variable_names, per_variable_mse(truth, pred, mask)):
        out[f"mse_{name}"] = float(v)
    for name, v in zip(variable_names, per_variable_mae(truth, pred, mask)):
        out[f"mae_{name}"] = float(v)
    out["mse_persistence"] = forecast_mse(truth, persistence_forecast(truth, context), mask)
    out["mse_zero"] = forecast_mse(truth, zero_forecast(truth), mask)
    if chaotic and time is not None and time_scale:
        out["vpt"] = valid_prediction_time(truth, pred, time, context, time_scale=time_scale,
                                           scale=vpt_scale)
    return out
