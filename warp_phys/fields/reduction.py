"""Reduced coordinates for fields: POD (fit on training snapshots) and Fourier truncation.

Both map fields of shape (..., *grid) (e.g. vorticity (N, T, n, n) or u (N, T, n)) to real
coefficients (..., r) and back. The bases are orthonormal in the grid inner product, so
``||decode(a) - decode(b)||_2 = ||a - b||_2``: a coefficient error *is* a field error.

* ``POD``: thin SVD of the mean-removed training snapshots, X - mean = U S V^T;
  a = (x - mean) V_r, x_hat = mean + a V_r^T. On the training snapshots the squared
  reconstruction error equals the discarded energy, sum_{i > r} S_i^2 (Eckart-Young).
* ``FourierTruncation``: the r real Fourier coefficients (cos/sin pairs, normalised) of the
  lowest wavenumbers |k| (ties broken by the rfft order); no fit needed beyond the mean.

Vorticity decoded from either basis gives a divergence-free velocity through the stream
function (``warp_phys.systems.fluids.diagnostics.velocity``), so the reduced model needs no
constraint for incompressibility.
"""
from __future__ import annotations

import math

import torch


def _as_tensor(x) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(getattr(x, "values", x))
    if not t.is_floating_point():
        t = t.to(torch.float64)
    return t


class FieldBasis:
    """An orthonormal basis of r field patterns plus a mean field.

    Attributes: ``mean`` (*grid,), ``modes`` (P, r) with P = prod(grid), ``grid_shape``.
    """

    kind = "basis"

    def __init__(self, mean: torch.Tensor, modes: torch.Tensor, grid_shape: tuple[int, ...]) -> None:
        self.mean = mean
        self.modes = modes
        self.grid_shape = tuple(int(g) for g in grid_shape)

    @property
    def rank(self) -> int:
        return int(self.modes.shape[1])

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        g = len(self.grid_shape)
        if tuple(x.shape[x.ndim - g:]) != self.grid_shape:
            raise ValueError(f"fields must end with the grid shape {self.grid_shape} the basis was built "
                             f"on, got shape {tuple(x.shape)}; refit the basis for this grid")
        if not torch.isfinite(x).all():
            raise ValueError("fields contain NaN or inf; remove those snapshots first")
        return x

    def encode(self, fields) -> torch.Tensor:
        """Coefficients (..., r) of fields (..., *grid) (same dtype as the fields)."""
        x = self._check(_as_tensor(fields))
        flat = x.reshape(*x.shape[: x.ndim - len(self.grid_shape)], -1)
        return (flat - self.mean.reshape(-1).to(flat)) @ self.modes.to(flat)

    def decode(self, coefficients) -> torch.Tensor:
        """Fields (..., *grid) from coefficients (..., r)."""
        a = _as_tensor(coefficients)
        if a.shape[-1] != self.rank:
            raise ValueError(f"coefficients have {a.shape[-1]} entries on the last axis; the basis has "
                             f"r={self.rank} modes")
        flat = a @ self.modes.to(a).T + self.mean.reshape(-1).to(a)
        return flat.reshape(*a.shape[:-1], *self.grid_shape)

    def captured_energy(self, fields) -> float:
        """Fraction of the fluctuation energy sum ||x - mean||^2 kept by the projection (0..1)."""
        x = _as_tensor(fields).to(torch.float64)
        a = self.encode(x)
        fluct = x.reshape(*x.shape[: x.ndim - len(self.grid_shape)], -1) - self.mean.reshape(-1).to(x)
        return float((a**2).sum() / (fluct**2).sum())

    def to_attrs(self) -> dict[str, float | int | str]:
        return {"basis": self.kind, "basis_rank": self.rank}


