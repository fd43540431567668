"""Diagnostics of 2-D incompressible flow given its vorticity on a periodic square.

All functions take vorticity ``w`` of shape (..., n, n) indexed [..., y, x] on [0, L)^2
(default L = 2 pi m; vorticity in s-1), as a torch tensor, numpy array or xarray DataArray
(converted with ``np.asarray``), and return torch tensors on ``w``'s device.

* stream function psi:  laplacian(psi) = -w  (zero mean)
* velocity (u, v) = (d psi/dy, -d psi/dx)  [m s-1], divergence free by construction
* kinetic energy  E = 1/2 <u^2 + v^2>  [m2 s-2]   (<.> is the domain average)
* enstrophy       Z = 1/2 <w^2>        [s-2]
* energy spectrum E(k) [m3 s-2], summed over shells |k| L / 2 pi in [m - 1/2, m + 1/2) and
  divided by the shell width dk = 2 pi / L, so that sum_k E(k) dk = E (Parseval); on the
  default [0, 2 pi)^2 domain dk = 1 and sum_k E(k) = E.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .spectral import grid_size_of, inverse_laplacian_2d, wavenumbers_2d

TWO_PI = 2 * math.pi


def _as_field(w: Any) -> torch.Tensor:
    if isinstance(w, torch.Tensor):
        t = w
    else:
        t = torch.as_tensor(np.asarray(w))
    if not t.is_floating_point():
        t = t.to(torch.float64)
    grid_size_of(t)
    return t


def stream_function(w: Any, length: float = TWO_PI) -> torch.Tensor:
    """psi (..., n, n) [m2 s-1] with laplacian(psi) = -w and zero mean."""
    w = _as_field(w)
    n = w.shape[-1]
    ky, kx = wavenumbers_2d(n, length, dtype=w.dtype, device=w.device)
    return torch.fft.irfft2(torch.fft.rfft2(w) * inverse_laplacian_2d(ky, kx), s=(n, n))


def velocity(w: Any, length: float = TWO_PI) -> tuple[torch.Tensor, torch.Tensor]:
    """(u, v), each (..., n, n) [m s-1]: u = d psi/dy, v = -d psi/dx from the stream function."""
    w = _as_field(w)
    n = w.shape[-1]
    ky, kx = wavenumbers_2d(n, length, dtype=w.dtype, device=w.device)
    psi_hat = torch.fft.rfft2(w) * inverse_laplacian_2d(ky, kx)
    u = torch.fft.irfft2(1j * ky * psi_hat, s=(n, n))
    v = torch.fft.irfft2(-1j * kx * psi_hat, s=(n, n))
    return u, v


def divergence(u: Any, v: Any, length: float = TWO_PI) -> torch.Tensor:
    """du/dx + dv/dy (..., n, n) [s-1], spectral derivatives."""
    u, v = _as_field(u), _as_field(v)
    n = u.shape[-1]
    ky, kx = wavenumbers_2d(n, length, dtype=u.dtype, device=u.device)
    return torch.fft.irfft2(1j * kx * torch.fft.rfft2(u) + 1j * ky * torch.fft.rfft2(v), s=(n, n))


def vorticity(u: Any, v: Any, length: float = TWO_PI) -> torch.Tensor:
    """dv/dx - du/dy (..., n, n) [s-1], spectral derivatives."""
    u, v = _as_field(u), _as_field(v)
    n = u.shape[-1]
    ky, kx = wavenumbers_2d(n, length, dtype=u.dtype, device=u.device)
    return torch.fft.irfft2(1j * kx * torch.fft.rfft2(v) - 1j * ky * torch.fft.rfft2(u), s=(n, n))


def kinetic_energy(w: Any, length: float = TWO_PI) -> torch.Tensor:
    """E = 1/2 <u^2 + v^2> (...) [m2 s-2], the domain-averaged kinetic energy."""
    u, v = velocity(w, length)
    return 0.5 * (u**2 + v**2).mean(dim=(-2, -1))


def enstrophy(w: Any) -> torch.Tensor:
    """Z = 1/2 <w^2> (...) [s-2], the domain-averaged enstrophy."""
    w = _as_field(w)
    return 0.5 * (w**2).mean(dim=(-2, -1))


def _half_plane_weights(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Multiplicity of each rfft2 column in the full spectrum: 1 for kx = 0 and Nyquist, else 2."""
    wts = torch.full((n // 2 + 1,), 2.0, dtype=dtype, device=device)
    wts[0] = 1.0
    if n % 2 == 0:
        wts[-1] = 1.0
    return wts


def energy_spectrum(w: Any, length: float = TWO_PI) -> tuple[torch.Tensor, torch.Tensor]:
    """Shell-summed kinetic-energy spectrum.

    Returns k (K,) [m-1] = shell index m x dk (dk = 2 pi / L), and E (..., K) [m3 s-2]: the sum
    of 1/2 |u_hat|^2 over the modes with round(|k| / dk) = m, divided by dk, so that
    ``E.sum(-1) * dk == kinetic_energy(w)``. E at k = 0 is always 0 (zero-mean velocity).
    """
    w = _as_field(w)
    n = w.shape[-1]
    m_y, m_x = wavenumbers_2d(n, TWO_PI, dtype=w.dtype, device=w.device)  # integer wavenumbers
    k2 = m_x**2 + m_y**2
    inv = inverse_laplacian_2d(m_y, m_x)
    w_hat = torch.fft.rfft2(w) / n**2
    # |u_hat|^2 + |v_hat|^2 = |k|^2 |psi_hat|^2 = |w_hat|^2 / |k|^2 (integer k: L enters via k0 below)
    dens = 0.5 * w_hat.abs() ** 2 * inv * _half_plane_weights(n, w.dtype, w.device)
    shell = torch.round(torch.sqrt(k2)).to(torch.long)
    n_shells = int(shell.max()) + 1
    flat = dens.reshape(*dens.shape[:-2], -1)
    E = torch.zeros(*flat.shape[:-1], n_shells, dtype=w.dtype, device=w.device)
    E.index_add_(E.ndim - 1, shell.reshape(-1), flat)
    k0 = TWO_PI / length
    # physical k = k0 m, so |u_hat|^2 = |w_hat|^2 / (k0^2 m^2): energy scales by 1/k0^2
    k = torch.arange(n_shells, dtype=w.dtype, device=w.device) * k0
    return k, E / k0**3  # 1/k0^2 from |u_hat|^2 = |w_hat|^2/(k0 m)^2, 1/k0 per unit wavenumber
