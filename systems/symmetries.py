"""Time rescaling, a symmetry of some families of systems, as a data augmentation.

For a family closed under t -> a t (the mass-spring-damper: x(a t) solves m / a^2, c / a, k;
Lotka-Volterra: every rate times a), a trajectory x(t) gives a new member of the family
x~_j(t) = a**p_j x_j(t_0 + a (t - t_0)), with the powers p_j of ``System.time_rescaling``
(a velocity has p = 1). With a <= 1 the new trajectory is read off the old one at times
inside its span, by cubic-spline interpolation: no extrapolation, no simulation. The initial
condition transforms with the same powers (a velocity v_0 becomes a v_0).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.interpolate import CubicSpline

from warp_phys.validation import InputError


def check_rescale_range(factors: Sequence[float]) -> tuple[float, float]:
    """A range (low, high) of rescaling factors with 0 < low <= high <= 1; InputError otherwise."""
    try:
        lo, hi = (float(v) for v in factors)
    except (TypeError, ValueError):
        raise InputError(f"time_rescale must be a pair (low, high) of factors, got {factors!r}") from None
    if not 0.0 < lo <= hi <= 1.0:
        raise InputError(f"time_rescale=({lo}, {hi}) must satisfy 0 < low <= high <= 1: a factor above 1 "
                         "would need the trajectory beyond its last time step")
    return lo, hi


def time_rescale(states: np.ndarray, time: np.ndarray, factors: np.ndarray, powers: Sequence[int]) -> np.ndarray:
    """Rescaled copies (N, T, d) of ``states`` (N, T, d) on the same ``time`` grid (T,):
    copy i is a_i**p_j x_j(t_0 + a_i (t - t_0)) with a_i = factors[i] in (0, 1]."""
    x = np.asarray(states, dtype=np.float64)
    t = np.asarray(time, dtype=np.float64)
    a = np.asarray(factors, dtype=np.float64)
    p = np.asarray(powers, dtype=np.float64)
    if x.ndim != 3 or t.shape != (x.shape[1],) or a.shape != (x.shape[0],) or p.shape != (x.shape[2],):
        raise InputError(f"time_rescale needs states (N, T, d), time (T,), factors (N,), powers (d,); got "
                         f"{x.shape}, {t.shape}, {a.shape}, {p.shape}")
    if not ((a > 0) & (a <= 1)).all():
        raise InputError("time_rescale factors must lie in (0, 1]")
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        spline = CubicSpline(t, x[i], axis=0)
        out[i] = spline(t[0] + a[i] * (t - t[0])) * a[i] ** p
    return out


__all__ = ["check_rescale_range", "time_rescale"]
