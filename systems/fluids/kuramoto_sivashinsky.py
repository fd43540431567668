"""The Kuramoto-Sivashinsky equation on a periodic interval (nondimensional).

    du/dt + u du/dx + d2u/dx2 + nu d4u/dx4 = 0,   x in [0, L), L = 22 by default (option ``length``)

L = 22 (with nu = 1) is the standard small chaotic domain of Cvitanovic, Davidchack & Siminos
(SIAM J. Appl. Dyn. Syst. 2010); its largest Lyapunov exponent, measured with this solver, is
0.0485 +- 0.0003 (``lyapunov_exponent``, ``lyapunov_exponent_stderr``, ``lyapunov_method``),
in line with the published value of about 0.048. All quantities are nondimensional (units "1").

Numerics: pseudo-spectral (rfft, 2/3 dealiasing), ETDRK4 (Cox & Matthews) with the
contour-integral coefficients of Kassam & Trefethen (2005); the stiff linear part k^2 - nu k^4
is exact. Initial field: zero-mean random field with spectrum peaked at the most unstable
wavenumber 1/sqrt(2 nu), rms ``ic_rms``; the saved window starts after ``spinup`` (the
transient).

Resolution: modes above k = 1/sqrt(nu) are linearly damped at rate nu k^4 - k^2; we require
the dealiased grid to reach well into the dissipative range, k_max >= 3 / sqrt(nu)
(measured at L = 22: the time-mean spectrum at k_max is then below 1e-9 of its peak, against
1e-5 on a 32-point grid, which fails the rule).
Blow-up check: rms(u - mean) above 2 x max(rms(u0), 3 x the attractor rms 1.2), a
measured, not rigorous, bound. Step: Courant rule with speed max(max|u0|, 1.5 x 3.1), 3.1
being the measured attractor max |u| at L = 22, capped at dt = 0.25.

Parameter ranges: nu is held at 1 for both splits (degenerate ranges: not sampled) because
at L = 22 nearby values (measured: nu = 0.95, 0.97, 1.15) fall into periodic windows where
most trajectories stop being chaotic; train and test differ by the random initial fields.
"""
from __future__ import annotations

import math
from typing import Any

import torch

from ..base import Parameter, Variable
from ._field import SpectralProblem
from ._oned import OneDField, advection_problem_1d, random_field_1d
from .spectral import wavenumbers_1d

ATTRACTOR_MAX_U = 3.1
ATTRACTOR_RMS = 1.2


class KuramotoSivashinsky(OneDField):
    """Kuramoto-Sivashinsky on [0, L) (periodic), pseudo-spectral ETDRK4."""

    name = "kuramoto_sivashinsky"
    aliases = ("ks", "kuramoto-sivashinsky")
    description = "Kuramoto-Sivashinsky equation on a periodic interval (L = 22: chaotic)"
    time_units = "1"
    space_units = "1"
    default_grid = 64
    method = "ETDRK4"
    default_t_span = (0.0, 200.0)
    default_n_steps = 201
    default_spinup = 100.0
    lyapunov_exponent = 0.0485
    lyapunov_exponent_stderr = 0.00025
    lyapunov_method = ("two-trajectory Benettin (warp_phys.lyapunov.largest_exponent) with this ETDRK4 solver "
                       "and the step of simulate (dt = 1/28) on the default 64-point grid; mean and standard "
                       "error over 128 random initial fields (seed 0), 100 spin-up + 50 alignment + 4000 "
                       "averaged time units each (benchmarks/lyapunov_claims.py)")
    chaotic = True
    variables = (Variable("u", "1", "Kuramoto-Sivashinsky field"),)
    parameters = (
        Parameter("nu", 1.0, (1.0, 1.0), (1.0, 1.0), "1", "hyperviscosity (fourth-order) coefficient",
                  minimum=0.0),
    )

    def __init__(self, *, length: float = 22.0, ic_rms: float = 1.0, spinup: float | None = None,
                 **params: float) -> None:
        for key, val in (("length", length), ("ic_rms", ic_rms)):
            if not (isinstance(val, (int, float)) and math.isfinite(val) and val > 0):
                raise ValueError(f"kuramoto_sivashinsky: {key} must be a positive number, got {val!r}")
        self.length, self.ic_rms = float(length), float(ic_rms)
        if spinup is not None:
            self.default_spinup = float(spinup)
        super().__init__(**params)
        if self.length != 22.0 or self.params["nu"] != 1.0:   # measured for L = 22, nu = 1 only
            self.lyapunov_exponent = self.lyapunov_exponent_stderr = self.lyapunov_method = None

    def _options_hint(self) -> str:
        return " and the structural options length, ic_rms, spinup"

    def options(self) -> dict[str, Any]:
        return {"length": self.length, "ic_rms": self.ic_rms, "spinup": self.default_spinup}

    def _extra_attrs(self) -> dict[str, Any]:
        return {"domain_length": self.length,
                "equation": "du/dt + u du/dx + d2u/dx2 + nu d4u/dx4 = 0 (periodic)"}

    def dt_cap(self, grid: int) -> float:
        return 0.25

    def _problem(self, grid: int, p: dict[str, torch.Tensor], dtype: torch.dtype,
                 device: torch.device) -> SpectralProblem:
        m = (grid + 2) // 3
        k = wavenumbers_1d(grid, self.length, dtype=dtype, device=device)[:m]
        lin = k**2 - p["nu"][:, None] * k**4
        return advection_problem_1d(grid, self.length, lin, dtype, device)

    def _sample_initial(self, grid: int, n: int, p: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        k_peak = 1.0 / math.sqrt(2 * float(p[:, 0].mean()))
        return random_field_1d(grid, n, self.length, k_peak, torch.full((n,), self.ic_rms), generator)

    def _speed_bound(self, u0, p, problem):
        return torch.clamp(problem.speed(u0), min=1.5 * ATTRACTOR_MAX_U)

    def _norm_bound(self, u0, p, problem):
        return torch.clamp(problem.norm(problem.to_physical(u0)), min=3 * ATTRACTOR_RMS)

    def _check_resolution(self, grid: int, u0: torch.Tensor, p: dict[str, torch.Tensor],
                          problem: SpectralProblem) -> None:
        need_k = 3.0 / torch.sqrt(p["nu"])
        bad = need_k > problem.k_max
        if bool(bad.any()):
            i = int(torch.argmax(need_k))
            need = 3 * math.ceil(need_k[i].item() * self.length / (2 * math.pi)) + 3
            need += need % 2
            raise ValueError(
                f"kuramoto_sivashinsky: grid={grid} is too coarse for L={self.length:g}, nu={p['nu'][i].item():.4g} "
                f"(trajectory {i}): need k_max >= 3/sqrt(nu) = {need_k[i].item():.3g}, have {problem.k_max:.3g}. "
                f"Use grid >= {need}"
            )
