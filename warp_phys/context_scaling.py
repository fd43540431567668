"""Context scaling: each window rescaled by its own context before the model reads it.

A measured record drifts: its level rises (CO2) or its cycles grow (sunspots), so the windows
of the test block can sit outside every training window, where a network extrapolates badly.
`ContextScaled` wraps a sequence model and, per window and per target channel, subtracts the
mean and divides by the standard deviation of the window's context steps (floored at
``min_scale``), runs the model on the result, and maps its predictions back:
``mean = inner_mean * s + m``, ``std = inner_std * s``. This is reversible instance
normalisation (Kim et al., ICLR 2022, "RevIN") without its learned affine part. Predictions
and losses stay in the units of the unwrapped model, so validation scores compare with and
without it.

Causal for forecasts: ``m`` and ``s`` read the context steps only, the first ``n_ctx`` of a
training window, or all of the context given to a forecast (so a forecast never reads a step after
its context). Inside the context they are not causal: in teacher-forced training the one-step
predictions of context steps read statistics that include those steps (as with any per-window
normalisation); the validation and test scores are forecasts after the context and are not affected,
and `warp_phys.completion.complete` requires the first ``n_ctx`` steps observed.
Known input channels (`warp_phys.known_inputs.KnownInputs`, the last ones) are left as they are.
A linear lag term fitted before training (`warp_phys.lag_readout`) is fitted on the rescaled
windows (`innermost`).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from warp_phys.sequence import Prediction, forecast_after, forecast_from
from warp_phys.validation import InputError, check_int, check_number

#: The floor of the context's standard deviation, in the model's normalised units (the training
#: data have standard deviation 1): a flat context is scaled by at most 1 / MIN_SCALE.
MIN_SCALE = 0.05


class ContextScaled(nn.Module):
    """``model`` reading each window rescaled by its context's mean and standard deviation
    (module docstring).

    Args:
        model: a sequence model on normalised (B, T, d) inputs (WARP, a baseline, or either
            inside `KnownInputs`).
        n_ctx: the context steps whose statistics scale a training window (the run's context).
        min_scale: the floor of the standard deviation (normalised units).
    """

    def __init__(self, model: nn.Module, n_ctx: int, min_scale: float = MIN_SCALE) -> None:
        super().__init__()
        self.model = model
        self.n_ctx = check_int(n_ctx, "n_ctx", minimum=2)
        self.min_scale = check_number(min_scale, "min_scale", positive=True)
        self.n_variables = int(model.n_variables)
        if hasattr(model, "n_targets"):
            self.n_targets = int(model.n_targets)

    @property
    def config(self) -> dict[str, Any]:
        return {**getattr(self.model, "config", {}), "context_scaling": {"n_ctx": self.n_ctx,
                                                                          "min_scale": self.min_scale}}

    def statistics(self, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, scale), each (B, 1, d), of the context ``ctx`` (B, n, d), n >= 2: per window and
        channel; the known channels get mean 0 and scale 1."""
        if ctx.shape[1] < 2:
            raise InputError(f"context scaling needs at least 2 context steps (it divides by their standard "
                             f"deviation), got {ctx.shape[1]}")
        k = getattr(self, "n_targets", self.n_variables)
        mean = ctx.mean(1, keepdim=True)
        scale = ctx.std(1, keepdim=True).clamp_min(self.min_scale)
        keep = torch.arange(ctx.shape[-1], device=ctx.device) >= k
        return mean.masked_fill(keep, 0.0), scale.masked_fill(keep, 1.0)

    def scale(self, x: torch.Tensor, n_ctx: int | None = None) -> torch.Tensor:
        """x (B, T, d) rescaled by the statistics of its first ``n_ctx`` steps (default the
        run's): what the wrapped model reads."""
        mean, scale = self.statistics(x[:, : n_ctx or self.n_ctx])
        return (x - mean) / scale

    @staticmethod
    def _back(pred: Prediction, mean: torch.Tensor, scale: torch.Tensor) -> Prediction:
        return Prediction(pred.mean * scale + mean, None if pred.std is None else pred.std * scale)

    def _call(self, fn: Any, x: torch.Tensor, n_ctx: int, *args: Any, **kwargs: Any) -> Prediction:
        mean, scale = self.statistics(x[:, :n_ctx])
        return self._back(fn((x - mean) / scale, *args, **kwargs), mean, scale)

    def forward(self, x: torch.Tensor, tau: torch.Tensor, **kwargs: Any) -> Prediction:
        """The inner model's one-step predictions (B, T, d) of x (B, T, d), scaled by the first
        ``n_ctx`` steps of each window; keyword arguments (p_force, generator, ...) are passed on."""
        return self._call(self.model, x, self.n_ctx, tau, **kwargs)

    @property
    def rollout(self) -> Any:
        """``rollout(x, tau, force, **kwargs)``: the inner model's rollout (``force`` (B, T) or
        (B, T, d) bool) scaled by the first ``n_ctx`` steps; None when the inner model has none."""
        if not callable(getattr(self.model, "rollout", None)):
            return None
        return lambda x, tau, force, **kwargs: self._call(self.model.rollout, x, self.n_ctx, tau, force, **kwargs)

    def forecast(self, x_ctx: torch.Tensor, tau: torch.Tensor) -> Prediction:
        """Read the context ``x_ctx`` (B, n_ctx, d), forecast to len(tau) steps (no gradient),
        scaled by the whole context given."""
        return self._call(self.model.forecast, x_ctx, x_ctx.shape[1], tau)

    @property
    def context_forecast(self) -> Any:
        """``context_forecast(x_ctx, tau)``: `forecast` with the graph kept (the Trainer's forecast
        loss); None when the inner model has none (e.g. a baseline without
        `warp_phys.completion.with_context_forecast`)."""
        if not callable(getattr(self.model, "context_forecast", None)):
            return None
        return lambda x_ctx, tau: self._call(self.model.context_forecast, x_ctx, x_ctx.shape[1], tau)

    def forecast_known(self, x: torch.Tensor, tau: torch.Tensor, n_ctx: int, *, grad: bool = False) -> Prediction:
        """`warp_phys.sequence.forecast_from` of the inner model on x (B, T', d) scaled by its first
        ``n_ctx`` steps: known input channels are read at every step, the others in the context only."""
        n_ctx = check_int(n_ctx, "n_ctx", minimum=1)
        return self._call(lambda z: forecast_from(self.model, z, tau, n_ctx, grad=grad), x, n_ctx)

    def forecast_after(self, x: torch.Tensor, tau: torch.Tensor, n_ctx: int, *, grad: bool = False) -> Prediction:
        """`warp_phys.sequence.forecast_after` of the inner model (its forecast steps only) on x
        (B, T', d) scaled by its first ``n_ctx`` steps."""
        n_ctx = check_int(n_ctx, "n_ctx", minimum=1)
        return self._call(lambda z: forecast_after(self.model, z, tau, n_ctx, grad=grad), x, n_ctx)

    def penalty(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """The inner model's extra loss term on the rescaled windows."""
        return self.model.penalty(self.scale(x), tau)

    def extra_repr(self) -> str:
        return f"n_ctx={self.n_ctx}, min_scale={self.min_scale:g}"


def innermost(model: nn.Module, x: torch.Tensor | None = None, n_ctx: int | None = None) -> tuple[nn.Module, Any]:
    """(the model inside every wrapper (`ContextScaled`, `KnownInputs`), x as that model reads it):
    rescaled by each `ContextScaled` on the way (by the first ``n_ctx`` steps, default its own);
    x None stays None."""
    while isinstance(getattr(model, "model", None), nn.Module):
        if isinstance(model, ContextScaled) and x is not None:
            x = model.scale(x, n_ctx)
        model = model.model
    return model, x


__all__ = ["ContextScaled", "MIN_SCALE", "innermost"]
