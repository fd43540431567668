"""The one explicit integrator the priors share: classical fourth-order Runge-Kutta."""
from __future__ import annotations

from typing import Callable

import torch

Rhs = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def rk4_step(f: Rhs, t: torch.Tensor | float, x: torch.Tensor, dt: float, substeps: int = 1) -> torch.Tensor:
    """Advance ``x`` (..., d) from time ``t`` (scalar or (...,)) by ``dt`` with RK4.

    ``f(t, x) -> dx/dt`` of shape (..., d). The interval is split into ``substeps`` equal
    RK4 steps (local error O(dt^5 / substeps^4)). Differentiable; any device and dtype.
    """
    if substeps < 1:
        raise ValueError(f"substeps must be >= 1, got {substeps}")
    h = dt / substeps
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
    for k in range(substeps):
        tk = t + k * h
        k1 = f(tk, x)
        k2 = f(tk + h / 2, x + (h / 2) * k1)
        k3 = f(tk + h / 2, x + (h / 2) * k2)
        k4 = f(tk + h, x + h * k3)
        x = x + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
    return x
