"""The time axis of one measured record (`check_record_time` -> `RecordTime`).

Numbers, or dates (numpy datetime64, a pandas DatetimeIndex, Python dates), strictly increasing
with a regular step. Dates may also step by whole calendar months or years (every date on the 1st
of its month or year): the step is then numpy's month or year unit and relative time counts
months or years. Irregular steps, NaT and time zones raise InputError naming the first bad
index and the fix.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import numpy as np

from warp_phys.validation import InputError, check_time_grid

_DATE_UNITS = ("s", "ms", "us", "ns")
#: Calendar steps: numpy's month and year units, and the relative-time units they give.
_CALENDAR = {"Y": "years", "M": "months"}
_RESAMPLE = ("resample or interpolate the record onto a regular grid first (pandas: "
             "s.resample('1h').mean().interpolate(); xarray: ds.interp(time=...))")


@dataclass(frozen=True)
class RecordTime:
    """The record's regular time axis. ``values`` (T,): float64, or datetime64/timedelta64 as
    given; ``step``: float (numbers) or timedelta64 (dates); ``units``: of relative time
    (the record's own units for numbers, "s" for dates)."""

    values: np.ndarray
    step: Any
    units: str

    @property
    def is_date(self) -> bool:
        return self.values.dtype.kind in "mM"

    @property
    def calendar(self) -> bool:
        """True for a step of whole calendar months or years (dates on the same day of each)."""
        return isinstance(self.step, np.timedelta64) and np.datetime_data(self.step)[0] in _CALENDAR

    @property
    def step_value(self) -> float:
        """The step as a float in ``units`` (seconds for dates, months or years for a calendar step)."""
        if self.calendar:
            return float(self.step.astype(np.int64))
        return float(self.step / np.timedelta64(1, "s")) if self.is_date else float(self.step)

    def at(self, index: np.ndarray) -> np.ndarray:
        """Record times of step indices (any shape); indices past the end continue the record
        with its step (dates stay dates; calendar steps add whole months or years)."""
        index = np.asarray(index, dtype=np.int64)
        last = self.values.shape[0] - 1
        beyond = self.values[-1] + (index - last) * self.step
        out = np.where(index <= last, self.values[np.minimum(index, last)], beyond)
        return out.astype("M8[s]") if self.calendar else out

    def relative(self, n: int) -> np.ndarray:
        """Time since a window's first step, (n,) float64 in ``units``."""
        return np.arange(n, dtype=np.float64) * self.step_value


def step_text(step: Any) -> str:
    """A readable step: a timedelta64 in its largest whole unit ("10 minutes"), else a number."""
    if not isinstance(step, np.timedelta64):
        return f"{float(step):.6g}"
    if np.datetime_data(step)[0] in _CALENDAR:
        return str(step)
    for unit in ("D", "h", "m", "s", "ms", "us", "ns"):
        whole = step.astype(f"m8[{unit}]")
        if whole == step:
            return str(whole)
    return str(step)


def _irregular(i: int, t: np.ndarray, step: Any) -> InputError:
    return InputError(f"time steps are not regular: the first irregular step is at index {i + 1} (t[{i}]={t[i]}, "
                      f"t[{i + 1}]={t[i + 1]}, the record's step is {step}); {_RESAMPLE}")


def check_record_time(time: Any, n_steps: int, units: str = "1") -> RecordTime:
    """The record's time axis (T,): numbers or datetime64/timedelta64 (a pandas
    DatetimeIndex works), strictly increasing with a regular step; InputError naming the first
    bad index and the fix otherwise."""
    if time is None:
        raise InputError("time is required with an array series: pass time=<1-D array, numbers or datetime64>, "
                         "one per step, or a pandas Series/DataFrame indexed by time")
    if getattr(time, "tz", None) is not None:
        raise InputError(f"time has the time zone {time.tz}; pass naive UTC dates: time.tz_convert(None)")
    raw = np.asarray(time)
    if raw.dtype.kind == "O" and raw.size and all(isinstance(v, (datetime.date, np.datetime64)) for v in raw.ravel()):
        raw = raw.astype("datetime64[us]")  # Python datetimes / dates
    if raw.ndim != 1 or raw.shape[0] != n_steps:
        raise InputError(f"time has shape {raw.shape} but the series has {n_steps} steps; pass one time per step")
    if n_steps < 2:
        raise InputError(f"need at least 2 time steps, got {n_steps}")
    if raw.dtype.kind not in "mM":
        t = check_time_grid(raw, n_steps) if raw.dtype.kind not in "fiu" else raw.astype(np.float64)
        if not np.isfinite(t).all():
            raise InputError(f"time is NaN or inf at index {int(np.argmax(~np.isfinite(t)))}; fix the time axis")
        dt = np.diff(t)
        if (dt <= 0).any():
            i = int(np.argmax(dt <= 0))
            raise InputError(f"time must be strictly increasing; it is not at index {i + 1} (t[{i}]={t[i]}, "
                             f"t[{i + 1}]={t[i + 1]}); sort the steps or drop duplicates")
        med = float(np.median(dt))
        off = np.abs(dt - med) > 1e-3 * med + 8 * np.finfo(np.float64).eps * float(np.abs(t).max())
        if off.any():
            raise _irregular(int(np.argmax(off)), t, step_text(med))
        t = check_time_grid(raw, n_steps)
        return RecordTime(t, (t[-1] - t[0]) / (n_steps - 1), units)
    unit = np.datetime_data(raw.dtype)[0]
    if unit not in _DATE_UNITS:
        raw = raw.astype(raw.dtype.str[:3] + "[s]")
        unit = "s"
    if np.isnat(raw).any():
        raise InputError(f"time is NaT (not a time) at index {int(np.argmax(np.isnat(raw)))}; fix the time axis")
    d = np.diff(raw.view(np.int64))
    if (d <= 0).any():
        i = int(np.argmax(d <= 0))
        raise InputError(f"time must be strictly increasing; it is not at index {i + 1} (t[{i}]={raw[i]}, "
                         f"t[{i + 1}]={raw[i + 1]}); sort the steps or drop duplicates")
    values, counts = np.unique(d, return_counts=True)
    step = np.timedelta64(int(values[np.argmax(counts)]), unit)
    if (d != step.astype(np.int64)).any():
        calendar = _calendar_time(raw)
        if calendar is not None:
            return calendar
        error = _irregular(int(np.argmax(d != step.astype(np.int64))), raw, step_text(step))
        raise InputError(f"{error}; monthly or yearly data are read with calendar steps when every date is the first "
                         "of its month (or year), e.g. pandas: s.index.to_period('M').to_timestamp()")
    return RecordTime(raw, step, "s")


def _calendar_time(raw: np.ndarray) -> RecordTime | None:
    """Dates a whole number of calendar months (or years) apart, each on the same day and time
    of its month (yearly: its year) as ``raw`` (T,) datetime64 (e.g. monthly means stamped on the
    1st); None when they are not."""
    if raw.dtype.kind != "M":
        return None
    for unit, units in _CALENDAR.items():
        coarse = raw.astype(f"M8[{unit}]")
        offset = raw - coarse.astype(raw.dtype)
        steps = np.diff(coarse.view(np.int64))
        if (offset == offset[0]).all() and offset[0] == np.timedelta64(0, "s") and (steps == steps[0]).all() \
                and steps[0] > 0:
            return RecordTime(coarse, np.timedelta64(int(steps[0]), unit), units)
    return None


__all__ = ["RecordTime", "check_record_time", "step_text"]
