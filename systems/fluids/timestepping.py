"""Exponential time steppers for semi-linear spectral problems  du/dt = L u + N(u).

``L`` is diagonal in Fourier space (a real tensor that broadcasts against the spectral
state, e.g. (B, n, n//2+1) with per-trajectory viscosity); ``N`` maps a spectral state to a
spectral tendency (dealiased, forcing included). Both steppers treat L exactly, so the step
size is limited only by the explicit (advective) part.

* ``IFRK4``  integrating-factor RK4 (classical RK4 on v = exp(-L t) u).
* ``ETDRK4`` exponential time differencing RK4 (Cox & Matthews 2002), with the phi-function
  coefficients evaluated by the contour-integral average of Kassam & Trefethen (2005), which
  avoids the cancellation error of the closed forms for small |L dt|.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

Nonlinear = Callable[[torch.Tensor], torch.Tensor]

#: |dt * lambda| limit of classical RK4 on the imaginary axis (pure advection): 2 sqrt(2).
RK4_IMAGINARY_LIMIT = 2.0 * math.sqrt(2.0)


def _complex_dtype(real: torch.dtype) -> torch.dtype:
    return torch.complex128 if real == torch.float64 else torch.complex64


class IFRK4:
    """Integrating-factor RK4 step of du/dt = L u + N(u) with a fixed step ``dt``.

    ``lin``: real tensor broadcastable to the state; ``dt`` in the problem's time units.
    """

    name = "IF-RK4"

    def __init__(self, lin: torch.Tensor, nonlinear: Nonlinear, dt: float):
        cdt = _complex_dtype(lin.dtype)
        self.nonlinear = nonlinear
        self.dt = float(dt)
        # Stored complex so the hot loop multiplies complex by complex (no per-step casts).
        self.e = torch.exp(lin * dt).to(cdt)
        self.e2 = torch.exp(lin * (dt / 2)).to(cdt)

    def step(self, u: torch.Tensor) -> torch.Tensor:
        """One step; u is the spectral state (complex), returns the new state."""
        h, e, e2, N = self.dt, self.e, self.e2, self.nonlinear
        k1 = N(u)
        eu = e2 * u
        k2 = N(eu + (h / 2) * (e2 * k1))
        k3 = N(eu + (h / 2) * k2)
        k4 = N(e * u + h * (e2 * k3))
        return e * u + (h / 6) * (e * k1 + 2 * e2 * (k2 + k3) + k4)


def etdrk4_coefficients(lin: torch.Tensor, dt: float, n_contour: int = 32) -> dict[str, torch.Tensor]:
    """ETDRK4 coefficients (E, E2, Q, f1, f2, f3) for a real diagonal operator ``lin``.

    Computed in float64 by averaging over ``n_contour`` points on the upper half of a unit
    circle centred at each dt*L (real part taken: L is real, so the circle's lower half is
    the conjugate), then cast back to ``lin``'s dtype.
    """
    L = lin.to(torch.float64) * dt
    j = torch.arange(1, n_contour + 1, dtype=torch.float64, device=lin.device)
    r = torch.exp(1j * math.pi * (j - 0.5) / n_contour)
    lr = L.unsqueeze(-1) + r                       # (..., M) complex
    elr = torch.exp(lr)
    q = dt * ((torch.exp(lr / 2) - 1) / lr).mean(-1).real
    f1 = dt * ((-4 - lr + elr * (4 - 3 * lr + lr**2)) / lr**3).mean(-1).real
    f2 = dt * ((2 + lr + elr * (lr - 2)) / lr**3).mean(-1).real
    f3 = dt * ((-4 - 3 * lr - lr**2 + elr * (4 - lr)) / lr**3).mean(-1).real
    out = {"E": torch.exp(L), "E2": torch.exp(L / 2), "Q": q, "f1": f1, "f2": f2, "f3": f3}
    cdt = _complex_dtype(lin.dtype)
    return {k: v.to(cdt) for k, v in out.items()}


class ETDRK4:
    """Exponential time differencing RK4 step of du/dt = L u + N(u) (Cox-Matthews form)."""

    name = "ETDRK4"

    def __init__(self, lin: torch.Tensor, nonlinear: Nonlinear, dt: float, n_contour: int = 32):
        self.nonlinear = nonlinear
        self.dt = float(dt)
        c = etdrk4_coefficients(lin, dt, n_contour)
        self.E, self.E2, self.Q = c["E"], c["E2"], c["Q"]
        self.f1, self.f2, self.f3 = c["f1"], c["f2"], c["f3"]

    def step(self, u: torch.Tensor) -> torch.Tensor:
        N = self.nonlinear
        nu = N(u)
        a = self.E2 * u + self.Q * nu
        na = N(a)
        b = self.E2 * u + self.Q * na
        nb = N(b)
        c = self.E2 * a + self.Q * (2 * nb - nu)
        nc = N(c)
        return self.E * u + nu * self.f1 + 2 * (na + nb) * self.f2 + nc * self.f3


STEPPERS = {"IF-RK4": IFRK4, "ETDRK4": ETDRK4}
