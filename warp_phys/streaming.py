"""Training from data larger than memory: trajectories read from disk batch by batch.

* `TrajectorySource`: the trajectories (N, T, d) of a lazily opened ``state(trajectory, time,
  variable)`` (Zarr, NetCDF via dask, or any lazily indexed array) at given trajectory
  positions. ``read(rows)`` reads only those trajectories (in sorted order, so that they come
  from contiguous chunks), returns them in the order asked for, cast to float32 (as the
  in-memory path does), normalised with the source's `Scaler` and in the source's dtype and
  device. `warp_phys.Trainer.fit` takes a source as x_train / x_val in place of a tensor.
* `RunningMoments`: per-variable count, mean, sum of squared deviations (Chan et al.'s
  pairwise combination, float64), minimum and maximum, accumulated block by block;
  `moments_of` runs it over a source in one pass, `scaler_from` turns it into the `Scaler`
  that `warp_phys.data.fit_scaler` gives on the same data held in memory.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from warp_phys.scaling import Scaler
from warp_phys.validation import InputError

#: Trajectories per read of `moments_of` (one read's memory: READ_BLOCK * T * d * 8 bytes).
READ_BLOCK = 256
_DIMS = ("trajectory", "time", "variable")


class TrajectorySource:
    """Trajectories (N, T, d) read on demand from ``state``, a lazily backed DataArray with
    dims (trajectory, time, variable), at ``positions`` (N,) along its trajectory axis.

    ``scaler``: applied after reading (None: physical values). ``reads`` counts the
    trajectories read so far (shared by the subsets of one source)."""

    def __init__(self, state: Any, positions: Any = None, scaler: Scaler | None = None,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu",
                 _counter: list[int] | None = None) -> None:
        if tuple(state.dims) != _DIMS:
            state = state.transpose(*_DIMS)
        self.state, self.scaler, self.dtype, self.device = state, scaler, dtype, torch.device(device)
        n_all = int(state.sizes["trajectory"])
        self.positions = np.arange(n_all) if positions is None else np.asarray(positions, dtype=np.int64)
        self._counter = [0] if _counter is None else _counter

    @property
    def shape(self) -> tuple[int, int, int]:
        """(N, T, d): trajectories of this source, steps, variables."""
        return (int(self.positions.shape[0]), int(self.state.sizes["time"]), int(self.state.sizes["variable"]))

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def reads(self) -> int:
        """Trajectories read from ``state`` so far."""
        return self._counter[0]

    def _copy(self, **changes: Any) -> "TrajectorySource":
        kw = dict(state=self.state, positions=self.positions, scaler=self.scaler, dtype=self.dtype,
                  device=self.device, _counter=self._counter)
        return TrajectorySource(**{**kw, **changes})

    def subset(self, rows: Any) -> "TrajectorySource":
        """The source of rows ``rows`` (a slice or indices into 0..N-1) of this one; nothing is read."""
        return self._copy(positions=self.positions[_as_index(rows)])

    def __getitem__(self, rows: slice) -> "TrajectorySource":
        """``source[a:b:c]`` is `subset` (lazy); read a batch with `read`."""
        if not isinstance(rows, slice):
            raise TypeError("index a TrajectorySource with a slice (a lazy subset); read rows with .read(rows)")
        return self.subset(rows)

    def to(self, *args: Any, dtype: torch.dtype | None = None, device: Any = None) -> "TrajectorySource":
        """The source that returns ``dtype`` tensors on ``device`` (like `torch.Tensor.to`)."""
        for a in args:
            if isinstance(a, torch.dtype):
                dtype = a
            else:
                device = a
        return self._copy(dtype=dtype or self.dtype, device=device if device is not None else self.device)

    def physical(self, rows: Any) -> np.ndarray:
        """``state`` of ``rows`` as stored (B, T, d), rows in the order given; reads only them."""
        pos = self.positions[_as_index(rows)]
        uniq, inverse = np.unique(pos, return_inverse=True)
        a = np.asarray(_compute(self.state.isel(trajectory=uniq)))
        self._counter[0] += int(uniq.shape[0])
        return a if np.array_equal(uniq, pos) else a[inverse.reshape(-1)]

    def read(self, rows: Any) -> torch.Tensor:
        """Trajectories ``rows`` (tensor / array of indices into 0..N-1, or a slice) as a tensor
        (B, T, d): float32 of the stored values (as `warp_phys.data` converts them), normalised
        with the scaler, then in this source's dtype and on its device."""
        x = torch.from_numpy(np.array(self.physical(rows), dtype=np.float64)).to(torch.float32)
        if not bool(torch.isfinite(x).all()):
            raise InputError("the streamed state holds NaN or inf values; clean or drop those trajectories")
        if self.scaler is not None:
            x = self.scaler.normalise(x)
        return x.to(dtype=self.dtype, device=self.device)

    def signature(self) -> list[float]:
        """Numbers that identify the data of this source (shape, positions), for a check that
        every rank of a distributed run streams the same data."""
        pos = self.positions.astype(np.float64)
        return [*map(float, self.shape), float(pos.sum()), float((pos * np.arange(pos.shape[0])).sum())]


