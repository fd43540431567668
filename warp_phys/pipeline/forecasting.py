"""Forecasting new trajectories with a trained reconstruction (`Reconstruction.forecast`).

New data (trajectory, time, variable) in physical units are checked against the training
data (same variables, same time step), encoded with the reconstruction's encoder, forecast
by its model from the first ``context`` steps and returned in the layout of
``rec.dataset`` (`warp_phys.pipeline.layout.result_dataset`), flagged for implausible
forecasts (`warp_phys.pipeline.plausibility`).

Layout of a forecast beyond the given data (``horizon=H``): ``context + H`` steps; ``state``
holds the given data on those steps and NaN where none was given; ``time`` continues the
given times with their step; metrics are computed only when the truth covers every forecast
step (else ``metrics`` is "{}").
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import xarray as xr

from warp_phys.validation import InputError, check_context, check_int, check_memory, check_trajectories

from .layout import result_dataset
from .plausibility import flag_dataset, warn_implausible
from .prediction import predict

#: Relative tolerance on the time step of new data against the training step.
DT_RTOL = 1e-3
#: Attributes of ``rec.dataset`` that describe the model (copied to a forecast of new data).
PROVENANCE_KEYS = ("system", "metrics_description", "model", "prior", "seed", "device", "warp_phys_version",
                   "recipe", "model_options", "protocol")


def _as_new_data(new_data: Any, time: Any, names: list[str]) -> xr.Dataset:
    """``new_data`` as a Dataset ``state(trajectory, time, variable)`` with the training
    variable names; InputError naming count or names when they do not match."""
    from warp_phys.data import as_dataset

    d = len(names)
    if isinstance(new_data, xr.Dataset):
        if "state" in new_data.data_vars and "variable" in new_data["state"].dims:
            got = int(new_data.sizes["variable"])
            if got != d:
                raise InputError(f"new_data has {got} variables but the model was trained on {d} ({names}); "
                                 f"pass state(trajectory, time, variable) with these {d} variables")
        ds = as_dataset(new_data, time, variable_names=None if "variable" in new_data.coords else names)
        given = [str(v) for v in ds["variable"].values]
        if given != names:
            fix = (f"reorder them with new_data.sel(variable={names})" if sorted(given) == sorted(names)
                   else f"rename them with new_data.assign_coords(variable={names}) if they are the same quantities")
            raise InputError(f"new_data's variables {given} do not match the training variables {names}; {fix}")
        ds = ds[["state"]]
        if "simulation_seed" in ds.attrs:  # a result Dataset: its "seed" is a training seed, not the data's
            ds.attrs = {k: v for k, v in ds.attrs.items() if k != "seed"}
        return ds
    a = check_trajectories(new_data, "new_data")
    if a.shape[-1] != d:
        raise InputError(f"new_data has {a.shape[-1]} variables (last axis of shape {a.shape}) but the model was "
                         f"trained on {d} ({names}); pass an array (trajectory, time, {d})")
    return as_dataset(a, time, variable_names=names)


def _check_step(t: np.ndarray, train_t: np.ndarray) -> float:
    """The time step of new data; InputError naming both steps unless it is the training step."""
    dt, dt_train = float(np.median(np.diff(t))), float(np.median(np.diff(train_t)))
    if abs(dt - dt_train) > DT_RTOL * abs(dt_train):
        raise InputError(f"new_data's time step {dt:.6g} differs from the training time step {dt_train:.6g} "
                         f"(tolerance {DT_RTOL:g} relative); the model only knows the training step: resample "
                         f"the data onto it, e.g. ds.interp(time=t0 + {dt_train:.6g} * np.arange(n))")
    return dt


def _lengths(n_steps: int, context: Any, horizon: Any, default_context: int) -> tuple[int, int]:
    """(context, output steps) checked against the ``n_steps`` given."""
    context = default_context if context is None else check_int(context, "context", minimum=1)
    if horizon is None:
        if context >= n_steps:
            raise InputError(f"context ({context} steps) must be shorter than new_data ({n_steps} steps) to leave "
                             f"steps to forecast; pass a smaller context, longer data, or horizon=<steps> to "
                             "forecast beyond the data")
        return check_context(context, n_steps), n_steps
    horizon = check_int(horizon, "horizon", minimum=1)
    if context > n_steps:
        raise InputError(f"new_data has {n_steps} steps, fewer than context={context}; give at least {context} "
                         "observed steps or a smaller context")
    return context, context + horizon


def _on_grid(ds: xr.Dataset, n_out: int, dt: float) -> xr.Dataset:
    """``ds`` on ``n_out`` steps: truncated, or continued with NaN on times ``dt`` apart."""
    t = np.asarray(ds["time"].values, dtype=np.float64)
    keep = min(t.shape[0], n_out)
    ds = ds.isel(time=slice(0, keep))
    if n_out == keep:
        return ds
    extra = t[keep - 1] + dt * np.arange(1, n_out - keep + 1)
    return ds.reindex(time=np.concatenate([t[:keep], extra]))


def forecast_new_data(rec: Any, new_data: Any, time: Any = None, context: int | None = None,
                      horizon: int | None = None, start: Any = None, covariates: Any = None) -> xr.Dataset:
    """The body of `Reconstruction.forecast` (see there). Every check comes before the model runs."""
    if rec.variable != "state" or "variable" not in rec.dataset.dims:
        raise InputError(f"forecast() takes state trajectories (trajectory, time, variable); this reconstruction "
                         f"models the field {rec.variable!r} on a reduced basis: forecast new fields by "
                         "reconstructing with them as a test split")
    if "series_transform" in rec.dataset.attrs:
        raise InputError("this reconstruction's model forecasts the series minus its fitted trend and season (or its "
                         "differences; see dataset.attrs['series_transform']), so rec.forecast(new_data) would read "
                         "data in the record's units wrongly; use rec.datasets['future'], or reconstruct(...) again "
                         "on the longer record")
    known = getattr(rec.encoder, "known", None)
    if known is None and (start is not None or covariates is not None):
        raise InputError("start= and covariates= give the known inputs of a model trained with phases=/covariates=; "
                         "this one has none: drop them")
    names = [str(v) for v in rec.dataset["variable"].values]
    is_array = not isinstance(new_data, xr.Dataset)
    ds = _as_new_data(new_data, time, names)
    train_t = np.asarray(rec.dataset["time"].values, dtype=np.float64)
    t = np.asarray(ds["time"].values, dtype=np.float64)
    dt = _check_step(t, train_t)
    context, n_out = _lengths(t.shape[0], context, horizon, rec.context)
    check_memory(ds.sizes["trajectory"] * n_out * len(names) * 4, "trajectory x steps x variables x 4 arrays",
                 "forecast fewer trajectories or a shorter horizon at a time")
    if is_array:  # an array carries no units: those of the training data
        units = rec.dataset["state"].attrs.get("units", "1")
        ds = ds.assign({"state": ds["state"].assign_attrs(units=units)})
        ds = ds.assign_coords(time=("time", t, dict(rec.dataset["time"].attrs)))
    truth_ds = _on_grid(ds, n_out, dt)
    truth = truth_ds["state"].values
    given = min(t.shape[0], n_out)
    held = truth.copy()
    held[:, given:] = truth[:, given - 1:given]  # finite filler: steps after the context are never read
    filled = truth_ds.assign({"state": (truth_ds["state"].dims, held, truth_ds["state"].attrs)})
    if known is not None:  # phases from the training record's step index of ``start``; covariates as given
        filled["known"] = rec.encoder.new_known(held.shape[0], n_out, start, covariates)
    t_out = np.asarray(truth_ds["time"].values, dtype=np.float64)
    tau = torch.as_tensor((t_out - t_out[0]) / (train_t[-1] - train_t[0]), dtype=torch.float32)
    mean, std = predict(rec.model, rec.encoder, rec.model_name, filled, tau, context, rec.device)

    metrics: dict[str, float] = {}
    if np.isfinite(truth).all():
        lyap = getattr(rec.system, "lyapunov_exponent", None)
        metrics, _ = rec.encoder.score(truth, mean, truth_ds, context, None, 1.0 / lyap if lyap else None, std=std)
    attrs = {k: rec.dataset.attrs[k] for k in PROVENANCE_KEYS if k in rec.dataset.attrs}
    attrs.update(rec.encoder.attrs())
    attrs.update({"title": "forecast of new data by a trained warp_phys reconstruction", "split": "new_data",
                  "split_description": "new trajectories given to Reconstruction.forecast (not seen in training)",
                  "context_steps": int(context), "forecast_steps": int(n_out - context),
                  "steps_beyond_given_data": int(n_out - given)})
    out = result_dataset(truth_ds, "state", mean, std, context, attrs, metrics,
                         str(rec.dataset["prediction_std"].attrs.get("long_name", "predictive standard deviation")))
    count, non_finite = flag_dataset(out, "state", getattr(rec.encoder, "band", None))
    warn_implausible(count, non_finite, out.sizes["trajectory"], "new-data", stacklevel=4)
    return out


__all__ = ["DT_RTOL", "PROVENANCE_KEYS", "forecast_new_data"]
