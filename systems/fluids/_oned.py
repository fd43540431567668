"""Shared pieces of the 1-D periodic field systems (Burgers, Kuramoto-Sivashinsky).

Both have the conservative quadratic nonlinearity -u u_x = -1/2 d/dx (u^2), a diagonal
linear part, and a state kept on the 2/3-rule modes: the spectral state is the first
k_c + 1 rfft coefficients, shape (B, k_c + 1), k_c = ceil(n/3) - 1.
"""
from __future__ import annotations

import math

import torch

from ._field import FieldSystem, SpectralProblem
from .spectral import coordinates, cutoff, wavenumbers_1d


def advection_problem_1d(n: int, length: float, lin: torch.Tensor, dtype: torch.dtype,
                         device: torch.device) -> SpectralProblem:
    """du/dt = L u - 1/2 d/dx(u^2) on [0, length) with n points; ``lin`` (B, k_c+1) real."""
    kc = cutoff(n)
    m = kc + 1
    k = wavenumbers_1d(n, length, dtype=dtype, device=device)[:m]
    cdt = torch.complex128 if dtype == torch.float64 else torch.complex64
    coef = (-0.5j * k).to(cdt)            # -1/2 i k: the k = 0 entry is exactly 0 (mean conserved)

    def to_spectral(u: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfft(u, dim=-1)[..., :m]

    def to_physical(u_hat: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfft(u_hat, n=n, dim=-1)

    def nonlinear(u_hat: torch.Tensor) -> torch.Tensor:
        u = to_physical(u_hat)
        return coef * to_spectral(u * u)

    def speed(u_hat: torch.Tensor) -> torch.Tensor:
        return to_physical(u_hat).abs().amax(dim=-1)

    def rms_fluctuation(u: torch.Tensor) -> torch.Tensor:
        return (u - u.mean(dim=-1, keepdim=True)).pow(2).mean(dim=-1).sqrt()

    return SpectralProblem(
        lin=lin, nonlinear=nonlinear, to_physical=to_physical, to_spectral=to_spectral,
        mask=torch.ones(m, dtype=dtype, device=device), speed=speed, norm=rms_fluctuation,
        k_max=kc * 2 * math.pi / length,
    )


def random_field_1d(n: int, count: int, length: float, k_peak: float, rms: torch.Tensor,
                    generator: torch.Generator) -> torch.Tensor:
    """Zero-mean random fields (count, n) float64 with spectrum E(k) ~ k^4 exp(-2 (k/k_peak)^2)
    on the 2/3-rule modes (k_peak in angular wavenumber units), each scaled to rms ``rms``."""
    noise = torch.randn(count, n, generator=generator, dtype=torch.float64)
    k = wavenumbers_1d(n, length)
    m = torch.arange(k.shape[0]) <= cutoff(n)
    amp = k**2 * torch.exp(-((k / k_peak) ** 2)) * m
    u = torch.fft.irfft(torch.fft.rfft(noise) * amp, n=n)
    r = u.pow(2).mean(-1).sqrt()
    return u * (rms.to(torch.float64) / r)[:, None]


class OneDField(FieldSystem):
    """A 1-D periodic field system on [0, length)."""

    dims = ("x",)
    length: float

    def _spatial_coords(self, grid: int) -> dict[str, tuple]:
        x = coordinates(grid, self.length).numpy()
        return {"x": ("x", x, {"long_name": f"x coordinate (periodic, period {self.length:g} {self.space_units})",
                               "units": self.space_units, "axis": "X"})}
