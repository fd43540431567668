"""Sequence-to-sequence tasks built from simulated trajectories.

``segment_repeat`` is the WARP paper's Lotka-Volterra task (protocol ``"paper_segment"`` of
``lotka_volterra``): each trajectory is observed for a short random segment of L steps and is
zero afterwards (the input); the target repeats that segment every L + ``gap`` steps with zeros
between the copies. A model reads the input step by step and must write out the target, so after
step L it has to replay the segment from memory. Values are min-max normalised with
``minmax_bounds`` of the training split (one scalar pair over all variables and steps).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from warp_phys.validation import InputError, check_int, check_seed

#: The paper's settings: segment lengths drawn uniformly from [32, 64) steps, 50 zero steps
#: between copies of the segment in the target.
SEGMENT_REPEAT = {"min_length": 32, "max_length": 64, "gap": 50}


class SegmentTask(NamedTuple):
    """``inputs``/``targets``: (N, T, d) float arrays; ``lengths``: (N,) int segment lengths."""

    inputs: np.ndarray
    targets: np.ndarray
    lengths: np.ndarray


def segment_repeat(states: np.ndarray, seed: int, *, min_length: int = SEGMENT_REPEAT["min_length"],
                   max_length: int = SEGMENT_REPEAT["max_length"], gap: int = SEGMENT_REPEAT["gap"]) -> SegmentTask:
    """The segment-repeat task of trajectories ``states`` (N, T, d).

    Trajectory i gets a segment length L_i drawn uniformly from [min_length, max_length) with
    ``seed``. inputs[i, :L_i] = states[i, :L_i] and 0 after; targets[i, j:j + L_i] =
    states[i, :L_i] for j = 0, L_i + gap, 2 (L_i + gap), ... (cut at T) and 0 elsewhere.
    """
    x = np.asarray(states, dtype=np.float64)
    if x.ndim != 3:
        raise InputError(f"states must have shape (trajectories, time, variables), got {x.shape}")
    n, T, _ = x.shape
    lo = check_int(min_length, "min_length", minimum=1)
    hi = check_int(max_length, "max_length", minimum=lo + 1)
    gap = check_int(gap, "gap", minimum=0)
    if hi > T:
        raise InputError(f"max_length={hi} is longer than the trajectories ({T} steps); pass max_length <= {T}")
    lengths = np.random.default_rng(check_seed(seed)).integers(lo, hi, size=n)
    inputs, targets = np.zeros_like(x), np.zeros_like(x)
    for i, L in enumerate(lengths):
        inputs[i, :L] = x[i, :L]
        for j in range(0, T, L + gap):
            m = min(L, T - j)
            targets[i, j:j + m] = x[i, :m]
    return SegmentTask(inputs, targets, lengths)


def minmax_bounds(values: np.ndarray) -> tuple[float, float]:
    """(min, max) over all entries of ``values``; InputError when they are equal or not finite."""
    v = np.asarray(values, dtype=np.float64)
    lo, hi = float(np.min(v)), float(np.max(v))
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise InputError(f"min-max scaling needs finite values with max > min, got min={lo}, max={hi}")
    return lo, hi


def minmax_scale(values: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """(values - min) / (max - min) with ``bounds`` = (min, max) from `minmax_bounds`."""
    lo, hi = bounds
    return (np.asarray(values, dtype=np.float64) - lo) / (hi - lo)


__all__ = ["SEGMENT_REPEAT", "SegmentTask", "minmax_bounds", "minmax_scale", "segment_repeat"]
