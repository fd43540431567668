"""The package's one explicit Runge-Kutta step, and a fixed-step integrator on a time grid.

``rk4_step`` is shared by ``System.simulate(method="rk4")``, the Lyapunov utility and the
priors (grey-box step).
"""
from __future__ import annotations

from typing import Callable

import torch

Field = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def rk4_step(f: Field, t: torch.Tensor | float, x: torch.Tensor, h: torch.Tensor | float,
             substeps: int = 1) -> torch.Tensor:
    """Advance dx/dt = f(t, x) from time ``t`` by ``h`` with classical fourth-order Runge-Kutta.

    Shapes: x (..., d); t a scalar (float or 0-d tensor) or a (...,) tensor of per-batch times
    that broadcasts against ``x[..., 0]``; h a float or a 0-d tensor; ``f(t, x)`` returns
    (..., d). The result has the shape of ``x``. The interval is split into ``substeps`` equal
    steps (local error O(h^5 / substeps^4)). ``t`` is cast to the dtype and device of ``x``.
    Differentiable; any device and dtype.
    """
    if isinstance(substeps, bool) or not isinstance(substeps, int) or substeps < 1:
        raise ValueError(f"substeps must be an integer >= 1, got {substeps!r}")
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
    h = h / substeps
    half = h / 2
    for j in range(substeps):
        tj = t if j == 0 else t + j * h
        k1 = f(tj, x)
        k2 = f(tj + half, x + half * k1)
        k3 = f(tj + half, x + half * k2)
        k4 = f(tj + h, x + h * k3)
        x = x + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
    return x


def rk4_grid(f: Field, t: torch.Tensor, x0: torch.Tensor, substeps: int = 1,
             on_interval: Callable[[int], None] | None = None) -> torch.Tensor:
    """Integrate on the grid ``t`` (T,) with ``substeps`` equal RK4 steps per interval, landing
    exactly on every grid point (no interpolation). x0: (..., d). Returns (T, *x0.shape)."""
    if isinstance(substeps, bool) or not isinstance(substeps, int) or substeps < 1:
        raise ValueError(f"substeps must be an integer >= 1, got {substeps!r}")
    out = torch.empty((t.shape[0], *x0.shape), dtype=x0.dtype, device=x0.device)
    out[0] = x0
    x = x0
    for i in range(t.shape[0] - 1):
        x = rk4_step(f, t[i], x, t[i + 1] - t[i], substeps)
        out[i + 1] = x
        if on_interval is not None:
            on_interval(i)
    return out


__all__ = ["rk4_step", "rk4_grid"]
