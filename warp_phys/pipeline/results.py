"""The result of the pipeline: `Reconstruction`, its Dataset, and the metrics table."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import torch
import xarray as xr

from warp_phys.context_scaling import innermost
from warp_phys.data import normalised_time
from warp_phys.metrics import VPT_THRESHOLD

from .layout import result_dataset
from .plausibility import IMPLAUSIBLE_K, flag_dataset, warn_implausible

if TYPE_CHECKING:  # pragma: no cover
    from warp_phys.recipes import RecipeBase
    from warp_phys.scaling import Scaler
    from warp_phys.sequence import SequenceModel
    from warp_phys.systems.base import System
    from warp_phys.training import TrainHistory

    from .encoders import FieldEncoder, StateEncoder


def format_metrics(all_metrics: Mapping[str, Mapping[str, float]], title: str = "") -> str:
    """Metrics table: one row per metric, one column per split."""
    splits = list(all_metrics)
    keys: list[str] = []
    for m in all_metrics.values():
        keys += [k for k in m if k not in keys]
    w = max([len(k) for k in keys] + [6])
    lines = [title] if title else []
    lines.append(f"{'metric':<{w}}  " + "  ".join(f"{s:>12}" for s in splits))
    for k in keys:
        row = [all_metrics[s].get(k) for s in splits]
        lines.append(f"{k:<{w}}  " + "  ".join(f"{v:>12.4g}" if v is not None else f"{'-':>12}" for v in row))
    notes = []
    if any("vpt" in m for m in all_metrics.values()):
        notes.append(f"vpt: valid prediction time in Lyapunov times (median over trajectories; first step "
                     f"where the per-variable-std-normalised RMS error exceeds {VPT_THRESHOLD})")
    if any("coverage_2std" in m for m in all_metrics.values()):
        notes.append("coverage_2std: fraction of forecast values within prediction_mean +- 2 prediction_std "
                     "(0.954 for a calibrated Gaussian band; lower: the band is too narrow)")
    if any("mse_persistence" in m for m in all_metrics.values()):
        notes.append("mse_persistence / mse_zero: trivial forecasts (last context value held / zero), for scale")
    return "\n".join(lines + notes)


@dataclass
class Reconstruction:
    """Result of `warp_phys.reconstruct`.

    Attributes:
        dataset: the primary test split (out of distribution when the system defines one)
            with the truth (``state``, or the field variable for field systems; physical
            units), ``prediction_mean``, ``prediction_std``, the ``context`` (time) int8 mask
            (1 = observed), parameter coordinates and the metrics as a JSON attribute.
            Field systems add ``relative_l2_error`` (trajectory, time).
        datasets: every scored split by name ("test", and "test_id" when the primary is
            out of distribution; "val" too for one long series, scored in the record's units).
        metrics: metrics of the primary split (`warp_phys.metrics.forecast_metrics`, or
            `warp_phys.fields.metrics.field_metrics` for fields).
        all_metrics: the metrics of every split.
        model: the trained `SequenceModel` (normalised units: see ``encoder``).
        history: the Trainer's history (None for closed-form models).
        system: the `System`, or None for user data.
        encoder: maps data to model coordinates and back (`StateEncoder` or `FieldEncoder`).
        recipe: the recipe actually used.
        error_curve: fields only: mean relative L2 error vs time (DataArray over ``time``).

    Every scored split also carries ``implausible`` (trajectory,) bool: the forecast left the
    plausible band of the training data or is non-finite (`warp_phys.pipeline.plausibility`:
    beyond k = 10 training std outside the training range, per variable), and the attribute
    ``implausible_count``; a RuntimeWarning names how many. The other variables are unchanged.
    """

    dataset: xr.Dataset
    datasets: dict[str, xr.Dataset]
    metrics: dict[str, float]
    model: "SequenceModel"
    history: "TrainHistory | None"
    system: "System | None"
    encoder: "StateEncoder | FieldEncoder"
    recipe: "RecipeBase"
    context: int
    horizon: int | None
    model_name: str
    prior_name: str | None
    device: torch.device
    seed: int
    all_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    runtime_s: float = float("nan")
    error_curve: xr.DataArray | None = None

    def __post_init__(self) -> None:
        """Flag implausible forecasts in every scored split (adds ``implausible``; nothing else
        changes). Non-finite forecasts were already warned about by the engine; finite runaways
        are warned about here."""
        band = getattr(self.encoder, "band", None)
        for name, ds in [*self.datasets.items(), ("test", self.dataset)]:
            if "implausible" in ds or not {"prediction_mean", "context", self.variable} <= set(ds.variables):
                continue
            count, non_finite = flag_dataset(ds, self.variable, band)
            if count > non_finite:
                warn_implausible(count - non_finite, 0, ds.sizes["trajectory"], f"{name!r}", stacklevel=4)

    # ---- the encoder's parts ---------------------------------------------------------
    @property
    def scaler(self) -> "Scaler":
        """The normalisation fit on the training split (states, or basis coefficients)."""
        return self.encoder.scaler

    @property
    def basis(self) -> Any:
        """The reduced basis of a field reconstruction (None for states)."""
        return self.encoder.basis

    @property
    def variable(self) -> str:
        """The name of the predicted data variable ("state", "vorticity", "u", ...)."""
        return self.encoder.variable

    def encode(self, data: Any) -> torch.Tensor:
        """Normalised model coordinates (N, T, r) of a Dataset or physical array."""
        return self.encoder.encode(data)

    def decode(self, z: Any) -> torch.Tensor:
        """Physical data from normalised model coordinates (N, T, r)."""
        z = torch.as_tensor(z)
        mean, _ = self.encoder.decode(z, torch.zeros_like(z))
        return torch.as_tensor(mean)

    # ---- helpers ------------------------------------------------------------------
    def _split(self, split: str) -> xr.Dataset:
        if split not in self.datasets:
            raise ValueError(f"unknown split {split!r}; available: {sorted(self.datasets)}")
        return self.datasets[split]

    def _inputs(self, ds: xr.Dataset, trajectory: Any) -> tuple[torch.Tensor, torch.Tensor, xr.Dataset]:
        """The sequence the model read during the forecast: truth in the context, its own
        forecast after; normalised, (B, T, r), with tau (T,). With known inputs (``phases=``,
        ``covariates=``) the known channels of the windows follow the targets: (B, T, d + k),
        the input of the WARP model inside `KnownInputs`; with ``context_scaling`` each window
        rescaled by its context's statistics, as that model reads it."""
        if "series_transform" in ds.attrs:
            raise ValueError("weights() / parameters() read the model's input sequence, but this split is in the "
                             "record's units after detrend= / deseason= / difference= was undone, not the residual "
                             "series the model read; reconstruct without those options to inspect the weights")
        if trajectory is not None:
            ds = ds.isel(trajectory=np.atleast_1d(np.asarray(trajectory)))
        ctx = ds["context"].values.astype(bool)
        truth = ds[self.variable].values
        seq = np.where(ctx.reshape((1, -1) + (1,) * (truth.ndim - 2)), truth, ds["prediction_mean"].values)
        known = getattr(self.encoder, "known", None)
        if getattr(self.encoder, "n_known", 0) and known is not None:
            if "window_start_index" not in ds.coords:
                raise ValueError("this model reads known inputs (phases/covariates) tied to the record's steps, and "
                                 "the split has no window_start_index to place them")
            index = np.asarray(ds["window_start_index"].values, dtype=np.int64)[:, None] + np.arange(ds.sizes["time"])
            seq = np.concatenate([seq, known.at(index)], axis=-1)  # the encoder normalises all d + k channels
        z = innermost(self.model, self.encoder.encode(seq).to(self.device), self.context)[1]  # as WARP reads it
        return z, normalised_time(ds["time"].values, device=self.device), ds

    def _warp(self, what: str) -> Any:
        """The WARP model that made the forecast: ``self.model``, or the one inside its wrappers
        (`KnownInputs`, `ContextScaled`: `warp_phys.context_scaling.innermost`); ValueError for
        any other model."""
        net = innermost(self.model)[0]
        if self.model_name != "warp" or not hasattr(net, "weights") or not hasattr(net, "interpret"):
            raise ValueError(f"{what}() needs a WARP model; this reconstruction used model={self.model_name!r}, "
                             "whose hidden state is not a weight vector")
        return net

    # ---- public API -----------------------------------------------------------------
    def weights(self, split: str = "test", trajectory: int | list[int] | None = None) -> xr.DataArray:
        """theta_t, the root-network weights along the forecast: DataArray (trajectory, time,
        weight). ``trajectory`` selects trajectories (None: all; N*T*D floats). WARP only; with
        known inputs (``phases=``, ``covariates=``) theta_t has read them too (the WARP model
        inside `KnownInputs` on the targets and the split's known channels). Not for a series
        reconstructed with ``detrend=``/``deseason=``/``difference=`` (ValueError)."""
        net = self._warp("weights")
        z, tau, ds = self._inputs(self._split(split), trajectory)
        self.model.eval()
        with torch.no_grad():
            w = net.weights(z, tau).detach().cpu().numpy()
        return xr.DataArray(w, dims=("trajectory", "time", "weight"),
                            coords={"trajectory": ds["trajectory"].values, "time": ds["time"],
                                    "weight": np.arange(w.shape[-1])},
                            name="theta",
                            attrs={"long_name": "root-network weights theta_t (flattened weights and biases)",
                                   "units": "1"})

    def parameters(self, split: str = "test", trajectory: int | list[int] | None = None) -> xr.Dataset:
        """Physical quantities the prior reads off the root network at every step (e.g. the
        grey-box prior's sigma, rho, beta) as (trajectory, time) variables, with the true
        per-trajectory values as coordinates ``<name>_true`` when known, and, for a model that
        holds them after the context (the grey box), the values its forecast holds as
        ``<name>_held`` (trajectory,) (`WARP.held_parameters`). WARP only (with known inputs
        too, as `weights`)."""
        net = self._warp("parameters")
        z, tau, ds = self._inputs(self._split(split), trajectory)
        self.model.eval()
        with torch.no_grad():
            out = net.interpret(z, tau)
        if not out:
            raise ValueError(f"the prior {self.prior_name!r} exposes no interpretable parameters; use "
                             "prior='grey_box' (physical parameters) or prior='quadratic' (field coefficients) "
                             "to read them off the weights")
        units = {p.name: (p.units, p.long_name) for p in self.system.parameters} if self.system is not None else {}
        data_vars = {}
        for name, val in out.items():
            u, ln = units.get(name, ("1", name))
            data_vars[name] = (("trajectory", "time"), val.detach().cpu().numpy(),
                               {"units": u, "long_name": f"inferred {ln}"})
        if getattr(net, "hold_after_context", False) and 0 < self.context < z.shape[1]:
            with torch.no_grad():
                held = net.held_parameters(z[:, :self.context], tau)
            for name, val in held.items():
                u, ln = units.get(name, ("1", name))
                data_vars[f"{name}_held"] = (("trajectory",), val.detach().cpu().numpy(),
                                             {"units": u, "long_name": f"{ln} held by the forecast after the context"})
        coords = {"trajectory": ds["trajectory"].values, "time": ds["time"]}
        for name in out:
            if name in ds.coords and ds[name].dims == ("trajectory",):
                coords[f"{name}_true"] = ("trajectory", ds[name].values, dict(ds[name].attrs))
        return xr.Dataset(data_vars, coords=coords,
                          attrs={"title": "parameters inferred by the prior along the forecast"})

    def forecast(self, new_data: xr.Dataset | np.ndarray, time: Any = None, context: int | None = None,
                 horizon: int | None = None, start: Any = None, covariates: Any = None) -> xr.Dataset:
        """Forecast new trajectories with the trained model, in the layout of ``dataset``.

        Args:
            new_data: array (trajectory, time, variable) in physical units with ``time`` (T,),
                or a Dataset with ``state(trajectory, time, variable)`` and a ``time``
                coordinate (the layout `warp_phys.reconstruct` accepts; named variables must
                be the training variables). The time step must be the training step
                (relative tolerance 1e-3) and the variables the training variables.
            context: observed steps read by the model (default: ``self.context``); the rest
                is forecast (one-step-ahead predictions inside the context, as in ``dataset``).
            horizon: None: forecast to the end of ``new_data`` (context < T). H: forecast H
                steps after the context, also beyond the given data (then only ``context``
                steps need be given): the result has context + H steps; ``state`` is the given
                data where there is some and NaN after; ``time`` continues with the data's step;
                the model's normalised time goes past 1 beyond the training length.
            start, covariates: a series model trained with known inputs (``phases=``/``covariates=``)
                needs them for new data. ``start``: the time of new_data's first step on the
                training record's axis (a number in its units, or a date; one, or one per
                trajectory): the phases are computed from the training record's step index
                (its first step is the phase origin), not from new_data's own index.
                ``covariates``: (steps, k) or (trajectory, steps, k) values for all context + H
                forecast steps (past the given data too).

        Returns a Dataset like ``dataset``: ``state`` (the given data as truth), ``prediction_mean``,
        ``prediction_std``, ``context`` mask, ``implausible`` (trajectory,) and attributes
        (provenance, ``split`` = "new_data", ``metrics`` as JSON, "{}" when the truth does not
        cover the forecast). Implausible forecasts raise a RuntimeWarning naming how many; NaN
        stays NaN. Bad input raises `warp_phys.validation.InputError` before the model runs.
        """
        from .forecasting import forecast_new_data

        return forecast_new_data(self, new_data, time=time, context=context, horizon=horizon, start=start,
                                 covariates=covariates)

    def plot(self, trajectory: int = 0, split: str | None = None, **options: Any):
        """States: truth vs forecast (±2 std band, context shaded) and a phase portrait.
        Fields: truth vs forecast at ``n_times`` lead times, their difference, and E(k).
        Returns a matplotlib Figure."""
        ds = self.dataset if split is None else self._split(split)
        if self.basis is not None:
            from warp_phys.fields.plotting import plot_field_reconstruction

            return plot_field_reconstruction(ds, trajectory, **options)
        from warp_phys.plotting import plot_reconstruction

        return plot_reconstruction(ds, trajectory, **options)

    def to_netcdf(self, path: Any, split: str | None = None) -> None:
        """Write the primary (or the named) split to NetCDF, atomically (never half-written)."""
        from warp_phys.io import to_netcdf

        to_netcdf(self.dataset if split is None else self._split(split), path)

    def summary(self) -> str:
        """A plain-text table of the metrics of every split."""
        text = format_metrics(self.all_metrics or {"test": self.metrics}, title=self._title())
        flagged = {name: int(ds.attrs.get("implausible_count", 0)) for name, ds in self.datasets.items()}
        notes = [f"{n} of {self.datasets[name].sizes['trajectory']} {name}" for name, n in flagged.items() if n]
        if notes:
            text += (f"\nimplausible forecasts (non-finite, or beyond k = {IMPLAUSIBLE_K:g} training std outside "
                     f"the training range): {', '.join(notes)} trajectories (see dataset['implausible'])")
        return text

    def _title(self) -> str:
        what = self.system.name if self.system is not None else "user data"
        basis = f", basis={self.basis.kind} r={self.basis.rank}" if self.basis is not None else ""
        return (f"{what}: model={self.model_name}, prior={self.prior_name or 'none'}{basis}, "
                f"context={self.context} steps, seed={self.seed}, runtime {self.runtime_s:.1f} s")

    def __repr__(self) -> str:
        key = "rel_l2" if "rel_l2" in self.metrics else "mse"
        return f"<Reconstruction {self._title()}; {key}={self.metrics.get(key, float('nan')):.4g}>"


__all__ = ["Reconstruction", "format_metrics", "result_dataset"]