class POD(FieldBasis):
    """Proper orthogonal decomposition of training snapshots (thin SVD, float64).

    ``energy`` (min(M, P),): S_i^2 / sum S^2, the fluctuation energy fraction of every mode.
    """

    kind = "pod"

    def __init__(self, mean: torch.Tensor, modes: torch.Tensor, grid_shape: tuple[int, ...],
                 energy: torch.Tensor) -> None:
        super().__init__(mean, modes, grid_shape)
        self.energy = energy

    @classmethod
    def fit(cls, fields, rank: int, *, n_grid_dims: int) -> "POD":
        """Fit on fields (..., *grid) whose last ``n_grid_dims`` axes are space."""
        x = _as_tensor(fields).to(torch.float64)
        grid = tuple(x.shape[x.ndim - n_grid_dims:])
        snaps = x.reshape(-1, math.prod(grid))
        M, P = snaps.shape
        if not isinstance(rank, int) or isinstance(rank, bool) or not 1 <= rank <= min(M, P):
            raise ValueError(f"rank must be an integer in [1, {min(M, P)}] (snapshots x grid points), got {rank!r}")
        if not torch.isfinite(snaps).all():
            raise ValueError("training fields contain NaN or inf; remove those snapshots first")
        mean = snaps.mean(0)
        _, s, vh = torch.linalg.svd(snaps - mean, full_matrices=False)
        # deterministic signs: the largest-magnitude entry of every mode is positive
        v = vh[:rank].T
        idx = v.abs().argmax(0)
        v = v * torch.sign(v[idx, torch.arange(rank)])
        energy = s**2 / (s**2).sum()
        return cls(mean.reshape(grid), v.contiguous(), grid, energy)

    def discarded_energy(self) -> float:
        """Fraction of the training fluctuation energy outside the r kept modes."""
        return float(self.energy[self.rank:].sum())

    def to_attrs(self) -> dict[str, float | int | str]:
        return {**super().to_attrs(), "basis_captured_energy_train": 1.0 - self.discarded_energy()}


def fourier_modes(grid_shape: tuple[int, ...], rank: int, *, dtype=torch.float64) -> torch.Tensor:
    """(P, r) orthonormal real Fourier patterns (constant, cos, sin) of the lowest |k|,
    for a periodic 1-D (n,) or 2-D (n, n) grid; excludes Nyquist modes."""
    P = math.prod(grid_shape)
    if len(grid_shape) == 1:
        n = grid_shape[0]
        pos = [torch.arange(n, dtype=dtype)]
        ks = [(kx,) for kx in range(-(n // 2) + 1, n // 2)]
    elif len(grid_shape) == 2:
        n = grid_shape[0]
        yy, xx = torch.meshgrid(torch.arange(n, dtype=dtype), torch.arange(n, dtype=dtype), indexing="ij")
        pos = [yy.reshape(-1), xx.reshape(-1)]
        ks = [(ky, kx) for ky in range(-(n // 2) + 1, n // 2) for kx in range(-(n // 2) + 1, n // 2)]
    else:
        raise ValueError(f"Fourier truncation supports 1-D or 2-D grids, got grid shape {grid_shape}")
    # one representative of every +/- k pair (first nonzero component positive), sorted by |k|
    half = [k for k in ks if next((c for c in k if c != 0), 1) > 0 or all(c == 0 for c in k)]
    half.sort(key=lambda k: (sum(c * c for c in k), k))
    cols: list[torch.Tensor] = []
    for k in half:
        phase = sum(2 * math.pi * c * p / grid_shape[0] for c, p in zip(k, pos))
        if all(c == 0 for c in k):
            cols.append(torch.ones(P, dtype=dtype) / math.sqrt(P))
        else:
            cols += [torch.cos(phase) * math.sqrt(2.0 / P), torch.sin(phase) * math.sqrt(2.0 / P)]
        if len(cols) >= rank:
            break
    if len(cols) < rank:
        raise ValueError(f"rank={rank} exceeds the {len(cols)} non-Nyquist Fourier patterns of grid {grid_shape}")
    return torch.stack(cols[:rank], 1)


class FourierTruncation(FieldBasis):
    """The r lowest-wavenumber real Fourier patterns about the training mean field."""

    kind = "fourier"

    @classmethod
    def fit(cls, fields, rank: int, *, n_grid_dims: int) -> "FourierTruncation":
        x = _as_tensor(fields).to(torch.float64)
        grid = tuple(x.shape[x.ndim - n_grid_dims:])
        if len(set(grid)) != 1:
            raise ValueError(f"Fourier truncation needs a square grid, got {grid}")
        mean = x.reshape(-1, *grid).mean(0)
        modes = fourier_modes(grid, rank + 1)[:, 1:]  # the constant is carried by the mean field
        return cls(mean, modes, grid)


BASES = {"pod": POD, "fourier": FourierTruncation}


def fit_basis(kind: str, fields, rank: int, *, n_grid_dims: int) -> FieldBasis:
    """``POD.fit`` or ``FourierTruncation.fit`` by name."""
    if kind not in BASES:
        raise ValueError(f"unknown basis {kind!r}; choose one of {sorted(BASES)}")
    return BASES[kind].fit(fields, rank, n_grid_dims=n_grid_dims)


__all__ = ["BASES", "FieldBasis", "FourierTruncation", "POD", "fit_basis", "fourier_modes"]
