"""The package's argument checks, in one place.

Every public entry point (the API, the CLI, the systems library) checks its arguments
here before any expensive work. Each check raises `InputError` (a `ValueError`) whose
message names the argument, the value and the fix, and returns the value normalised
(a Python int, a float64 array, ...).

Part of the small utility layer that ``systems/`` and ``priors/`` may import: it imports
nothing from the rest of the package.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

#: Seeds are unsigned 63-bit integers: torch.manual_seed and numpy's SeedSequence both take them.
MAX_SEED = 2**63 - 1

_F32 = np.finfo(np.float32)
#: Data must stay this factor inside float32's range (the models compute in float32, and a
#: forecast may leave the range of the data it was trained on).
FLOAT32_MARGIN = 1e3
#: A variable whose std is below this fraction of its mean is lost in float32 (relative
#: resolution ~6e-8): the data are refused instead of being treated as constant.
MIN_RELATIVE_STD = 1e-6


class InputError(ValueError):
    """A bad argument: the message names it, its value and the fix."""


def is_integer(value: Any) -> bool:
    """True for a Python or numpy integer (not a bool)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_int(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int in [minimum, maximum]; InputError otherwise."""
    if not is_integer(value):
        raise InputError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise InputError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise InputError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_seed(seed: Any, name: str = "seed") -> int:
    """A seed: an integer in [0, 2**63 - 1] (what torch and numpy both accept)."""
    if not is_integer(seed) or not 0 <= int(seed) <= MAX_SEED:
        raise InputError(f"{name} must be an integer in [0, 2**63 - 1], got {seed!r} ({type(seed).__name__}); "
                         f"pass a non-negative integer below 2**63, e.g. {name}=0")
    return int(seed)


def check_number(value: Any, name: str, *, minimum: float | None = None, positive: bool = False) -> float:
    """``value`` as a finite float (> 0 when ``positive``, >= ``minimum``); InputError otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    v = float(value)
    if not math.isfinite(v) or (positive and v <= 0) or (minimum is not None and v < minimum):
        want = "a finite number > 0" if positive else (f"a finite number >= {minimum}" if minimum is not None
                                                        else "a finite number")
        raise InputError(f"{name} must be {want}, got {value!r}")
    return v


def as_real_array(data: Any, name: str, layout: str) -> np.ndarray:
    """``data`` as a float64 array; InputError for complex or non-numeric data (``layout``: the
    expected shape, for the message)."""
    if np.iscomplexobj(data):
        raise InputError(f"{name} is complex; pass its real and imaginary parts as separate variables "
                         "(np.concatenate([x.real, x.imag], axis=-1))")
    try:
        return np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(f"{name} must be a numeric array of shape {layout}: {err}") from None


def check_trajectories(data: Any, name: str = "data") -> np.ndarray:
    """Trajectories of shape (trajectory, time, variable): real, numeric, finite. Returns float64."""
    a = as_real_array(data, name, "(trajectory, time, variable)")
    if a.ndim == 2:
        raise InputError(f"{name} has shape {a.shape} (2-D); expected (trajectory, time, variable). "
                         f"For a single trajectory use {name}[None]; for one variable use {name}[..., None]")
    if a.ndim != 3:
        raise InputError(f"{name} must be 3-D (trajectory, time, variable), got {a.ndim}-D shape {a.shape}")
    if min(a.shape) < 1:
        raise InputError(f"{name} has an empty axis: shape {a.shape}")
    bad = ~np.isfinite(a)
    if bad.any():
        n, t, _ = np.argwhere(bad)[0]
        raise InputError(
            f"{name} contains {int(bad.sum())} NaN/inf values (first at trajectory {n}, time step {t}); "
            "drop or interpolate the NaN steps (e.g. ds.interpolate_na('time')) before reconstructing")
    return a


def _power_of_ten(x: float) -> str:
    return f"1e{int(math.floor(math.log10(x)))}"


def check_float32_range(a: np.ndarray, names: Sequence[str] | None = None, name: str = "data") -> None:
    """Refuse float64 trajectories (N, T, d) that float32 (what the models compute in) would
    corrupt: a variable beyond float32's range (inf), one whose variation underflows (0), or
    one whose variation is lost next to its mean. Only an exactly constant variable is constant."""
    flat = np.asarray(a, dtype=np.float64).reshape(-1, a.shape[-1])
    label = (lambda j: f"variable {names[j]!r}") if names is not None else (lambda j: f"variable {j}")
    amax = np.abs(flat).max(axis=0)
    for j in np.flatnonzero(amax > _F32.max / FLOAT32_MARGIN):
        raise InputError(
            f"{name}: {label(j)} reaches |x| = {amax[j]:.3g}, beyond what float32 (max {_F32.max:.3g}, "
            f"the models' precision, with a margin of {FLOAT32_MARGIN:g} for forecasts) can hold; "
            f"divide it by a unit factor first, e.g. x / {_power_of_ten(amax[j])}")
    for j in range(flat.shape[1]):
        col = flat[:, j]
        if col.max() == col.min():
            continue  # exactly constant: scaled by 1
        std, mean = float(col.std()), float(col.mean())
        if std < _F32.tiny * FLOAT32_MARGIN:
            raise InputError(
                f"{name}: {label(j)} varies by only std = {std:.3g}, below what float32 (smallest normal "
                f"{_F32.tiny:.3g}, the models' precision) can represent: it would become 0; multiply it "
                f"by a unit factor first, e.g. x * 1e{-int(math.floor(math.log10(std)))}")
        if std < MIN_RELATIVE_STD * abs(mean):
            raise InputError(
                f"{name}: {label(j)} varies by std = {std:.3g} around a mean of {mean:.6g} (relative "
                f"{std / abs(mean):.2g}); float32 (the models' precision, ~6e-8 relative) cannot resolve "
                f"that variation. Subtract a reference value first, e.g. x - x.mean()")


def check_time_grid(time: Any, n_steps: int | None = None) -> np.ndarray:
    """A time axis: 1-D, finite, strictly increasing, uniform. Returns float64 (T,)."""
    if time is None:
        raise InputError("time is required with array data: pass time=<1-D array of the sampling "
                         "times>, one per step along the array's second axis")
    raw = np.asarray(time)
    if raw.dtype.kind == "c":
        raise InputError("time is complex; pass the real sampling times (e.g. time.real if the imaginary "
                         "part is zero)")
    if raw.dtype.kind in "mM":
        raise InputError(f"time has dtype {raw.dtype} (dates); pass numbers, e.g. "
                         "(time - time[0]) / np.timedelta64(1, 's') for seconds since the start")
    if raw.dtype.kind == "b":
        raise InputError("time is boolean; pass the numeric sampling times")
    try:
        t = raw.astype(np.float64)
    except (TypeError, ValueError):
        raise InputError(f"time must be numeric (one sampling time per step), got dtype {raw.dtype}") from None
    if t.ndim != 1:
        raise InputError(f"time must be 1-D (one value per step), got shape {t.shape}")
    if n_steps is not None and t.shape[0] != n_steps:
        raise InputError(f"time has {t.shape[0]} values but the data has {n_steps} time steps "
                         "(axis 1 of the (trajectory, time, variable) array); they must match")
    if t.shape[0] < 2:
        raise InputError(f"need at least 2 time steps, got {t.shape[0]}")
    if not np.all(np.isfinite(t)):
        raise InputError("time contains NaN or inf values; drop those steps or fix the time axis")
    # all in float64; ``eps`` is the resolution of the dtype the times were given in
    finfo = np.finfo(raw.dtype) if raw.dtype.kind == "f" else np.finfo(np.float64)
    nonzero = np.abs(t[t != 0])
    if raw.dtype.kind == "f" and nonzero.size and nonzero.min() < finfo.tiny:
        raise InputError(f"time is {raw.dtype} and has values as small as {nonzero.min():.3g}, below its "
                         f"smallest normal number {finfo.tiny:.3g} (they lose precision); pass float64 "
                         "times or larger time units")
    dt = np.diff(t)
    if not np.all(dt > 0):
        i = int(np.argmax(dt <= 0))
        hint = f" (time is {raw.dtype}: pass float64 times)" if finfo.bits < 64 else ""
        raise InputError(f"time must be strictly increasing; it is not at index {i + 1} "
                         f"(t[{i}]={float(t[i])!r}, t[{i + 1}]={float(t[i + 1])!r}); sort the steps or drop "
                         f"duplicates{hint}")
    med = float(np.median(dt))
    rounding = 8 * float(finfo.eps) * float(np.max(np.abs(t)))  # rounding of the given values
    if rounding > 0.1 * med:
        raise InputError(
            f"time values reach {float(np.max(np.abs(t))):.6g} with steps of only {med:.3g}: {raw.dtype} "
            f"resolves about {finfo.eps * np.max(np.abs(t)):.2g} there, so the steps drown in rounding; "
            "subtract the start time first (time - time[0]) and pass float64 times")
    tol = 1e-3 * med + rounding  # relative to the step, computed in float64
    if np.max(np.abs(dt - med)) > tol:
        raise InputError(
            f"time steps are not uniform (dt ranges from {dt.min():.6g} to {dt.max():.6g}); WARP "
            "needs a uniform time grid: resample the trajectories onto one first, e.g. with "
            "ds.interp(time=np.linspace(t0, t1, n)) or numpy.interp")
    return t


def check_context(context: Any, n_steps: int) -> int:
    """A context length that leaves at least one step to forecast: 1 <= context < n_steps."""
    if not is_integer(context):
        raise InputError(f"context must be an integer number of steps, got {context!r}")
    if context < 1:
        raise InputError(f"context must be at least 1 step, got {context}")
    if context >= n_steps:
        raise InputError(f"context ({context} steps) must be shorter than the trajectories "
                         f"({n_steps} steps) to leave steps to forecast; use a smaller context")
    return int(context)


def check_choice(value: Any, name: str, choices: list[str] | tuple[str, ...]) -> str:
    """``value`` one of ``choices``."""
    if value not in choices:
        raise InputError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_output_path(path: Any, name: str = "output") -> Path:
    """A file path that can be written: not a directory, in an existing writable directory.
    Checked before any work, so a bad path never costs a simulation."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise InputError(f"{name} must be a file path (str or Path), got {path!r}")
    p = Path(path).expanduser()
    if p.is_dir():
        raise InputError(f"{name} {str(path)!r} is a directory; give a file name inside it, e.g. {p / 'out.nc'}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise InputError(f"{name}: directory {str(parent)!r} does not exist; create it first "
                         f"(mkdir -p {parent}) or choose another path")
    if not parent.is_dir():
        raise InputError(f"{name}: {str(parent)!r} is a file, not a directory; choose a path inside a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{name}: directory {str(parent)!r} is not writable; choose a writable directory")
    return p


def physical_memory() -> int:
    """Bytes of memory of this machine (1 TiB when it cannot be read)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 2**40


def check_memory(n_values: int, what: str, fix: str, bytes_per_value: int = 8) -> None:
    """InputError when ``n_values`` values (``what`` names the sizes) cannot fit in memory:
    an impossible size fails here, before anything is allocated."""
    need, have = int(n_values) * bytes_per_value, physical_memory()
    if need > have:
        raise InputError(f"{what} = {int(n_values):.3g} values ({need / 2**30:.3g} GiB as float64) do not fit "
                         f"in this machine's memory ({have / 2**30:.3g} GiB); {fix}")


__all__ = ["FLOAT32_MARGIN", "InputError", "MAX_SEED", "MIN_RELATIVE_STD", "check_choice", "check_context",
           "check_float32_range", "check_int", "check_memory", "check_number", "check_output_path", "check_seed",
           "check_time_grid", "check_trajectories", "is_integer", "physical_memory"]
