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
    rollout(x, tau, force)        (WARP, the neural baselines) the input at step t is x[:, t]
                                  where force is True, else the model's own prediction;
                                  force (B, T) per step, or (B, T, d) per step and channel.

Known inputs (`warp_phys.known_inputs.KnownInputs`): channels the model reads but never
predicts (phases, covariates); their forecast reads their values at every step of x, so
callers forecast through `forecast_from`, which passes a model the steps it may read.
"""
from __future__ import annotations

import inspect

from typing import Any, NamedTuple

import torch
from torch import nn


def channel_force(force: torch.Tensor) -> torch.Tensor:
    """``force`` (B, T) or (B, T, d) bool as (B, T, 1) or (B, T, d): broadcastable against x (B, T, d)."""
    return force.unsqueeze(-1) if force.dim() == 2 else force


def forecast_from(model: nn.Module, x: torch.Tensor, tau: torch.Tensor, n_ctx: int, *,
                  grad: bool = False) -> "Prediction":
    """The model's forecast of x (B, T', d) from its first ``n_ctx`` steps to len(tau) steps:
    ``model.forecast(x[:, :n_ctx], tau)`` (``context_forecast`` when ``grad``). A model with
    known input channels (``forecast_known``, `warp_phys.known_inputs.KnownInputs`) reads the
    known channels of x at every step instead (x then needs len(tau) steps); the other
    channels of x after ``n_ctx`` are never read. Returns a Prediction (B, len(tau), d)."""
    known = getattr(model, "forecast_known", None)
    if known is not None:
        return known(x[:, : tau.shape[0]], tau, n_ctx, grad=grad)
    ctx = x[:, :n_ctx]
    return model.context_forecast(ctx, tau) if grad else model.forecast(ctx, tau)


def takes_first_output(model: nn.Module) -> bool:
    """Whether the model inside every wrapper (``.model``: `ContextScaled`, `KnownInputs`) has
    ``rollout(..., first_output=n)``, which returns steps n .. T - 1 only (WARP, the baselines)."""
    while isinstance(getattr(model, "model", None), nn.Module):
        model = model.model
    rollout = getattr(model, "rollout", None)
    return callable(rollout) and "first_output" in inspect.signature(rollout).parameters


def forecast_after(model: nn.Module, x: torch.Tensor, tau: torch.Tensor, n_ctx: int, *,
                   grad: bool = False) -> "Prediction":
    """The forecast steps of `forecast_from` only: Prediction (B, len(tau) - n_ctx, d) of steps
    n_ctx .. len(tau) - 1. A model with a ``forecast_after(x, tau, n_ctx, grad=...)`` method (WARP,
    the neural baselines, `warp_phys.context_scaling.ContextScaled`) computes no output for the
    context steps, whose one-step predictions nobody reads here; any other model's full forecast
    is sliced. The same numbers either way (up to float rounding)."""
    method = getattr(model, "forecast_after", None)
    if callable(method):
        return method(x, tau, n_ctx, grad=grad)
    pred = forecast_from(model, x, tau, n_ctx, grad=grad)
    return Prediction(pred.mean[:, n_ctx:], None if pred.std is None else pred.std[:, n_ctx:])


def forecast_mse(model: nn.Module, x: torch.Tensor, tau: torch.Tensor, n_ctx: int, *,
                 grad: bool = False) -> torch.Tensor:
    """Mean squared error of the forecast (`forecast_after`) against x (B, len(tau), d) over the
    steps after ``n_ctx`` and the target channels (`target_channels`): the Trainer's validation
    score and forecast loss (``grad``)."""
    pred, x = target_channels(model, forecast_after(model, x, tau, n_ctx, grad=grad), x[:, n_ctx:tau.shape[0]])
    return ((pred.mean - x) ** 2).mean()


def target_channels(model: nn.Module, pred: Any, x: torch.Tensor) -> tuple[Any, torch.Tensor]:
    """(pred, x) on the channels the model predicts: all of them, or the first ``n_targets`` of a
    model with known inputs (`warp_phys.known_inputs.KnownInputs`), so that losses and scores
    cover the targets only. ``pred``: a Prediction (..., d) (anything else is returned as it is)."""
    k = getattr(model, "n_targets", None)
    if k is None or not isinstance(pred, Prediction):
        return pred, x
    return Prediction(pred.mean[..., :k], None if pred.std is None else pred.std[..., :k]), x[..., :k]


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