def _as_index(rows: Any) -> Any:
    if isinstance(rows, slice):
        return rows
    if isinstance(rows, torch.Tensor):
        rows = rows.detach().cpu().numpy()
    return np.asarray(rows, dtype=np.int64)


def _compute(da: Any) -> Any:
    """``da.values``; a dask-backed array is computed chunk by chunk in this thread (bounded memory)."""
    if getattr(da, "chunks", None) is not None:
        import dask

        with dask.config.set(scheduler="synchronous"):
            return da.values
    return da.values


def is_lazy(da: Any) -> bool:
    """True when the DataArray's values are not in memory: dask-backed, or lazily indexed from a
    file (xarray opened without dask); indexing it then reads only the selected values."""
    return da.chunks is not None or not da.variable._in_memory


def is_source(x: Any) -> bool:
    return isinstance(x, TrajectorySource)


def take(x: Any, rows: Any) -> torch.Tensor:
    """Rows of x: ``x[rows]`` for a tensor, ``x.read(rows)`` for a `TrajectorySource`."""
    return x.read(rows) if isinstance(x, TrajectorySource) else x[rows]


@dataclass
class RunningMoments:
    """Per-variable statistics of blocks (n, d) of samples, combined exactly as if computed on
    all samples at once (float64): ``count``, ``mean`` (d,), ``m2`` (d,) the sum of squared
    deviations from the mean, ``low``/``high`` (d,) the minimum and maximum."""

    d: int
    count: int = 0
    mean: np.ndarray = field(default=None)  # type: ignore[assignment]
    m2: np.ndarray = field(default=None)  # type: ignore[assignment]
    low: np.ndarray = field(default=None)  # type: ignore[assignment]
    high: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.mean = np.zeros(self.d) if self.mean is None else self.mean
        self.m2 = np.zeros(self.d) if self.m2 is None else self.m2
        self.low = np.full(self.d, np.inf) if self.low is None else self.low
        self.high = np.full(self.d, -np.inf) if self.high is None else self.high

    def update(self, block: np.ndarray) -> "RunningMoments":
        """Add samples ``block`` (..., d); returns self."""
        x = np.asarray(block, dtype=np.float64).reshape(-1, self.d)
        n = x.shape[0]
        if n == 0:
            return self
        mean = x.mean(0)
        m2 = ((x - mean) ** 2).sum(0)
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta**2 * (self.count * n / total)
        self.count = total
        self.low, self.high = np.minimum(self.low, x.min(0)), np.maximum(self.high, x.max(0))
        return self

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation (d,) (numpy's default, ddof=0)."""
        return np.sqrt(self.m2 / max(self.count, 1))


def moments_of(source: TrajectorySource, block: int = READ_BLOCK) -> tuple[RunningMoments, RunningMoments]:
    """One pass over ``source`` (read ``block`` trajectories at a time, in stored order): the
    moments of the float32-cast values (what the scaler is fit on) and of the stored values
    (the training band). InputError naming a non-finite value's trajectory block."""
    d = source.shape[2]
    cast, raw = RunningMoments(d), RunningMoments(d)
    for i in range(0, len(source), block):
        a = np.asarray(source.physical(slice(i, i + block)), dtype=np.float64)
        if not np.isfinite(a).all():
            raise InputError(f"the training state holds NaN or inf values (trajectories {i}..{i + len(a) - 1} of "
                             "the training split); clean or drop them before training")
        raw.update(a)
        cast.update(a.astype(np.float32))
    return cast, raw


def scaler_from(m: RunningMoments, *, floor: float = 1e-6, dtype: torch.dtype = torch.float32) -> Scaler:
    """The `Scaler` of `warp_phys.data.fit_scaler` from moments: loc the mean, scale the std,
    except scale 1 for a variable that is constant (max == min, std 0, or std <= floor * |mean|)."""
    loc, scale = torch.from_numpy(m.mean.copy()), torch.from_numpy(m.std)
    constant = torch.from_numpy(m.high == m.low) | (scale <= floor * loc.abs()) | (scale == 0)
    scale = torch.where(constant, torch.ones_like(scale), scale)
    return Scaler(loc.to(dtype), scale.to(dtype))


__all__ = ["READ_BLOCK", "RunningMoments", "TrajectorySource", "is_lazy", "is_source", "moments_of", "scaler_from", "take"]
