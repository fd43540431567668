"""The contract shared by WARP and every baseline: one-step-ahead sequence models.

Alignment convention (everywhere in the package):
    x    : (B, T, d) trajectories in *normalised* units
    tau  : (T,) normalised time in [0, 1], tau_t = (t_t - t_0) / (t_{T-1} - t_0)
    out  : Prediction with mean/std of shape (B, T, d); ``mean[:, t]`` is the model's
           prediction of ``x[:, t]`` from the inputs x_0 .. x_{t-1} (for t = 0 it is a
           reconstruction of x_0 from x_0 itself). Losses use t >= 1.

Modes:
    forward(x, tau, p_force=1.0)  teacher forced (p_force=1): inputs are the truth.
    forward(x, tau, p_force<1)    autoregressive training: the input at step t is the
                                  truth with probability p_force, else the model's own
                                  prediction (gradients flow through it).
    forecast(x_ctx, tau)          inference, no gradient: reads x_ctx (B, n_ctx, d),
                                  then rolls out on its own predictions to len(tau) steps.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class Prediction(NamedTuple):
    """mean: (B, T, d); std: (B, T, d) or None for point predictions (normalised units)."""

    mean: torch.Tensor
    std: torch.Tensor | None = None


class SequenceModel(nn.Module):
    """Base class for WARP and baselines; subclasses implement ``forward`` and may
    override ``forecast`` (the default rolls ``forward`` step by step, O(T^2))."""

    n_variables: int

    def forward(self, x: torch.Tensor, tau: torch.Tensor, *, p_force: float = 1.0,
                generator: torch.Generator | None = None) -> Prediction:
        raise NotImplementedError

    def penalty(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """Extra loss term (e.g. a prior's ODE residual); zero by default."""
        return torch.zeros((), device=x.device)

    @torch.no_grad()
    def forecast(self, x_ctx: torch.Tensor, tau: torch.Tensor) -> Prediction:
        """Read ``x_ctx`` (B, n_ctx, d), roll out to len(tau) steps; returns (B, T, d)."""
        B, n_ctx, d = x_ctx.shape
        T = tau.shape[0]
        if n_ctx < 1 or n_ctx > T:
            raise ValueError(f"context length {n_ctx} must be in [1, {T}]")
        seq = torch.zeros(B, T, d, dtype=x_ctx.dtype, device=x_ctx.device)
        seq[:, :n_ctx] = x_ctx
        for t in range(n_ctx, T):
            pred = self.forward(seq[:, : t + 1], tau[: t + 1])
            seq[:, t] = pred.mean[:, t]
        return self.forward(seq, tau)
