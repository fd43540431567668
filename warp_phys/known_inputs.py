"""Known inputs: channels a sequence model reads at every step but never predicts.

Known periodic phases (sin and cos of 2 pi i / P at record step i) and the user's covariates
travel as the LAST ``n_known`` channels of the model's input x (B, T, n_targets + n_known),
in normalised units like the targets. `KnownInputs` wraps a model with a
``rollout(x, tau, force)`` (WARP, or a `warp_phys.baselines` GRU / LSTM / Transformer / neural
ODE) built for all the channels, and:

* forces the known channels at every step of every rollout (``force`` per channel: the
  targets follow the usual rule, truth or own prediction; the known channels are always the
  given values), in autoregressive training (p_force < 1) and in every forecast;
* returns predictions whose known channels ARE the given values (mean = x, std = 1): no error
  and no gradient there; the Trainer's loss, validation score and forecast loss take the first
  ``n_targets`` channels only (`sequence.target_channels`), so they are on the scale of a model
  without known inputs;
* forecasts through ``forecast_known(x, tau, n_ctx)``: the targets of x after ``n_ctx`` are
  never read, the known channels are read at every step (``sequence.forecast_from`` calls it;
  ``forecast_after``, the forecast steps only, is what the Trainer's validation score and forecast
  loss read through ``sequence.forecast_after``).

Causality: the prediction of step t reads the known channels at steps 0 .. t-1 only, like the
targets (WARP's recurrence reads x_t - x_{t-1}; its root network reads the previous step). A
covariate that acts on y_t at the same step should be given one step early (a lead).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from warp_phys.sequence import Prediction, takes_first_output
from warp_phys.validation import check_int


class KnownInputs(nn.Module):
    """``model`` (built for n_targets + n_known channels) with its last ``n_known`` channels
    known: read at every step, never predicted (module docstring).

    Args:
        model: a sequence model with ``rollout(x, tau, force)`` accepting a per-channel force
            (B, T, d) and ``n_variables`` = d = n_targets + n_known.
        n_known: the number of known channels (the last ones), 1 <= n_known < d.
    """

    def __init__(self, model: nn.Module, n_known: int) -> None:
        super().__init__()
        if not callable(getattr(model, "rollout", None)):
            raise ValueError(f"known inputs need a model with rollout(x, tau, force) (WARP, GRU, LSTM, transformer, "
                             f"node); {type(model).__name__} has none")
        d = int(model.n_variables)
        self.n_known = check_int(n_known, "n_known", minimum=1)
        if self.n_known >= d:
            raise ValueError(f"n_known ({n_known}) must leave at least one target channel of the model's {d}")
        if getattr(model, "hold_after_context", False):
            raise ValueError("known inputs run the model step by step (rollout); a prior held after the context "
                             "(hold_after_context) cannot read them: pass hold_after_context=False")
        self.model = model
        self.n_variables = d
        self.n_targets = d - self.n_known

    @property
    def config(self) -> dict[str, Any]:
        return {**getattr(self.model, "config", {}), "n_known": self.n_known}

    def _force(self, force: torch.Tensor) -> torch.Tensor:
        """(B, T) or (B, T, d) bool -> (B, T, d) with the known channels True at every step."""
        if force.dim() == 2:
            force = force.unsqueeze(-1).expand(-1, -1, self.n_targets)
        else:
            force = force[..., : self.n_targets]
        known = force.new_ones(*force.shape[:2], self.n_known)
        return torch.cat([force, known], dim=-1)

    def _known(self, pred: Prediction, x: torch.Tensor) -> Prediction:
        """``pred`` with its known channels replaced by x's (mean) and 1 (std): no error, no gradient there."""
        k = self.n_targets
        mean = torch.cat([pred.mean[..., :k], x[..., k:].to(pred.mean)], dim=-1)
        std = None
        if pred.std is not None:
            std = torch.cat([pred.std[..., :k], torch.ones_like(pred.std[..., k:])], dim=-1)
        return Prediction(mean, std)

    def rollout(self, x: torch.Tensor, tau: torch.Tensor, force: torch.Tensor, **kwargs: Any) -> Prediction:
        """The inner model's rollout with the known channels forced at every step. x (B, T, d),
        tau (T,), force (B, T) or (B, T, d) bool (its known channels are ignored) -> (B, T, d), or from
        step n on with ``first_output=n`` (WARP and the baselines take it)."""
        pred = self.model.rollout(x, tau, self._force(force), **kwargs)
        return self._known(pred, x[:, kwargs.get("first_output", 0):])

    def forward(self, x: torch.Tensor, tau: torch.Tensor, *, p_force: float = 1.0,
                generator: torch.Generator | None = None, feedback_passes: int | None = None,
                detach_feedback: bool = True, noise_std: float = 0.0) -> Prediction:
        """One-step predictions (B, T, d) of x (B, T, d). p_force = 1: teacher forced (the inner
        model's parallel evaluation). p_force < 1: the targets' input at each step is the truth
        with probability p_force (per trajectory and step, from ``generator``), else the model's
        own prediction; the known channels are always the truth. WARP's feedback options
        (``feedback_passes``, ``detach_feedback``, ``noise_std``) are passed on."""
        if not 0.0 <= p_force <= 1.0:
            raise ValueError(f"p_force must be in [0, 1], got {p_force}")
        if p_force >= 1.0:
            return self._known(self.model(x, tau), x)
        dev = generator.device if generator is not None else x.device
        force = torch.rand(x.shape[0], x.shape[1], generator=generator, device=dev).to(x.device) < p_force
        force = self._force(force)
        if feedback_passes is None and noise_std == 0:
            return self._known(self.model.rollout(x, tau, force), x)
        from warp_phys.rollout import draw_noise

        if not callable(getattr(self.model, "feedback_rollout", None)):
            raise ValueError(f"feedback_passes / noise_std need WARP; {type(self.model).__name__} has no "
                             "feedback_rollout: leave feedback_noise=0 and feedback_passes=None")

        noise = draw_noise(x, noise_std, generator)
        if noise is not None:
            noise[..., self.n_targets:] = 0
        if feedback_passes is None:
            return self._known(self.model.rollout(x, tau, force, noise=noise), x)
        return self._known(self.model.feedback_rollout(x, tau, force, passes=feedback_passes,
                                                       detach=detach_feedback, noise=noise), x)

    def forecast_known(self, x: torch.Tensor, tau: torch.Tensor, n_ctx: int, *, grad: bool = False,
                       steps_only: bool = False) -> Prediction:
        """Forecast from the first ``n_ctx`` steps of x (B, T, d), T = len(tau): the targets are
        read in the context only (never after it), the known channels at every step. Returns
        (B, T, d): one-step predictions inside the context, the free-running forecast after it,
        the known channels equal to x's. ``grad``: keep the graph (the Trainer's forecast loss).
        ``steps_only``: the forecast steps only, (B, T - n_ctx, d) (`forecast_after`)."""
        T = tau.shape[0]
        if x.dim() != 3 or x.shape[1] != T:
            raise ValueError(f"forecast_known needs x (batch, {T}, {self.n_variables}) with the known channels on "
                             f"all {T} steps of tau, got shape {tuple(x.shape)}")
        n_ctx = check_int(n_ctx, "n_ctx", minimum=1)
        if n_ctx > T:
            raise ValueError(f"context length {n_ctx} is longer than the {T} requested steps")
        k = self.n_targets
        targets = torch.where(torch.arange(T, device=x.device).view(1, T, 1) < n_ctx, x[..., :k], 0.0)
        x = torch.cat([targets, x[..., k:]], dim=-1)  # the targets after the context are never read
        force = (torch.arange(T, device=x.device) < n_ctx).expand(x.shape[0], T)
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            if not steps_only:
                return self.rollout(x, tau, force)
            return self.rollout(x, tau, force, first_output=n_ctx)

    def forecast_after(self, x: torch.Tensor, tau: torch.Tensor, n_ctx: int, *, grad: bool = False) -> Prediction:
        """`forecast_known`'s steps n_ctx .. len(tau) - 1 only, (B, len(tau) - n_ctx, d): the inner
        model's rollout with ``first_output=n_ctx`` (no output computed for the context)."""
        n_ctx = check_int(n_ctx, "n_ctx", minimum=1)
        if n_ctx < tau.shape[0] and takes_first_output(self.model):
            return self.forecast_known(x, tau, n_ctx, grad=grad, steps_only=True)
        pred = self.forecast_known(x, tau, n_ctx, grad=grad)  # a model whose rollout returns every step
        return Prediction(pred.mean[:, n_ctx:], None if pred.std is None else pred.std[:, n_ctx:])

    def _refuse(self, *_: Any, **__: Any) -> Prediction:
        raise ValueError("a model with known inputs needs their values at every forecast step, not only a context: "
                         "call forecast_known(x, tau, n_ctx) with x holding them on all steps "
                         "(warp_phys.sequence.forecast_from does)")

    forecast = _refuse
    context_forecast = _refuse

    def penalty(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """The inner model's extra loss term."""
        return self.model.penalty(x, tau)

    def extra_repr(self) -> str:
        return f"n_targets={self.n_targets}, n_known={self.n_known}"


__all__ = ["KnownInputs"]
