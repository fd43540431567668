"""Known input channels of one long series: periodic phases and the user's covariates.

``reconstruct(data=y, time=t, window=W, phases=(P, ...), covariates=C, future_covariates=F)``:

* ``phases``: for each period P (in record steps; for a date axis also "year", "week", "day"
  converted with the record's step), the channels sin(2 pi i / P) and cos(2 pi i / P), where
  i is the step's index in the record (0 = the record's first step, the phase origin, stored in
  ``attrs["known_inputs"]``). The phase continues across windows and past the record's end.
* ``covariates``: (time,) or (time, k) values aligned with the record's steps (array, pandas
  Series/DataFrame, xarray DataArray), finite. The forecast beyond the record's end
  (``datasets["future"]``) needs their next values, ``future_covariates`` (horizon or more rows,
  the steps right after the record); without them that forecast is left out, with a warning.

They reach the model as extra channels after the targets (`warp_phys.known_inputs.KnownInputs`, the model wrapper)
and stay out of every result: windows carry them as ``known(trajectory, time, known_variable)``,
`KnownStateEncoder` encodes ``state`` and ``known`` together (one scaler fit on the training
windows) and decodes the targets only, so metrics, Datasets and plots cover the targets alone.
``rec.forecast(new_data, start=t0, covariates=c)`` rebuilds them for new data
(`KnownStateEncoder.new_known`): the phase of new_data's step j is that of the training record's
step index of t0, plus j (the phase stays tied to the record's calendar, not to new_data's index).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import xarray as xr

from warp_phys.data import fit_scaler
from warp_phys.scaling import Scaler
from warp_phys.validation import InputError

from .encoders import StateEncoder, _state
from .record_time import RecordTime

#: Named periods for a date axis, in seconds (a mean Gregorian year).
NAMED_PERIODS = {"year": 365.2425 * 86400.0, "week": 7 * 86400.0, "day": 86400.0}
#: Named periods in steps of a calendar axis (numpy "M": months, "Y": years).
_CALENDAR_PERIODS = {"M": {"year": 12.0}, "Y": {"year": 1.0}}


@dataclass(frozen=True)
class KnownChannels:
    """The known channels of one record. ``periods`` (in record steps), ``covariates``
    (T + F, k) float64: the record's T steps then F future steps (F = 0 without
    ``future_covariates``), ``covariate_names``, ``n_record`` (T), ``offset`` (index in the
    original record of the modelled record's step 0: 1 with ``difference=True``), ``origin``
    (the record's first time, as text: i = 0)."""

    periods: tuple[float, ...]
    covariates: np.ndarray
    covariate_names: tuple[str, ...]
    n_record: int
    origin: str
    offset: int = 0
    time: RecordTime | None = None

    @property
    def names(self) -> list[str]:
        phase = [f"{f}_{p:g}" for p in self.periods for f in ("sin", "cos")]
        return phase + list(self.covariate_names)

    @property
    def n_future(self) -> int:
        return int(self.covariates.shape[0] - self.n_record)

    def at(self, index: np.ndarray) -> np.ndarray:
        """The known values (*index.shape, k) float64 at step indices of the modelled record;
        covariates past the given ones are NaN."""
        i = np.asarray(index, dtype=np.int64) + self.offset
        cols = []
        for p in self.periods:
            angle = 2.0 * np.pi * np.mod(i.astype(np.float64), p) / p  # exact phase for any record length
            cols += [np.sin(angle), np.cos(angle)]
        if self.covariates.shape[1]:
            n = self.covariates.shape[0]
            vals = self.covariates[np.clip(i, 0, n - 1)]
            cols += list(np.moveaxis(np.where(((i >= 0) & (i < n))[..., None], vals, np.nan), -1, 0))
        return np.stack(cols, axis=-1)

    def index_of(self, start: Any, n: int) -> np.ndarray:
        """Record step indices (n,) or (N,) of ``start``: a time on the record's axis (a number
        in its units, or a date for a dated record; N of them for N trajectories); InputError
        unless each lies on the record's grid (a whole number of steps from its first time)."""
        t = self.time
        s = np.atleast_1d(np.asarray(start))
        if s.ndim != 1 or s.shape[0] not in (1, n):
            raise InputError(f"start must be one time or one per trajectory ({n}), got shape {np.shape(start)}")
        if t.is_date:
            if s.dtype.kind not in "OMU":
                raise InputError(f"start must be a date (this record's axis is dates, from {self.origin}), got {start!r}")
            try:
                s = s.astype("M8[s]")
            except (TypeError, ValueError) as err:
                raise InputError(f"start must be a date on the record's axis: {err}") from None
            if t.calendar:
                unit = np.datetime_data(t.step)[0]
                steps = (s.astype(f"M8[{unit}]") - t.values[0].astype(f"M8[{unit}]")).astype(np.int64)
                idx = steps / float(t.step.astype(np.int64))
                on_grid = s.astype(f"M8[{unit}]").astype("M8[s]") == s
            else:
                idx = (s - t.values[0].astype("M8[s]")) / t.step.astype("m8[s]")
                on_grid = np.ones(s.shape, bool)
        else:
            try:
                s = s.astype(np.float64)
            except (TypeError, ValueError):
                raise InputError(f"start must be a number on the record's time axis (from {self.origin}), got "
                                 f"{start!r}") from None
            idx = (s - float(t.values[0])) / float(t.step)
            on_grid = np.isfinite(idx)
        whole = np.round(idx)
        if not (on_grid & (np.abs(idx - whole) < 1e-6)).all():
            raise InputError(f"start {start!r} is not on the record's grid (first time {self.origin}, step "
                             f"{t.step}): the phases are tied to the record's steps; give the time of a step")
        return np.broadcast_to(whole.astype(np.int64), (n,))

    def to_json(self) -> str:
        return json.dumps({"periods_steps": list(self.periods), "phase_origin": self.origin,
                           "phase": "sin/cos(2 pi i / P), i = step index in the record (0 = phase_origin)",
                           "covariates": list(self.covariate_names), "future_covariate_steps": self.n_future,
                           "channels": self.names})


def _period(p: Any, time: RecordTime) -> float:
    if isinstance(p, str):
        if not time.is_date:
            raise InputError(f"phases={p!r}: a named period needs a date time axis; this record's time is numbers, so "
                             "give the period in record steps (e.g. phases=(12,) for monthly steps)")
        if p not in NAMED_PERIODS:
            raise InputError(f"unknown named period {p!r}; use one of {sorted(NAMED_PERIODS)} or a number of steps")
        if time.calendar:
            unit = np.datetime_data(time.step)[0]
            per_step = _CALENDAR_PERIODS[unit].get(p)
            if per_step is None:
                raise InputError(f"phases={p!r} is shorter than this record's calendar step ({time.step}); drop it")
            return per_step / float(time.step.astype(np.int64))
        return NAMED_PERIODS[p] / time.step_value
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not np.isfinite(p):
        raise InputError(f"phases must be periods in record steps (numbers > 1) or names {sorted(NAMED_PERIODS)} "
                         f"(date axes), got {p!r}")
    return float(p)


def _periods(phases: Any, time: RecordTime) -> tuple[float, ...]:
    if phases is None:
        return ()
    items = [phases] if isinstance(phases, (str, int, float, np.integer, np.floating)) else list(phases)
    out = tuple(_period(p, time) for p in items)
    for given, p in zip(items, out):
        if p <= 1.0:
            raise InputError(f"phases: period {given!r} is {p:g} record steps; a phase needs a period > 1 step "
                             "(one step or less is aliased to a constant)")
    if len(set(out)) != len(out):
        raise InputError(f"phases has a repeated period: {items}")
    return out


def _table(values: Any, name: str, n_rows: int | None, k: int | None) -> tuple[np.ndarray, list[str] | None]:
    """(values (rows, k) float64, column names or None) of an array / pandas / xarray covariate table."""
    names = None
    if isinstance(values, xr.DataArray):
        values = values.values
    elif hasattr(values, "to_numpy") and hasattr(values, "index"):
        if hasattr(values, "columns"):
            names = [str(c) for c in values.columns]
        elif isinstance(getattr(values, "name", None), str):
            names = [values.name]
        values = values.to_numpy()
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(f"{name} must be numbers (time,) or (time, k); {err}") from None
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] < 1:
        raise InputError(f"{name} must have shape (time,) or (time, k), got {np.shape(values)}")
    if n_rows is not None and a.shape[0] != n_rows:
        raise InputError(f"{name} has {a.shape[0]} steps but the record has {n_rows}; pass one row per record step "
                         "(the same steps as data=)")
    if k is not None and a.shape[1] != k:
        raise InputError(f"{name} has {a.shape[1]} columns but covariates has {k}; give the same covariates")
    bad = ~np.isfinite(a)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        raise InputError(f"{name} is NaN or inf at {int(bad.sum())} entries (first: step {i}, column {j}); known "
                         "inputs must be known at every step: fill them first (pandas: df.interpolate())")
    return a, names


def check_known_inputs(phases: Any, covariates: Any, future_covariates: Any, time: RecordTime,
                       covariate_names: Sequence[str] | None = None) -> KnownChannels | None:
    """The known channels of a record with time axis ``time`` (T steps), checked (InputError
    naming the argument and the fix); None when neither ``phases`` nor ``covariates`` is given."""
    if future_covariates is not None and covariates is None:
        raise InputError("future_covariates= continues covariates= past the record's end; pass covariates= too")
    periods = _periods(phases, time)
    n = int(time.values.shape[0])
    if not periods and covariates is None:
        return None
    cov, names = (np.zeros((n, 0)), []) if covariates is None else _table(covariates, "covariates", n, None)
    if covariates is not None:
        names = list(covariate_names) if covariate_names is not None else names or [
            f"covariate{j}" for j in range(cov.shape[1])]
        if len(names) != cov.shape[1]:
            raise InputError(f"{len(names)} covariate names for {cov.shape[1]} covariate columns")
        if future_covariates is not None:
            fut, _ = _table(future_covariates, "future_covariates", None, cov.shape[1])
            cov = np.concatenate([cov, fut])
    return KnownChannels(periods, cov, tuple(names), n, str(time.values[0]), time=time)


def known_windows(known: KnownChannels, index: np.ndarray) -> xr.DataArray:
    """``known(trajectory, time, known_variable)`` at the step indices (N, L) of a window Dataset."""
    return xr.DataArray(known.at(index), dims=("trajectory", "time", "known_variable"),
                        coords={"known_variable": np.array(known.names, dtype=str)},
                        attrs={"long_name": "known inputs (phases, covariates): read by the model, never predicted",
                               "units": "1"})


class KnownStateEncoder(StateEncoder):
    """`StateEncoder` of windows with known channels: encodes ``state`` (d targets) followed by
    ``known`` (k channels), normalised by one scaler fit on the training windows, as (N, T, d + k);
    decodes (and scores, and keeps in results) the d targets only."""

    def __init__(self, known: KnownChannels) -> None:
        super().__init__()
        self.known = known
        self.n_known = len(known.names)

    def new_known(self, n_traj: int, n_steps: int, start: Any, covariates: Any) -> xr.DataArray:
        """``known`` (trajectory, time, known_variable) of new data (`Reconstruction.forecast`):
        phases at the record step indices of ``start`` + 0..n_steps-1 (the phase origin is the
        training record's first step), ``covariates`` (n_steps, k) or (trajectory, n_steps, k)
        as given; InputError when one is missing or malformed."""
        kn = self.known
        if start is None and kn.periods:
            raise InputError(f"this model reads phases of periods {list(kn.periods)} steps tied to the training "
                             f"record's steps (first time {kn.origin}): pass start=<the record-axis time of new_data's "
                             "first step> (one per trajectory, or one for all)")
        k_c = len(kn.covariate_names)
        if k_c and covariates is None:
            raise InputError(f"this model reads the covariates {list(kn.covariate_names)}: pass covariates=<(steps, "
                             f"{k_c}) or (trajectory, steps, {k_c}) values> for all {n_steps} forecast steps")
        if not k_c and covariates is not None:
            raise InputError("this model was trained without covariates: drop covariates=")
        idx = (kn.index_of(start, n_traj) if kn.periods else np.zeros(n_traj, np.int64))[:, None] + np.arange(n_steps)
        values = KnownChannels(kn.periods, np.zeros((1, 0)), (), kn.n_record, kn.origin).at(idx) if kn.periods \
            else np.zeros((n_traj, n_steps, 0))
        if k_c:
            try:
                c = np.asarray(covariates, dtype=np.float64)
            except (TypeError, ValueError) as err:
                raise InputError(f"covariates must be numbers: {err}") from None
            c = c[:, None] if c.ndim == 1 and k_c == 1 else c  # (steps,) for one covariate
            c = np.broadcast_to(c, (n_traj, *c.shape)) if c.ndim == 2 else c  # the same for every trajectory
            if c.shape != (n_traj, n_steps, k_c):
                raise InputError(f"covariates must have shape ({n_steps}, {k_c}) or ({n_traj}, {n_steps}, {k_c}) "
                                 f"(trajectory, steps, covariate) for the {n_steps} steps of the forecast, got "
                                 f"{np.shape(covariates)}")
            _table(c.reshape(-1, k_c), "covariates", None, k_c)  # finite
            values = np.concatenate([values, c], axis=-1)
        return xr.DataArray(values, dims=("trajectory", "time", "known_variable"),
                            coords={"known_variable": np.array(kn.names, dtype=str)})

    @staticmethod
    def _all(ds: xr.Dataset) -> torch.Tensor:
        known = torch.as_tensor(ds["known"].transpose("trajectory", "time", "known_variable").values,
                                dtype=torch.float32)
        return torch.cat([_state(ds), known], dim=-1)

    def fit(self, train: xr.Dataset, basis_data: xr.Dataset | None = None) -> "KnownStateEncoder":
        super().fit(train)  # the band of plausible forecasts: targets only
        self.target_scaler = self.scaler
        self.scaler = fit_scaler(self._all(train))
        return self

    @property
    def n_targets(self) -> int:
        return self.n_features - self.n_known

    def encode(self, ds: xr.Dataset | np.ndarray | torch.Tensor) -> torch.Tensor:
        """Normalised (N, T, d + k) float32 of a window Dataset (``state`` and ``known``) or of a
        physical array that already holds all d + k channels."""
        if isinstance(ds, xr.Dataset):
            if "known" not in ds.data_vars:
                raise InputError("this model reads known inputs (phases/covariates): the data need them too")
            return self.scaler.normalise(self._all(ds))
        return super().encode(ds)

    def decode(self, mean_z: torch.Tensor, std_z: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Physical mean and std (N, T, d) float64 of the targets (known channels dropped)."""
        d = self.n_targets
        scaler = Scaler(self.scaler.loc[:d], self.scaler.scale[:d])
        mean = scaler.denormalise(mean_z[..., :d]).double().numpy()
        return mean, (std_z[..., :d] * scaler.scale.to(std_z)).double().numpy()


__all__ = ["KnownChannels", "KnownStateEncoder", "NAMED_PERIODS", "check_known_inputs", "known_windows"]
