"""Periodic spectral grids: coordinates, wavenumbers, the 2/3 dealiasing mask, derivatives.

Conventions (shared by every field solver and the diagnostics):

* A periodic domain of length ``L`` is sampled at ``n`` points ``x_j = j L / n``, j = 0..n-1.
* Real FFTs (``torch.fft.rfft`` / ``rfft2``) with the default "backward" normalisation.
* 2-D arrays are indexed ``[..., y, x]``; ``rfft2`` halves the last (x) axis, so the
  spectral shape is ``(..., n, n // 2 + 1)``.
* Angular wavenumbers ``k = 2 pi m / L`` for integer m (on [0, 2 pi] simply k = m).
* Dealiasing (Orszag's 2/3 rule): a quadratic product of modes |m| < n/3 aliases only onto
  modes |m| >= n/3, so after zeroing every mode with |m| >= n/3 in *any* direction the
  retained modes are alias free. ``cutoff(n) = max retained |m| = ceil(n/3) - 1``.
"""
from __future__ import annotations

import math

import torch


def check_grid(n: int, *, minimum: int = 8) -> int:
    """Validate a grid size: an even integer >= ``minimum``. Returns it as int."""
    if isinstance(n, bool) or not hasattr(n, "__index__"):
        raise ValueError(f"grid must be an even integer >= {minimum}, got {n!r}")
    n = int(n)
    if n < minimum or n % 2:
        raise ValueError(
            f"grid={n} is not supported: use an even number of points >= {minimum} "
            f"(powers of two such as 32, 64, 128 are fastest)"
        )
    return n


def cutoff(n: int) -> int:
    """Largest integer wavenumber |m| kept by the 2/3 rule on an n-point grid."""
    return math.ceil(n / 3) - 1


def coordinates(n: int, length: float = 2 * math.pi, *, dtype=torch.float64, device=None) -> torch.Tensor:
    """Grid points x_j = j * length / n, shape (n,)."""
    return torch.arange(n, dtype=dtype, device=device) * (length / n)


def wavenumbers_1d(n: int, length: float = 2 * math.pi, *, dtype=torch.float64, device=None) -> torch.Tensor:
    """Angular wavenumbers of ``rfft`` on an n-point grid, shape (n // 2 + 1,)."""
    return torch.fft.rfftfreq(n, d=1.0 / n, dtype=dtype, device=device) * (2 * math.pi / length)


def wavenumbers_2d(
    n: int, length: float = 2 * math.pi, *, dtype=torch.float64, device=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(ky, kx) of ``rfft2`` on an n x n grid, broadcast-ready shapes (n, 1) and (1, n // 2 + 1)."""
    scale = 2 * math.pi / length
    ky = torch.fft.fftfreq(n, d=1.0 / n, dtype=dtype, device=device) * scale
    kx = torch.fft.rfftfreq(n, d=1.0 / n, dtype=dtype, device=device) * scale
    return ky[:, None], kx[None, :]


def dealias_mask_1d(n: int, *, device=None) -> torch.Tensor:
    """Boolean mask of the retained rfft modes (|m| <= cutoff(n)), shape (n // 2 + 1,)."""
    m = torch.arange(n // 2 + 1, device=device)
    return m <= cutoff(n)


def dealias_mask_2d(n: int, *, device=None) -> torch.Tensor:
    """Boolean mask of the retained rfft2 modes (|my|, |mx| <= cutoff(n)), shape (n, n // 2 + 1)."""
    my = torch.fft.fftfreq(n, d=1.0 / n, device=device).abs()[:, None]
    mx = torch.arange(n // 2 + 1, device=device)[None, :]
    c = cutoff(n)
    return (my <= c) & (mx <= c)


def inverse_laplacian_2d(ky: torch.Tensor, kx: torch.Tensor) -> torch.Tensor:
    """1/|k|^2 with the k=0 entry set to 0 (zero-mean solution), shape (n, n // 2 + 1)."""
    k2 = kx**2 + ky**2
    inv = torch.where(k2 > 0, 1.0 / torch.where(k2 > 0, k2, torch.ones_like(k2)), torch.zeros_like(k2))
    return inv


def grid_size_of(field: torch.Tensor) -> int:
    """n of a square (..., n, n) field; ValueError otherwise."""
    if field.ndim < 2 or field.shape[-1] != field.shape[-2]:
        raise ValueError(f"expected a square field of shape (..., n, n), got {tuple(field.shape)}")
    return field.shape[-1]


def spectral_gradient_2d(field: torch.Tensor, length: float = 2 * math.pi) -> tuple[torch.Tensor, torch.Tensor]:
    """(d/dx, d/dy) of a periodic (..., n, n) real field, computed with rfft2. Same shape."""
    n = grid_size_of(field)
    ky, kx = wavenumbers_2d(n, length, dtype=field.dtype, device=field.device)
    fh = torch.fft.rfft2(field)
    dx = torch.fft.irfft2(1j * kx * fh, s=(n, n))
    dy = torch.fft.irfft2(1j * ky * fh, s=(n, n))
    return dx, dy


def spectral_derivative_1d(field: torch.Tensor, order: int = 1, length: float = 2 * math.pi) -> torch.Tensor:
    """d^order/dx^order of a periodic (..., n) real field. Same shape.

    For odd orders the Nyquist mode is dropped (its derivative is not real-representable).
    """
    n = field.shape[-1]
    k = wavenumbers_1d(n, length, dtype=field.dtype, device=field.device)
    mult = (1j * k) ** order
    if order % 2:
        mult[-1] = 0
    return torch.fft.irfft(mult * torch.fft.rfft(field), n=n)
