"""The forecast of a WARP model whose prior's outputs are held after the context.

With ``hold_after_context`` (the default for time-invariant priors such as the grey box, whose
outputs are physical parameters), the root network's raw outputs of the first forecast step
(weights theta_{n_ctx-1}, which have read the whole context) are held for every later step.
With ``parameter_fit`` the held outputs of a grey box start from a least-squares fit of the
system's parameters to the context (`warp_phys.priors.parameter_fit`, detached) and the
network's held outputs add a correction through the model's gate ``fit_gate`` (zero at
initialisation): held raw = fit + gate * network. The fits are kept in the model's
``fit_cache`` (`warp_phys.priors.parameter_fit.FitCache`): a context seen before is not fitted
again, and `prefit_contexts` fits many contexts at once (the Trainer does so for the training
and validation contexts before its first step).

Shapes: x_ctx (B, n_ctx, d) normalised, tau (T,) normalised times, raw (B, 1, n_out).
"""
from __future__ import annotations

from typing import Any

import torch

from warp_phys.priors.base import Prior, roll_out
from warp_phys.priors.parameter_fit import fit_raw
from warp_phys.sequence import Prediction


def check_parameter_fit(parameter_fit: Any, prior: Prior, hold: bool) -> bool:
    """``parameter_fit`` as a bool; ValueError unless it is a bool and, when True, the prior is a
    prior whose outputs can be fitted (``Prior.fittable``: the grey box, the quadratic field) and
    are held after the context."""
    if not isinstance(parameter_fit, bool):
        raise ValueError(f"parameter_fit must be True or False, got {parameter_fit!r}")
    if parameter_fit and not prior.fittable:
        raise ValueError(f"parameter_fit=True needs a prior whose outputs can be fitted ('grey_box', 'hybrid' "
                         f"or 'quadratic'), not {prior.name!r}")
    if parameter_fit and not hold:
        raise ValueError("parameter_fit=True needs hold_after_context: the fitted parameters are held for the forecast")
    return parameter_fit


def held_raw(model: Any, raw_next: torch.Tensor, x_ctx: torch.Tensor, tau_ctx: torch.Tensor) -> torch.Tensor:
    """The raw outputs (B, 1, n_out) held after the context: the network's raw outputs of step
    n_ctx, raw_next (B, 1, n_out), or with ``model.parameter_fit`` the fit to x_ctx at times
    tau_ctx (n_ctx,) plus the gated network correction."""
    if not model.parameter_fit:
        return raw_next
    cache = getattr(model, "fit_cache", None)
    fitted = fit_raw(model.prior, x_ctx, tau_ctx) if cache is None else cache.fit(model.prior, x_ctx, tau_ctx)
    fitted = fitted.to(raw_next.dtype).unsqueeze(1)
    P = model.n_prior_outputs
    return torch.cat([fitted + model.fit_gate * raw_next[..., :P], raw_next[..., P:]], dim=-1)


def prefit_contexts(model: Any, x_ctx: torch.Tensor, tau_ctx: torch.Tensor) -> None:
    """Fit the parameters of the contexts x_ctx (N, n_ctx, d) at times tau_ctx (n_ctx,) now, in
    large batches, into ``model.fit_cache``; nothing unless the model has one (``parameter_fit``)."""
    cache = getattr(model, "fit_cache", None)
    if cache is not None and getattr(model, "parameter_fit", False):
        cache.fit(model.prior, x_ctx, tau_ctx)


def _raw_after_context(model: Any, x_ctx: torch.Tensor, tau: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher-forced raw outputs (B, n_ctx + 1, n_out) and z_prev over the context and the first
    forecast step: that step needs theta_{n_ctx-1} and z_prev = x_{n_ctx-1} only, so x is padded
    with a copy of its last step."""
    n_ctx = x_ctx.shape[1]
    x_pad = torch.cat([x_ctx, x_ctx[:, -1:]], dim=1)
    return model._raw_parallel(x_pad, tau[:n_ctx + 1])


def held_forecast(model: Any, x_ctx: torch.Tensor, tau: torch.Tensor, horizon: int, *,
                  eps: torch.Tensor | None = None) -> Prediction:
    """Teacher-forced one-step predictions over the context x_ctx (B, n_ctx, d), then ``horizon``
    steps decoded with the held raw outputs (`held_raw`), each step advancing the model's own
    previous prediction. Differentiable. Returns (B, n_ctx + horizon, d). ``eps`` (B, horizon, d)
    standard normal draws (a gaussian model only): each step advances its prediction plus
    held std * eps, a sampled path (`warp_phys.sampled_forecast`)."""
    n_ctx = x_ctx.shape[1]
    if horizon == 0:
        raw, z_prev = model._raw_parallel(x_ctx, tau[:n_ctx])
        return model._decode(raw, tau[:n_ctx], z_prev)
    raw, z_prev = _raw_after_context(model, x_ctx, tau)
    ctx_pred = model._decode(raw[:, :n_ctx], tau[:n_ctx], z_prev[:, :n_ctx])
    held = held_raw(model, raw[:, n_ctx:n_ctx + 1], x_ctx, tau[:n_ctx])
    held_std = None
    if ctx_pred.std is not None:
        held_std = model._decode(held, tau[n_ctx:n_ctx + 1], x_ctx[:, -1:]).std  # constant after the context
    if eps is not None and held_std is None:
        raise ValueError("eps samples the held forecast with the model's std: it needs output='gaussian'")
    mean = roll_out(model._decode_mean, held[..., : model.n_prior_outputs], tau[n_ctx:n_ctx + horizon],
                    x_ctx[:, -1:], noise=None if eps is None else held_std * eps)
    mean = torch.cat([ctx_pred.mean, mean], dim=1)
    if held_std is None:
        return Prediction(mean, None)
    return Prediction(mean, torch.cat([ctx_pred.std, held_std.expand(-1, horizon, -1)], dim=1))


def held_parameters(model: Any, x_ctx: torch.Tensor, tau: torch.Tensor) -> dict[str, torch.Tensor]:
    """The prior's named quantities {name: (B,)} that a forecast from x_ctx (B, n_ctx, d) holds
    after the context; tau (T,) with T > n_ctx. ValueError without ``hold_after_context``."""
    if not model.hold_after_context:
        raise ValueError("held_parameters needs hold_after_context: this model's outputs change at every step")
    n_ctx = x_ctx.shape[1]
    if tau.shape[0] <= n_ctx:
        raise ValueError(f"held_parameters needs a tau longer than the context ({n_ctx} steps)")
    raw, _ = _raw_after_context(model, x_ctx, tau)
    held = held_raw(model, raw[:, n_ctx:n_ctx + 1], x_ctx, tau[:n_ctx])
    return {k: v[:, 0] for k, v in model.prior.interpret(held[..., : model.n_prior_outputs]).items()}


__all__ = ["check_parameter_fit", "held_forecast", "held_parameters", "held_raw", "prefit_contexts"]
