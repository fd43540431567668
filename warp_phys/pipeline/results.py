"""The result of the pipeline: `Reconstruction`, its Dataset, and the metrics table."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import torch
import xarray as xr

from warp_phys.data import normalised_time
from warp_phys.metrics import VPT_THRESHOLD

if TYPE_CHECKING:  # pragma: no cover
    from warp_phys.recipes import RecipeBase
    from warp_phys.scaling import Scaler
    from warp_phys.sequence import SequenceModel
    from warp_phys.systems.base import System
    from warp_phys.training import TrainHistory

    from .encoders import FieldEncoder, StateEncoder


def result_dataset(truth: xr.Dataset, variable: str, mean: np.ndarray, std: np.ndarray, context: int,
                   attrs: Mapping[str, Any], metrics: Mapping[str, float], std_long_name: str) -> xr.Dataset:
    """Truth (``variable``), ``prediction_mean``/``prediction_std`` (same dims and units) and a
    ``context`` (time) int8 mask, with CF attributes, provenance and the metrics as JSON."""
    ds = truth[[variable]].copy()
    if variable == "state":
        ds = ds.transpose("trajectory", "time", "variable")
    va = dict(truth[variable].attrs)
    va.setdefault("units", "1")
    va.setdefault("long_name", variable)
    ds[variable].attrs = {**va, "long_name": f"{va['long_name']} (truth)"}
    dims = ds[variable].dims
    what = "state" if variable == "state" else variable
    ds["prediction_mean"] = (dims, np.asarray(mean, dtype=np.float64), {
        "units": va["units"],
        "long_name": f"predicted {what}: one-step-ahead from the truth inside the context, "
                     "autoregressive forecast after it"})
    ds["prediction_std"] = (dims, np.asarray(std, dtype=np.float64), {"units": va["units"], "long_name": std_long_name})
    mask = np.zeros(ds.sizes["time"], dtype=np.int8)
    mask[:context] = 1
    ds["context"] = ("time", mask, {
        "long_name": "context mask: 1 = observed step read by the model, 0 = forecast step",
        "units": "1", "flag_values": np.array([0, 1], dtype=np.int8), "flag_meanings": "forecast observed"})
    for name, coord in ds.coords.items():
        coord.attrs.setdefault("long_name", str(name))
        coord.attrs.setdefault("units", "1")
    base = {k: v for k, v in truth.attrs.items()
            if isinstance(v, (str, int, float, np.integer, np.floating)) and not isinstance(v, bool)}
    if "seed" in base:  # the simulation's own (derived) seed; "seed" in attrs is the user's
        base["simulation_seed"] = base.pop("seed")
    ds.attrs = {**base, "Conventions": "CF-1.10", "featureType": "trajectory", **attrs,
                "metrics": json.dumps(dict(metrics), sort_keys=True)}
    return ds


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
            out of distribution).
        metrics: metrics of the primary split (`warp_phys.metrics.forecast_metrics`, or
            `warp_phys.fields.metrics.field_metrics` for fields).
        all_metrics: the metrics of every split.
        model: the trained `SequenceModel` (normalised units: see ``encoder``).
        history: the Trainer's history (None for closed-form models).
        system: the `System`, or None for user data.
        encoder: maps data to model coordinates and back (`StateEncoder` or `FieldEncoder`).
        recipe: the recipe actually used.
        error_curve: fields only: mean relative L2 error vs time (DataArray over ``time``).
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
        forecast after; normalised, (B, T, r), with tau (T,)."""
        if trajectory is not None:
            ds = ds.isel(trajectory=np.atleast_1d(np.asarray(trajectory)))
        ctx = ds["context"].values.astype(bool)
        truth = ds[self.variable].values
        seq = np.where(ctx.reshape((1, -1) + (1,) * (truth.ndim - 2)), truth, ds["prediction_mean"].values)
        z = self.encoder.encode(seq).to(self.device)
        return z, normalised_time(ds["time"].values, device=self.device), ds

    # ---- public API -----------------------------------------------------------------
    def weights(self, split: str = "test", trajectory: int | list[int] | None = None) -> xr.DataArray:
        """theta_t, the root-network weights along the forecast: DataArray (trajectory, time,
        weight). ``trajectory`` selects trajectories (None: all; N*T*D floats). WARP only."""
        if self.model_name != "warp" or not hasattr(self.model, "weights"):
            raise ValueError(f"weights() needs a WARP model; this reconstruction used model={self.model_name!r}, "
                             "whose hidden state is not a weight vector")
        z, tau, ds = self._inputs(self._split(split), trajectory)
        self.model.eval()
        with torch.no_grad():
            w = self.model.weights(z, tau).detach().cpu().numpy()
        return xr.DataArray(w, dims=("trajectory", "time", "weight"),
                            coords={"trajectory": ds["trajectory"].values, "time": ds["time"],
                                    "weight": np.arange(w.shape[-1])},
                            name="theta",
                            attrs={"long_name": "root-network weights theta_t (flattened weights and biases)",
                                   "units": "1"})

    def parameters(self, split: str = "test", trajectory: int | list[int] | None = None) -> xr.Dataset:
        """Physical quantities the prior reads off the root network at every step (e.g. the
        grey-box prior's sigma, rho, beta) as (trajectory, time) variables, with the true
        per-trajectory values as coordinates ``<name>_true`` when known."""
        if self.model_name != "warp" or not hasattr(self.model, "interpret"):
            raise ValueError(f"parameters() needs a WARP model with a prior; model={self.model_name!r}")
        z, tau, ds = self._inputs(self._split(split), trajectory)
        self.model.eval()
        with torch.no_grad():
            out = self.model.interpret(z, tau)
        if not out:
            raise ValueError(f"the prior {self.prior_name!r} exposes no interpretable parameters; use "
                             "prior='grey_box' to read physical parameters off the weights")
        units = {p.name: (p.units, p.long_name) for p in self.system.parameters} if self.system is not None else {}
        data_vars = {}
        for name, val in out.items():
            u, ln = units.get(name, ("1", name))
            data_vars[name] = (("trajectory", "time"), val.detach().cpu().numpy(),
                               {"units": u, "long_name": f"inferred {ln}"})
        coords = {"trajectory": ds["trajectory"].values, "time": ds["time"]}
        for name in out:
            if name in ds.coords and ds[name].dims == ("trajectory",):
                coords[f"{name}_true"] = ("trajectory", ds[name].values, dict(ds[name].attrs))
        return xr.Dataset(data_vars, coords=coords,
                          attrs={"title": "parameters inferred by the prior along the forecast"})

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
        return format_metrics(self.all_metrics or {"test": self.metrics}, title=self._title())

    def _title(self) -> str:
        what = self.system.name if self.system is not None else "user data"
        basis = f", basis={self.basis.kind} r={self.basis.rank}" if self.basis is not None else ""
        return (f"{what}: model={self.model_name}, prior={self.prior_name or 'none'}{basis}, "
                f"context={self.context} steps, seed={self.seed}, runtime {self.runtime_s:.1f} s")

    def __repr__(self) -> str:
        key = "rel_l2" if "rel_l2" in self.metrics else "mse"
        return f"<Reconstruction {self._title()}; {key}={self.metrics.get(key, float('nan')):.4g}>"


__all__ = ["Reconstruction", "format_metrics", "result_dataset"]
