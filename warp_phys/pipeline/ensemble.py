"""Deep ensembles: several reconstructions of the same data, their forecasts combined.

The members are runs scored on the same windows that differ in their seed (initialisation and
batch order) or in their settings. The ensemble forecasts the mean of the members' forecasts and,
as its uncertainty, the standard deviation of their equal-weight mixture,

    mean = (1/M) sum_m mu_m,      std = sqrt( (1/M) sum_m (sigma_m^2 + (mu_m - mean)^2) ),

so the spread between members adds to their own predictive std (zero for point models). The
metrics are recomputed on the combined forecast, in the same units and over the same steps as
the members' (`warp_phys.metrics.forecast_metrics`), with ``coverage_2std``: the fraction of scored
values within mean +- 2 std (0.954 for a calibrated Gaussian; `warp_phys.metrics.interval_coverage`).
Metrics of the data alone (the classical forecasters, persistence) are carried over where every
member has the same value.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import xarray as xr

from warp_phys.validation import InputError

from .plausibility import flag_dataset

if TYPE_CHECKING:  # pragma: no cover
    from .results import Reconstruction

#: Attributes that describe one member's model; the ensemble lists them per member instead.
MEMBER_ATTRS = ("model", "prior", "seed", "model_options", "recipe", "device")


def _member_dataset(rec: "Reconstruction", split: str) -> xr.Dataset:
    if split not in rec.datasets:
        raise InputError(f"a member has no split {split!r}; available: {sorted(rec.datasets)}")
    return rec.datasets[split]


def _check_same_windows(datasets: Sequence[xr.Dataset], variable: str) -> None:
    """Refuse members that were not scored on the same windows (truth, time, context)."""
    first = datasets[0]
    for i, ds in enumerate(datasets[1:], start=1):
        same = (ds[variable].shape == first[variable].shape
                and np.array_equal(ds["context"].values, first["context"].values)
                and np.array_equal(ds["time"].values, first["time"].values)
                and np.array_equal(ds[variable].values, first[variable].values, equal_nan=True))
        if not same:
            raise InputError(f"member {i} was not scored on the same windows as member 0 (truth, time or context "
                             "differ): an ensemble combines runs on the same data, split and window settings; seed= "
                             "also draws a system's trajectories and the split of your trajectories, so give every "
                             "member the same data_seed= (reconstruct(..., seed=s, data_seed=0))")


def _metrics(rec: "Reconstruction", ds: xr.Dataset, mean: np.ndarray, std: np.ndarray, split: str,
             members: Sequence[dict]) -> dict[str, float]:
    """The members' scorer on the combined forecast, plus the data-only metrics every member shares;
    none where the truth after the context is unknown (the future, new data beyond what was given)."""
    truth = ds[rec.variable].transpose("trajectory", "time", ...).values
    if split == "future" or not np.isfinite(truth).all():
        return {}
    context, horizon = (int(ds.attrs["context_steps"]), None) if split == "new_data" else (rec.context, rec.horizon)
    lyap = getattr(rec.system, "lyapunov_exponent", None)
    met, _ = rec.encoder.score(truth, mean, ds, context, horizon, 1.0 / lyap if lyap else None, std=std)
    for key, value in members[0].items():
        if key not in met and key != "coverage_2std" and all(m.get(key) == value for m in members[1:]):
            met[key] = value
    return met


def _mixture(datasets: Sequence[xr.Dataset]) -> tuple[np.ndarray, np.ndarray]:
    """The members' mean forecast and their equal-weight mixture's std, (N, T, d) each."""
    means = np.stack([ds["prediction_mean"].transpose("trajectory", "time", "variable").values for ds in datasets])
    stds = np.stack([ds["prediction_std"].transpose("trajectory", "time", "variable").values for ds in datasets])
    mean = means.mean(axis=0)
    return mean, np.sqrt(np.mean(stds ** 2 + (means - mean) ** 2, axis=0))


def validation_scale(members: Sequence["Reconstruction"]) -> float:
    """The factor that makes the ensemble's +-2 std band hold 95.4 % of the validation split's
    forecast values (`warp_phys.metrics.coverage_scale` on ``datasets["val"]``, over member 0's
    context and horizon); InputError where the members have no scored validation split."""
    from warp_phys.metrics import coverage_scale, forecast_window

    if any("val" not in m.datasets for m in members):
        raise InputError("calibrate=True scales the band on the validation split (rec.datasets['val']), which "
                         "reconstructions of a system, of your trajectories and of one long series score; data "
                         f"streamed from disk do not (these members have {sorted(members[0].datasets)})")
    datasets = [_member_dataset(m, "val") for m in members]
    _check_same_windows(datasets, members[0].variable)
    mean, std = _mixture(datasets)
    truth = datasets[0][members[0].variable].transpose("trajectory", "time", ...).values
    return coverage_scale(truth, mean, std, forecast_window(truth.shape[1], members[0].context, members[0].horizon))


def ensemble(members: Sequence["Reconstruction"], split: str = "test", *, new_data: Any = None,
             calibrate: bool = False, **forecast_options: Any) -> xr.Dataset:
    """The combined forecast of ``members`` (at least two `Reconstruction`\\ s scored on the same
    windows, e.g. ``[reconstruct(data=y, window=W, ..., seed=s) for s in range(4)]`` for one long
    series, or ``[reconstruct(system="lorenz", seed=s, data_seed=0) for s in range(4)]``: the
    same ``data_seed`` keeps one data set) on ``split``; or, with ``new_data``, of the members'
    ``rec.forecast(new_data, **forecast_options)`` (``time=``, ``context=``, ``horizon=``, ...).

    Returns a result Dataset in the members' layout (truth, ``prediction_mean``,
    ``prediction_std``, ``context``, ``implausible``, the classical forecasts of member 0) with
    the mean forecast, the mixture std (module docstring) and the recomputed metrics (JSON
    attribute ``metrics``, physical units, over member 0's context and horizon; none for
    ``split="future"`` or where new data end before the horizon); attributes ``ensemble_size``
    and ``members`` (each member's model, prior, seed and options). A member
    whose forecast of a window is non-finite makes the ensemble's non-finite there (flagged in
    ``implausible``, never hidden). Field reconstructions are refused (InputError).

    ``calibrate=True`` multiplies the std by `validation_scale`: the factor that makes the ±2 std
    band hold 95.4 % of the validation split's values (chosen on validation, never on the split
    scored; attribute ``std_scale``). It needs members with a scored validation split
    (``rec.datasets["val"]``: systems, your trajectories and one long series; not data streamed
    from disk)."""
    members = list(members)
    if len(members) < 2:
        raise InputError(f"an ensemble needs at least two reconstructions, got {len(members)}")
    variable = members[0].variable
    if variable != "state" or any(m.variable != variable for m in members):
        raise InputError("ensemble combines state reconstructions (ODE systems and your own data); field "
                         f"reconstructions are not supported (variables {sorted({m.variable for m in members})})")
    if new_data is not None:
        if split != "test":
            raise InputError(f"give split={split!r} (a scored split of the members) or new_data=, not both")
        split = "new_data"
        datasets = [m.forecast(new_data, **forecast_options) for m in members]
    elif forecast_options:
        raise InputError(f"{sorted(forecast_options)} are options of rec.forecast: pass them with new_data=")
    else:
        datasets = [_member_dataset(m, split) for m in members]
    _check_same_windows(datasets, variable)
    mean, std = _mixture(datasets)
    scale = validation_scale(members) if calibrate else None
    if scale is not None:
        std = std * scale
    out = datasets[0].drop_vars("implausible", errors="ignore").copy(deep=True)
    out["prediction_mean"].values[:] = mean
    out["prediction_std"].values[:] = std
    out["prediction_std"].attrs["long_name"] = ("predictive standard deviation of the ensemble: the members' "
                                                "spread and their own std (equal-weight mixture)"
                                                + ("" if scale is None else ", times std_scale (calibrated on the "
                                                   "validation split)"))
    if scale is not None:
        out.attrs["std_scale"] = scale
    member_metrics = [json.loads(ds.attrs.get("metrics", "{}")) for ds in datasets]
    described = [{k: ds.attrs.get(k) for k in MEMBER_ATTRS if k in ds.attrs} for ds in datasets]
    for key in MEMBER_ATTRS:
        out.attrs.pop(key, None)
    names = sorted({str(d.get("model")) for d in described})
    out.attrs.update(model=f"ensemble of {len(members)} ({', '.join(names)})", ensemble_size=len(members),
                     members=json.dumps(described, default=str),
                     metrics=json.dumps(_metrics(members[0], out, mean, std, split, member_metrics), sort_keys=True))
    flag_dataset(out, variable, getattr(members[0].encoder, "band", None))
    return out


__all__ = ["ensemble", "validation_scale"]
