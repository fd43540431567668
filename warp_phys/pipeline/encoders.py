"""Encoders: physical data <-> the normalised coordinates a `SequenceModel` reads.

The pipeline is the same for every kind of data; only the encoder differs:

* `StateEncoder`: the state of an ODE system or of the user's trajectories, normalised
  per variable with a `Scaler` fit on the training split;
* `FieldEncoder`: a flow field projected on a reduced basis (POD or Fourier modes, fit on
  the training runs), then normalised. Decoding maps the forecast back onto the grid, so
  every forecast lies in the span of the basis.

An encoder is fit once (`fit`) and then encodes Datasets to (N, T, r) float32 tensors and
decodes model output (N, T, r) to physical float64 arrays.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import xarray as xr

from warp_phys.data import fit_scaler
from warp_phys.systems.dataset import trajectories_to_tensor
from warp_phys.scaling import Scaler

from .plausibility import TrainingBand, training_band


def _state(ds: xr.Dataset) -> torch.Tensor:
    """``state`` as a float32 tensor (N, T, d) in physical units."""
    return trajectories_to_tensor(ds, dtype=torch.float32)[0]


class StateEncoder:
    """``state(trajectory, time, variable)`` <-> per-variable normalised state (N, T, d).

    ``time_rescale``: (low, high) in (0, 1] to add ``copies`` time-rescaled copies of every
    training trajectory (factors drawn uniformly with ``seed``; `warp_phys.systems.symmetries`)
    using the per-variable ``powers`` of the system's symmetry. None (default): no augmentation.
    The scaler is fit on the original training split either way."""

    variable = "state"
    basis = None

    def __init__(self, time_rescale: tuple[float, float] | None = None, copies: int = 1,
                 powers: tuple[int, ...] | None = None, seed: int = 0) -> None:
        from warp_phys.systems.symmetries import check_rescale_range
        from warp_phys.validation import InputError, check_int

        self.scaler: Scaler | None = None
        self.band: TrainingBand | None = None  # the training data's range, for flagging runaway forecasts
        self.time_rescale = None if time_rescale is None else check_rescale_range(time_rescale)
        self.copies = check_int(copies, "time_rescale_copies", minimum=1)
        if self.time_rescale is not None and powers is None:
            raise InputError("time_rescale needs a family closed under time rescaling (System.time_rescaling, "
                             "e.g. mass_spring_damper, lotka_volterra); these data have none: leave "
                             "time_rescale=None")
        self.powers, self.seed = powers, seed

    def fit(self, train: xr.Dataset, basis_data: xr.Dataset | None = None) -> "StateEncoder":
        """Fit the per-variable scaler (and the plausible band of forecasts,
        `warp_phys.pipeline.plausibility`) on the training split; returns self."""
        self.scaler = fit_scaler(_state(train))
        self.band = training_band(self.truth(train), per_variable=True)
        return self

    @property
    def n_features(self) -> int:
        return int(self.scaler.loc.shape[0])

    def augment(self, train: xr.Dataset) -> xr.Dataset:
        """The training split as the model is fit on it: ``train`` itself, or with
        ``time_rescale``, ``state`` of the original trajectories followed by ``copies``
        rescaled copies of each (coordinates other than time and variable are dropped)."""
        if self.time_rescale is None:
            return train
        from warp_phys.systems.symmetries import time_rescale

        x, t = self.truth(train), np.asarray(train["time"].values, dtype=np.float64)
        rng = np.random.default_rng(self.seed)
        copies = [time_rescale(x, t, rng.uniform(*self.time_rescale, size=x.shape[0]), self.powers)
                  for _ in range(self.copies)]
        return xr.Dataset({"state": (("trajectory", "time", "variable"), np.concatenate([x, *copies]))},
                          coords={"time": train["time"], "variable": train["variable"]})

    def truth(self, ds: xr.Dataset) -> np.ndarray:
        """The physical truth (N, T, d) float64."""
        return ds["state"].transpose("trajectory", "time", "variable").values

    def encode(self, ds: xr.Dataset | np.ndarray | torch.Tensor) -> torch.Tensor:
        """Normalised (N, T, d) float32 of a Dataset or a physical array."""
        x = _state(ds) if isinstance(ds, xr.Dataset) else torch.as_tensor(np.asarray(ds), dtype=torch.float32)
        return self.scaler.normalise(x)

    def decode(self, mean_z: torch.Tensor, std_z: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Physical mean and std (N, T, d) float64 from normalised model output (scaled in float64:
        data near float32's range, ~1e38, would overflow to inf otherwise)."""
        mean = self.scaler.denormalise(mean_z.double()).numpy()
        std = (std_z.double() * self.scaler.scale.double()).numpy()
        return mean, std

    def score(self, truth: np.ndarray, mean: np.ndarray, ds: xr.Dataset, context: int, horizon: int | None,
              time_scale: float | None, std: np.ndarray | None = None) -> tuple[dict[str, float], dict[str, Any]]:
        """`warp_phys.metrics.forecast_metrics` over the forecast window (VPT in units of
        ``time_scale``, the Lyapunov time, when given); with a predictive ``std`` (same shape as
        ``mean``) that is not all zero there, ``coverage_2std`` too (`metrics.interval_coverage`:
        the fraction of values within mean +- 2 std); no extra data variables."""
        from warp_phys.metrics import forecast_metrics, forecast_window, interval_coverage

        t = np.asarray(ds["time"].values, dtype=np.float64)
        window = forecast_window(t.shape[0], context, horizon)
        names = [str(v) for v in ds["variable"].values]
        met = forecast_metrics(truth, mean, window, variable_names=names, context=context, time=t,
                               time_scale=time_scale, chaotic=bool(time_scale))
        if std is not None and np.any(np.asarray(std)[:, window] > 0):
            met["coverage_2std"] = interval_coverage(truth, mean, std, window)
        return met, {}

    def attrs(self) -> dict[str, Any]:
        return {}


