"""A lean fixed-step RK4 shared by ``simulate(method="rk4")`` and the Lyapunov utility."""
from __future__ import annotations

from typing import Callable

import torch

Field = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def rk4_step(f: Field, t: torch.Tensor, x: torch.Tensor, h: torch.Tensor | float) -> torch.Tensor:
    """One classical RK4 step of dx/dt = f(t, x) from (t, x) with step h; shape of x."""
    half = h / 2
    k1 = f(t, x)
    k2 = f(t + half, x + half * k1)
    k3 = f(t + half, x + half * k2)
    k4 = f(t + h, x + h * k3)
    return x + (h / 6) * (k1 + 2 * (k2 + k3) + k4)


def rk4_grid(f: Field, t: torch.Tensor, x0: torch.Tensor, substeps: int = 1,
             on_interval: Callable[[int], None] | None = None) -> torch.Tensor:
    """Integrate on the grid ``t`` (T,) with ``substeps`` equal RK4 steps per interval, landing
    exactly on every grid point (no interpolation). Returns (T, *x0.shape)."""
    if not isinstance(substeps, int) or substeps < 1:
        raise ValueError(f"substeps must be an integer >= 1, got {substeps!r}")
    out = torch.empty((t.shape[0], *x0.shape), dtype=x0.dtype, device=x0.device)
    out[0] = x0
    x = x0
    for i in range(t.shape[0] - 1):
        h = (t[i + 1] - t[i]) / substeps
        ti = t[i]
        for j in range(substeps):
            x = rk4_step(f, ti + j * h, x, h)
        out[i + 1] = x
        if on_interval is not None:
            on_interval(i)
    return out
