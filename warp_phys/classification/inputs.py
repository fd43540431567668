"""Input handling of `SequenceClassifier`: sequences of equal or different lengths, labels,
the stratified validation split and the packed tensor the classifier modules read.

Sequences: an array (N, T, d), an array (N, T) (one channel), or a list of N arrays (T_i, d)
or (T_i,) of different lengths (padded here; the lengths are inferred). ``lengths`` (N,):
integers in [1, T]; steps t >= lengths[i] of sequence i are padding: ignored, and may hold
anything, NaN included. Units: whatever the caller's data are in; the classifier
standardises each channel with the mean and std of the training sequences' valid steps.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from warp_phys.data import fit_scaler
from warp_phys.scaling import Scaler
from warp_phys.validation import InputError, as_real_array


def _padded(seqs: list[Any], name: str) -> tuple[np.ndarray, np.ndarray]:
    """A list of arrays (T_i, d) or (T_i,) -> zero-padded (N, max T_i, d) and the lengths (N,)."""
    arrays = []
    for i, s in enumerate(seqs):
        a = as_real_array(s, f"{name}[{i}]", "(time, channels) or (time,)")
        a = a[:, None] if a.ndim == 1 else a
        if a.ndim != 2 or a.shape[0] < 1:
            raise InputError(f"{name}[{i}] has shape {a.shape}; each sequence of a list must be an array (T_i, d) "
                             "or (T_i,) with at least one step")
        arrays.append(a)
    widths = sorted({a.shape[1] for a in arrays})
    if len(widths) > 1:
        raise InputError(f"the sequences of {name} have different numbers of channels {widths}; every sequence "
                         "must have the same channels")
    lengths = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    out = np.zeros((len(arrays), int(lengths.max()), widths[0]))
    for i, a in enumerate(arrays):
        out[i, : a.shape[0]] = a
    return out, lengths


def as_sequences(X: Any, lengths: Any = None, name: str = "X") -> tuple[np.ndarray, np.ndarray]:
    """X as a float64 array (N, T, d) with padded steps set to 0, and the lengths (N,) int64.
    InputError for another layout, lengths out of [1, T], or NaN/inf on a valid step."""
    if isinstance(X, (list, tuple)) and len(X) and not np.isscalar(X[0]) and np.ndim(X[0]) >= 1 \
            and len({np.shape(s)[0] for s in X}) > 1:
        if lengths is not None:
            raise InputError(f"{name} is a list of sequences of different lengths, whose lengths are read from "
                             "the arrays: do not pass lengths too (or pass one padded array with lengths)")
        a, lengths = _padded(list(X), name)
    else:
        a = as_real_array(X, name, "(sequences, time, channels), (sequences, time) or a list of (time, channels)")
        if a.ndim == 2:
            a = a[:, :, None]
        if a.ndim != 3:
            raise InputError(f"{name} has shape {a.shape}; give (sequences, time, channels), (sequences, time) "
                             "for one channel, or a list of arrays (time, channels) of different lengths")
        a = a.copy()
    N, T, _ = a.shape
    if N < 1 or T < 1 or a.shape[2] < 1:
        raise InputError(f"{name} is empty: shape {a.shape}")
    if lengths is None:
        lengths = np.full(N, T, dtype=np.int64)
    else:
        raw = np.asarray(lengths)
        if raw.shape != (N,) or raw.dtype.kind not in "iu":
            raise InputError(f"lengths must be {N} integers (one per sequence of {name}), got shape {raw.shape} "
                             f"and dtype {raw.dtype}")
        lengths = raw.astype(np.int64)
        if lengths.min() < 1 or lengths.max() > T:
            bad = int(np.flatnonzero((lengths < 1) | (lengths > T))[0])
            raise InputError(f"lengths[{bad}]={int(lengths[bad])} is outside [1, {T}]: each length counts the valid "
                             f"steps of a sequence of {name}, which has {T} steps")
    valid = np.arange(T)[None, :] < lengths[:, None]
    bad = ~np.isfinite(a) & valid[:, :, None]
    if bad.any():
        n, t, c = np.argwhere(bad)[0]
        raise InputError(f"{name} contains {int(bad.sum())} NaN/inf values within the sequences' lengths (first at "
                         f"sequence {n}, step {t}, channel {c}); interpolate or drop them, or end the sequence "
                         "before them with lengths")
    a[~valid] = 0.0
    return a, lengths


def as_labels(y: Any, n: int, name: str = "y") -> np.ndarray:
    """y as a 1-D array of n labels (any hashable, sortable values: ints, strings, ...)."""
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise InputError(f"{name} has shape {y.shape} but there are {n} sequences; give one label per sequence")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise InputError(f"{name} contains NaN or inf; every sequence needs a label")
    return y


def fit_channel_scaler(x: np.ndarray, lengths: np.ndarray) -> Scaler:
    """Per-channel mean/std (`warp_phys.data.fit_scaler`) over the valid steps of x (N, T, d)."""
    valid = np.arange(x.shape[1])[None, :] < lengths[:, None]
    return fit_scaler(torch.as_tensor(x[valid][None]))


def pack(x: np.ndarray, lengths: np.ndarray, scaler: Scaler | None) -> torch.Tensor:
    """The classifier modules' input: float32 (N, T, d + 1), the standardised values (0 on padded
    steps) and the validity mask as the last channel. InputError if a value overflows float32."""
    z = torch.as_tensor(x) if scaler is None else scaler.normalise(torch.as_tensor(x))
    mask = torch.as_tensor(np.arange(x.shape[1])[None, :] < lengths[:, None])
    z = torch.where(mask[..., None], z, torch.zeros(()))
    out = torch.cat([z, mask[..., None].to(z.dtype)], dim=-1).to(torch.float32)
    if not torch.isfinite(out).all():
        raise InputError("the sequences overflow float32 (|value| > 3e38); rescale them, or use standardize=True")
    return out


def stratified_split(y_idx: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) with round(fraction * n_c) sequences of each class c in val (at most
    n_c - 1: each class keeps a training sequence), drawn with ``seed``; both sorted."""
    rng = np.random.default_rng(seed)
    val = []
    for c in np.unique(y_idx):
        idx = rng.permutation(np.flatnonzero(y_idx == c))
        val.extend(idx[: min(int(round(fraction * len(idx))), len(idx) - 1)].tolist())
    val_idx = np.sort(np.asarray(val, dtype=np.int64))
    return np.setdiff1d(np.arange(len(y_idx)), val_idx), val_idx


__all__ = ["as_labels", "as_sequences", "fit_channel_scaler", "pack", "stratified_split"]
