"""The package's argument checks, in one place.

Every public entry point (the API, the CLI, the systems library) checks its arguments
here before any expensive work. Each check raises `InputError` (a `ValueError`) whose
message names the argument, the value and the fix, and returns the value normalised
(a Python int, a float64 array, ...).

Part of the small utility layer that ``systems/`` and ``priors/`` may import: it imports
nothing from the rest of the package.
"""
from __future__ import annotations

from typing import Any

import numpy as np

#: Seeds are unsigned 63-bit integers: torch.manual_seed and numpy's SeedSequence both take them.
MAX_SEED = 2**63 - 1


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
    """A seed: an integer in [0, 2**63 - 1]."""
    if not is_integer(seed):
        raise InputError(f"{name} must be an integer in [0, 2**63 - 1], got {seed!r}")
    return check_int(seed, name, minimum=0, maximum=MAX_SEED)


def check_trajectories(data: Any, name: str = "data") -> np.ndarray:
    """Trajectories of shape (trajectory, time, variable): real, numeric, finite. Returns float64."""
    if np.iscomplexobj(data):
        raise InputError(f"{name} is complex; pass its real and imaginary parts as separate variables "
                         "(np.concatenate([x.real, x.imag], axis=-1))")
    try:
        a = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(f"{name} must be a numeric array of shape (trajectory, time, variable): {err}") from None
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


def check_time_grid(time: Any, n_steps: int | None = None) -> np.ndarray:
    """A time axis: 1-D, finite, strictly increasing, uniform. Returns float64 (T,)."""
    if time is None:
        raise InputError("time is required with array data: pass time=<1-D array of the sampling "
                         "times>, one per step along the array's second axis")
    t = np.asarray(time, dtype=np.float64)
    if t.ndim != 1:
        raise InputError(f"time must be 1-D (one value per step), got shape {t.shape}")
    if n_steps is not None and t.shape[0] != n_steps:
        raise InputError(f"time has {t.shape[0]} values but the data has {n_steps} time steps "
                         "(axis 1 of the (trajectory, time, variable) array); they must match")
    if t.shape[0] < 2:
        raise InputError(f"need at least 2 time steps, got {t.shape[0]}")
    if not np.all(np.isfinite(t)):
        raise InputError("time contains NaN or inf values; drop those steps or fix the time axis")
    dt = np.diff(t)
    if not np.all(dt > 0):
        i = int(np.argmax(dt <= 0))
        raise InputError(f"time must be strictly increasing; it is not at index {i + 1} "
                         f"(t[{i}]={t[i]!r}, t[{i + 1}]={t[i + 1]!r}); sort the steps or drop duplicates")
    med = float(np.median(dt))
    tol = 1e-3 * med + 8 * np.finfo(np.float32).eps * float(np.max(np.abs(t)))
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


__all__ = ["InputError", "MAX_SEED", "check_choice", "check_context", "check_int", "check_seed",
           "check_time_grid", "check_trajectories", "is_integer"]