class FieldEncoder:
    """Fields (N, T, *grid) <-> normalised coefficients (N, T, r) on a reduced basis.

    ``basis``: "pod" or "fourier"; ``rank``: modes kept; ``normalise``: "global" (one scale
    for all coefficients, so the loss is the field L2 error) or "per_mode"; ``shifts``:
    x-shifted copies of the training data used to fit the basis (1 = none).
    """

    def __init__(self, basis: str = "pod", rank: int = 24, normalise: str = "global", shifts: int = 1) -> None:
        if normalise not in ("global", "per_mode"):
            raise ValueError(f"normalise must be 'global' or 'per_mode', got {normalise!r}")
        self.kind, self.rank, self.normalise, self.shifts = basis, rank, normalise, shifts
        self.basis = None
        self.scaler: Scaler | None = None
        self.band: TrainingBand | None = None  # the training field's range, for flagging runaway forecasts
        self.variable = "field"

    def fit(self, train: xr.Dataset, basis_data: xr.Dataset | None = None) -> "FieldEncoder":
        """Fit the basis on ``basis_data`` (default ``train``) and the scale on ``train``'s
        coefficients (both shift-augmented), and the plausible band of forecasts on ``train``'s
        field (all grid points as one variable); returns self."""
        from warp_phys.fields.data import field_name, shift_augment
        from warp_phys.fields.reduction import fit_basis

        self.variable = field_name(train)
        n_space = train[self.variable].ndim - 2
        source = basis_data if basis_data is not None else train
        self.basis = fit_basis(self.kind, shift_augment(source, self.shifts)[self.variable].values,
                               int(self.rank), n_grid_dims=n_space)
        a = self.basis.encode(self.augment(train)[self.variable].values).float()
        flat = a.reshape(-1, a.shape[-1]).double()
        r = a.shape[-1]
        if self.normalise == "global":
            s = torch.sqrt((flat**2).mean())
            self.scaler = Scaler(torch.zeros(r), torch.full((r,), float(s)))
        else:
            self.scaler = Scaler(flat.mean(0).float(), flat.std(0).clamp_min(1e-12).float())
        self.band = training_band(self.truth(train), per_variable=False)
        return self

    @property
    def n_features(self) -> int:
        return int(self.basis.rank)

    def augment(self, train: xr.Dataset) -> xr.Dataset:
        """The training split with ``shifts`` x-shifted copies (exact for x-invariant flows)."""
        from warp_phys.fields.data import shift_augment

        return shift_augment(train, self.shifts)

    def truth(self, ds: xr.Dataset) -> np.ndarray:
        """The physical field (N, T, *grid) float64."""
        return ds[self.variable].values.astype(np.float64)

    def encode(self, ds: xr.Dataset | np.ndarray | torch.Tensor) -> torch.Tensor:
        """Normalised coefficients (N, T, r) float32 of a Dataset or of fields (..., *grid)."""
        fields = ds[self.variable].values if isinstance(ds, xr.Dataset) else ds
        return self.scaler.normalise(self.basis.encode(fields).float())

    def decode(self, mean_z: torch.Tensor, std_z: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Fields: mean and std (N, T, *grid) float64 (the modes' errors taken as independent)."""
        mean = self.basis.decode(self.scaler.denormalise(mean_z.double())).numpy()
        std_a = std_z.double() * self.scaler.scale.double()
        modes2 = (self.basis.modes**2).to(std_a)
        std = torch.sqrt((std_a**2) @ modes2.T).reshape(mean.shape).numpy()
        return mean, std

    def project(self, fields: np.ndarray) -> np.ndarray:
        """Fields projected onto the basis (the floor of any model on these coordinates)."""
        return self.basis.decode(self.basis.encode(fields)).numpy()

    def score(self, truth: np.ndarray, mean: np.ndarray, ds: xr.Dataset, context: int, horizon: int | None,
              time_scale: float | None, std: np.ndarray | None = None) -> tuple[dict[str, float], dict[str, Any]]:
        """`warp_phys.fields.metrics.field_metrics` (relative L2 error vs lead time, the
        projection floor); adds ``relative_l2_error`` (trajectory, time) and the error curve.
        ``std`` is not scored for fields."""
        from warp_phys.fields.metrics import field_metrics, relative_l2

        t = np.asarray(ds["time"].values, dtype=np.float64)
        met, curve = field_metrics(truth, mean, context, dt=float(t[1] - t[0]), time_scale=time_scale,
                                   projection=self.project(truth))
        return met, {"relative_l2_error": relative_l2(truth, mean), "error_curve": curve}

    def attrs(self) -> dict[str, Any]:
        return {"basis": self.basis.kind, "basis_rank": self.basis.rank, "coefficient_normalisation": self.normalise,
                **{k: v for k, v in self.basis.to_attrs().items() if k not in ("basis", "basis_rank")}}


__all__ = ["FieldEncoder", "StateEncoder"]
