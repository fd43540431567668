"""Viscous Burgers equation on a periodic interval.

    du/dt + u du/dx = nu d2u/dx2,   x in [0, L), L = 2 pi m by default (option ``length``)

Units: x in m, t in s, u in m s-1, nu in m2 s-1. Written in conservative form
-u u_x = -1/2 d/dx(u^2), so the spatial mean of u is conserved exactly (its Fourier mode
has zero tendency). Pseudo-spectral (rfft, 2/3 dealiasing), IF-RK4 (viscosity exact).

Initial field: the mean m ~ U(-0.5, 0.5) m s-1 plus a zero-mean random field with spectrum
E(k) ~ k^4 exp(-2 (k/k_peak)^2), k_peak = 2 (2 pi / L), rms ``ic_rms`` (0.5 m s-1); it
steepens into shocks that viscosity smooths.

Bounds used by the checks (rigorous for the PDE): Galilean invariance plus the maximum
principle give max|u - m| <= max|u0 - m| =: U, and the Galerkin energy identity gives
rms(u - m) <= rms(u0 - m) (blow-up check). Resolution: a viscous shock of jump <= 2U has
width >= nu / U; we require the dealiased grid to resolve it,
    U / (nu k_max) <= 1     (grid-scale viscous rate nu k_max^2 >= advective rate U k_max).
"""
from __future__ import annotations

import math
from typing import Any

import torch

from ..base import Parameter, TimeGrid, Variable
from ._field import SpectralProblem
from ._oned import OneDField, advection_problem_1d, random_field_1d
from .spectral import wavenumbers_1d


class Burgers1D(OneDField):
    """Viscous Burgers on [0, L) (periodic), pseudo-spectral IF-RK4."""

    name = "burgers_1d"
    aliases = ("burgers",)
    description = "viscous Burgers equation on a periodic interval, pseudo-spectral"
    time_units = "s"
    space_units = "m"
    default_grid = 128
    method = "IF-RK4"
    default_time_grid = TimeGrid((0.0, 5.0), 101)
    variables = (Variable("u", "m s-1", "velocity"),)
    parameters = (
        Parameter("nu", 0.06, (0.05, 0.08), (0.045, 0.1), "m2 s-1", "kinematic viscosity", minimum=0.0),
    )

    def __init__(self, *, length: float = 2 * math.pi, ic_rms: float = 0.5, **params: float) -> None:
        for key, val in (("length", length), ("ic_rms", ic_rms)):
            if not (isinstance(val, (int, float)) and math.isfinite(val) and val > 0):
                raise ValueError(f"burgers_1d: {key} must be a positive number, got {val!r}")
        self.length, self.ic_rms = float(length), float(ic_rms)
        super().__init__(**params)

    def _options_hint(self) -> str:
        return " and the structural options length, ic_rms"

    def options(self) -> dict[str, Any]:
        return {"length": self.length, "ic_rms": self.ic_rms}

    def _extra_attrs(self) -> dict[str, Any]:
        return {"domain_length": self.length, "equation": "du/dt + u du/dx = nu d2u/dx2 (periodic)"}

    def _problem(self, grid: int, p: dict[str, torch.Tensor], dtype: torch.dtype,
                 device: torch.device) -> SpectralProblem:
        m = (grid + 2) // 3
        k = wavenumbers_1d(grid, self.length, dtype=dtype, device=device)[:m]
        return advection_problem_1d(grid, self.length, -p["nu"][:, None] * k**2, dtype, device)

    def _sample_initial(self, grid: int, n: int, p: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        mean = torch.rand(n, generator=generator, dtype=torch.float64) - 0.5
        k_peak = 2 * (2 * math.pi / self.length)
        fluct = random_field_1d(grid, n, self.length, k_peak, torch.full((n,), self.ic_rms), generator)
        return mean[:, None] + fluct

    def _fluct_max(self, u0: torch.Tensor, problem: SpectralProblem) -> torch.Tensor:
        u = problem.to_physical(u0)
        return (u - u.mean(-1, keepdim=True)).abs().amax(-1)

    def _speed_bound(self, u0, p, problem):
        return problem.speed(u0)

    def _norm_bound(self, u0, p, problem):
        return problem.norm(problem.to_physical(u0))

    def _check_resolution(self, grid: int, u0: torch.Tensor, p: dict[str, torch.Tensor],
                          problem: SpectralProblem) -> None:
        U = self._fluct_max(u0, problem)
        ratio = U / (p["nu"] * problem.k_max)
        if bool((ratio > 1).any()):
            i = int(torch.argmax(ratio))
            k_need = U[i].item() / p["nu"][i].item()
            need = 3 * math.ceil(k_need * self.length / (2 * math.pi)) + 3
            need += need % 2
            raise ValueError(
                f"burgers_1d: grid={grid} is too coarse for nu={p['nu'][i].item():.4g} (trajectory {i}): "
                f"shocks of amplitude U = max|u0 - mean| = {U[i].item():.3g} need U / (nu k_max) <= 1 but it is "
                f"{ratio[i].item():.3g} (k_max = {problem.k_max:.3g}). Use grid >= {need} or nu >= "
                f"{U[i].item() / problem.k_max:.3g}"
            )
