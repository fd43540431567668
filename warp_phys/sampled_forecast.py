"""Forecast bands by ancestral sampling: the predictive distribution of a free-running forecast.

A gaussian model (``output="gaussian"``) predicts, at each step, a mean and a std for the
next step given what it has read. Its plain forecast feeds the mean back, so the std it reports at
step t is the one-step spread around that single path: it ignores how uncertain the earlier fed-back
values were, and on a forecast of many steps the band is far too narrow. Here each of ``samples``
paths feeds back a draw from the predictive Gaussian instead (mean + std * eps, eps ~ N(0, 1)
from ``generator``), so the uncertainty compounds along the path as the model itself says it
does. The result is the mixture of the paths' Gaussians at every step:

    mean_t = avg_s m_t^s,    var_t = avg_s (s_t^s)^2 + avg_s (m_t^s - mean_t)^2

A model with ``hold_after_context`` (a grey box whose physical parameters are held after the
context) advances each path with its held outputs from the path's own sampled state, the held
std as the step's spread. Shapes: x_ctx (B, n_ctx, d) normalised, tau (T,) -> Prediction
(B, T, d); steps < n_ctx are the one-step predictions, the same on every path. Cost: ``samples``
forecasts (one batch of B * samples trajectories).

The band is the model's own account of its uncertainty, not a calibrated one, and the mixture's
mean is not the plain forecast's: on a chaotic system the paths can spread faster than the
forecast's error grows (README, "Forecast bands on simulated systems", for measured coverage).
"""
from __future__ import annotations

from typing import Any

import torch

from warp_phys.held_forecast import held_forecast
from warp_phys.sequence import Prediction
from warp_phys.validation import InputError, check_int


@torch.no_grad()
def sampled_forecast(model: Any, x_ctx: torch.Tensor, tau: torch.Tensor, *, samples: int = 32,
                     generator: torch.Generator | None = None) -> Prediction:
    """The mixture forecast of ``samples`` ancestral paths of a gaussian WARP model (see the
    module docstring). x_ctx (B, n_ctx, d), tau (T,) -> Prediction(mean, std) (B, T, d)."""
    samples = check_int(samples, "samples", minimum=1)
    if getattr(model, "output", None) != "gaussian":
        raise InputError("sampled_forecast needs a model with a predictive std (output='gaussian'); this one "
                         f"has output={getattr(model, 'output', None)!r}")
    x_ctx, tau = model._check_context(x_ctx, tau)
    B, n_ctx, d = x_ctx.shape
    T = tau.shape[0]
    x = torch.cat([x_ctx, x_ctx.new_zeros(B, T - n_ctx, d)], dim=1).repeat_interleave(samples, dim=0)
    dev = generator.device if generator is not None else x.device
    eps = torch.randn(x.shape, generator=generator, device=dev, dtype=x.dtype).to(x.device)
    if model.hold_after_context:  # the held outputs advance each path's own sampled state
        pred = held_forecast(model, x[:, :n_ctx], tau, T - n_ctx, eps=eps[:, n_ctx:])
    else:
        force = (torch.arange(T, device=x.device) < n_ctx).expand(B * samples, T)
        pred = model.rollout(x, tau, force, noise=eps, sample=True)
    means = pred.mean.view(B, samples, T, d)
    mean = means.mean(dim=1)
    var = pred.std.view(B, samples, T, d).square().mean(dim=1) + (means - mean.unsqueeze(1)).square().mean(dim=1)
    return Prediction(mean, var.sqrt())


__all__ = ["sampled_forecast"]
