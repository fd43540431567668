"""Trend, season and differencing of one long series, fitted on the training block only.

`reconstruct(data=y, time=t, window=W, detrend=, deseason=, difference=)` models a residual
series instead of the record ``y`` (T, d):

* ``detrend`` (None | "linear" | degree k >= 0): a polynomial in the record step index
  (time = time_start + index * step, so a polynomial in time), fitted per variable by least
  squares on the training block's steps only, in the scaled index x = (index - x0) / xs;
* ``deseason`` (None | period P >= 2 steps): the mean of the detrended training steps per
  phase ``index mod P`` and per variable (the profile (P, d)); the phase is the record step
  index, so a window at any offset gets the right profile;
* ``difference`` (bool): first differences of the residual, r[i] = z[i + 1] - z[i], placed at
  record step i + 1 (the model record has T - 1 steps; model index i is record step i + 1).

``base(index)`` = trend + season at any record step index, also past the record's end (the
polynomial is extrapolated, the profile repeats), is what is added back to the model's output.
Nothing here reads the validation or test steps: `fit_transform` gets the training block.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from warp_phys.validation import InputError

#: Highest polynomial degree of ``detrend`` (higher ones extrapolate wildly).
MAX_DEGREE = 5


@dataclass(frozen=True)
class TransformOptions:
    """Checked options: ``degree`` (None: no trend), ``period`` (None: no season), ``difference``."""

    degree: int | None = None
    period: int | None = None
    difference: bool = False

    @property
    def active(self) -> bool:
        return self.degree is not None or self.period is not None or self.difference

    @property
    def offset(self) -> int:
        """Record step of model index 0 (1 with differencing)."""
        return int(self.difference)


def _whole(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_transform_options(detrend: Any = None, deseason: Any = None, difference: Any = False) -> TransformOptions:
    """The transform options checked for type and range (before the record is read);
    InputError naming the argument, its value and the fix."""
    degree = None
    if detrend is not None and detrend is not False:
        if detrend == "linear":
            degree = 1
        elif _whole(detrend) and 0 <= int(detrend) <= MAX_DEGREE:
            degree = int(detrend)
        else:
            raise InputError(f"detrend must be None, 'linear' or a polynomial degree 0..{MAX_DEGREE} (an int: 0 "
                             f"removes the training mean, 1 a straight line), got {detrend!r}; e.g. detrend=1")
    period = None
    if deseason is not None and deseason is not False:
        if not _whole(deseason) or int(deseason) < 2:
            raise InputError(f"deseason must be None or the season's period in steps, an int >= 2 (e.g. 52 for a "
                             f"yearly cycle in weekly data), got {deseason!r}")
        period = int(deseason)
    if difference not in (None, False, True) or isinstance(difference, np.ndarray):
        raise InputError(f"difference must be True (model first differences) or False, got {difference!r}")
    return TransformOptions(degree, period, bool(difference))


def check_fit_block(opts: TransformOptions, n_fit: int) -> None:
    """The training block (``n_fit`` record steps) must determine the trend and every phase."""
    if opts.degree is not None and n_fit < opts.degree + 2:
        raise InputError(f"detrend={opts.degree} needs at least {opts.degree + 2} training steps to fit a "
                         f"polynomial of degree {opts.degree}, the training block has {n_fit}; use a lower degree "
                         "or a larger training fraction in split=")
    if opts.period is not None and opts.period > n_fit:
        raise InputError(f"deseason={opts.period} steps is longer than the training block ({n_fit} steps), so some "
                         f"phases of the season are never seen in training; use deseason <= {n_fit}, a longer "
                         "record, or a larger training fraction in split=")


@dataclass(frozen=True)
class SeriesTransform:
    """A fitted transform. ``coefficients`` (degree + 1, d), lowest power first, of the trend
    in x = (index - x0) / xs; ``profile`` (P, d): the season by phase index mod P (after the
    trend); ``fit_block`` [start, stop): the record steps it was fitted on."""

    options: TransformOptions
    fit_block: tuple[int, int]
    x0: float = 0.0
    xs: float = 1.0
    coefficients: np.ndarray | None = None
    profile: np.ndarray | None = None

    def trend(self, index: np.ndarray, d: int) -> np.ndarray:
        """The trend at record step indices (any shape S): (*S, d); zeros without detrend."""
        index = np.asarray(index)
        if self.coefficients is None:
            return np.zeros((*index.shape, d))
        x = (index.astype(np.float64) - self.x0) / self.xs
        return np.stack([np.polynomial.polynomial.polyval(x, self.coefficients[:, j]) for j in range(d)], axis=-1)

    def season(self, index: np.ndarray, d: int) -> np.ndarray:
        """The seasonal profile at record step indices (any shape S): (*S, d); zeros without deseason."""
        index = np.asarray(index, dtype=np.int64)
        if self.profile is None:
            return np.zeros((*index.shape, d))
        return self.profile[np.mod(index, self.profile.shape[0])]

    def base(self, index: np.ndarray, d: int) -> np.ndarray:
        """Trend + season at record step indices (any shape S, also past the record's end): (*S, d)."""
        return self.trend(index, d) + self.season(index, d)

    def residual(self, values: np.ndarray) -> np.ndarray:
        """The record (T, d) minus trend and season: the residual levels z (T, d)."""
        return values - self.base(np.arange(values.shape[0]), values.shape[1])

    def forward(self, values: np.ndarray) -> np.ndarray:
        """The series the model sees: z (T, d), or its first differences (T - 1, d)."""
        z = self.residual(values)
        return np.diff(z, axis=0) if self.options.difference else z

    def inverse(self, model_values: np.ndarray, first: np.ndarray | None = None) -> np.ndarray:
        """The record (T, d) back from `forward`'s output; ``first`` (d,): the record's first
        step (needed with differencing only)."""
        z = model_values
        if self.options.difference:
            z0 = first - self.base(np.zeros(1, dtype=np.int64), model_values.shape[1])[0]
            z = np.concatenate([z0[None], z0[None] + np.cumsum(model_values, axis=0)])
        return z + self.base(np.arange(z.shape[0]), z.shape[1])

    def to_json(self) -> str:
        """What was applied, enough to reproduce it (a NetCDF-safe attribute)."""
        out: dict[str, Any] = {"fit_block": [int(b) for b in self.fit_block], "difference": self.options.difference,
                               "index": "record step index: time = time_start + index * time_step"}
        if self.coefficients is not None:
            out["detrend"] = {"degree": self.options.degree, "x0": self.x0, "xs": self.xs,
                              "coefficients": self.coefficients.T.tolist(),
                              "formula": "trend[v] = sum_k coefficients[v][k] * ((index - x0) / xs) ** k"}
        if self.profile is not None:
            out["deseason"] = {"period": self.options.period, "profile": self.profile.T.tolist(),
                               "formula": "season[v] = profile[v][index mod period], fitted after the trend"}
        if self.options.difference:
            out["differences"] = ("the model sees r[i] = z[i + 1] - z[i] (z: record minus trend and season) at "
                                  "record step i + 1; forecasts are summed from the last observed level")
        return json.dumps(out)


def fit_transform(values: np.ndarray, opts: TransformOptions, fit_block: tuple[int, int]) -> SeriesTransform:
    """Fit trend and season on the record steps ``fit_block`` [start, stop) of ``values``
    (T, d) only (least squares; then the per-phase mean of the detrended steps)."""
    lo, hi = int(fit_block[0]), int(fit_block[1])
    check_fit_block(opts, hi - lo)
    index = np.arange(lo, hi)
    y = np.asarray(values, dtype=np.float64)[lo:hi]
    x0, xs = 0.5 * (lo + hi - 1), max(0.5 * (hi - 1 - lo), 1.0)
    coefficients = None
    if opts.degree is not None:
        coefficients = np.polynomial.polynomial.polyfit((index - x0) / xs, y, opts.degree).reshape(opts.degree + 1, -1)
    fitted = SeriesTransform(opts, (lo, hi), x0, xs, coefficients)
    profile = None
    if opts.period is not None:
        detrended = y - fitted.trend(index, y.shape[1])
        phase = np.mod(index, opts.period)
        profile = np.stack([detrended[phase == k].mean(axis=0) for k in range(opts.period)])
    return SeriesTransform(opts, (lo, hi), x0, xs, coefficients, profile)


def transform_record(record: Any, plan: Any, opts: TransformOptions) -> tuple[Any, SeriesTransform]:
    """(the record the model sees, the fitted transform) of a `series.SeriesRecord` and its
    `series.WindowPlan` (planned on the model record's T - offset steps). The fit uses the record
    steps the training windows read: [start, stop + offset) of the training block."""
    lo, hi = plan.blocks["train"]
    transform = fit_transform(record.values, opts, (lo, hi + opts.offset))
    time = dataclasses.replace(record.time, values=record.time.values[opts.offset:])
    return dataclasses.replace(record, values=transform.forward(record.values), time=time), transform


__all__ = ["MAX_DEGREE", "SeriesTransform", "TransformOptions", "check_fit_block", "check_transform_options",
           "fit_transform", "transform_record"]
