"""Neural ODE baseline (torchdiffeq): dx/dtau = f_theta(x), f_theta an MLP.

One-step prediction of x_{t+1}: integrate from x_t over dt = tau_{t+1} - tau_t with
``substeps`` fixed RK4 steps. All steps of a batch are integrated at once by rescaling
time per step (s in [0, 1], dx/ds = dt * f(x)). forecast integrates from the last
context value over the rest of the tau grid in one odeint call.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchdiffeq import odeint

from warp_phys.validation import check_int

from .base import Baseline


class NeuralODE(Baseline):
    """f_theta: MLP d -> hidden (x ``layers``, SiLU) -> d. With output="gaussian" the std is
    softplus(linear(x_t)) + std_floor (a heteroscedastic read-out of the input state)."""

    name = "node"

    def __init__(self, n_variables: int, *, hidden: int = 64, layers: int = 2, substeps: int = 1,
                 output: str = "mean", std_floor: float = 1e-3, seed: int = 0) -> None:
        substeps = check_int(substeps, "substeps", minimum=1)
        super().__init__(n_variables, output=output, std_floor=std_floor, seed=seed,
                         hidden=int(hidden), layers=int(layers), substeps=int(substeps))
        with self._seeded():
            widths = [n_variables] + [hidden] * layers
            mods: list[nn.Module] = []
            for a, b in zip(widths[:-1], widths[1:]):
                mods += [nn.Linear(a, b), nn.SiLU()]
            self.f = nn.Sequential(*mods, nn.Linear(widths[-1], n_variables))
            self.std_head = nn.Linear(n_variables, n_variables) if self.gaussian else None

    def _unit_grid(self, like: torch.Tensor) -> torch.Tensor:
        return torch.linspace(0.0, 1.0, self.config["substeps"] + 1, dtype=like.dtype, device=like.device)

    def _advance(self, inp: torch.Tensor, tau_in: torch.Tensor, tau_out: torch.Tensor, state: Any):
        B, L, d = inp.shape
        dt = (tau_out - tau_in).to(inp).expand(B, L).reshape(B * L, 1)
        y = odeint(lambda s, y: dt * self.f(y), inp.reshape(B * L, d), self._unit_grid(inp), method="rk4")[-1]
        std = self._std(self.std_head(inp)) if self.gaussian else None
        return y.reshape(B, L, d), std, None

    def _rollout(self, x_ctx: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        n_ctx, n = x_ctx.shape[1], self.config["substeps"]
        if n_ctx == tau.shape[0]:
            return x_ctx.clone()
        t = tau[n_ctx - 1:].to(x_ctx)
        grid = (t[:-1, None] + (t[1:] - t[:-1])[:, None] * self._unit_grid(t)[None, :-1]).reshape(-1)
        grid = torch.cat([grid, t[-1:]])
        ys = odeint(lambda s, y: self.f(y), x_ctx[:, -1], grid, method="rk4")[::n]  # (T - n_ctx + 1, B, d)
        return torch.cat([x_ctx, ys[1:].transpose(0, 1)], 1)
