"""A linear autoregressive term beside WARP's root network (``WARP(ar_lags=p)``).

    mean_t = decode(root(theta_{t-1}), u_{t-1}) + sum_{k=1..p} W_k u_{t-k} + b

u is what the model read (the truth, or its own predictions in a rollout), in normalised units.
This is the "highway" of LSTNet (Lai et al. 2018): a classical AR(p) model inside the network,
so that a record whose best forecast is nearly linear in its recent past (sunspots, river flow)
does not have to be learned through the weights' recurrence. W and b start at zero: an
untrained model equals the model without the term. Lags before the first step repeat u_0,
the convention of the previous observation at t = 0 (`warp_phys.model`). `fit_lag_readout` sets
W and b to the least-squares fit of what the rest of the model misses; ``reconstruct`` does so on
the training windows before training. With ``WARP(ar_gate=True)`` the root network's raw outputs r
enter as gate * tanh(r), the gate starting at zero, so "the rest of the model" is the prior at zero
(nothing, or the previous state with ``increment``) and the start is the classical AR(p) fit
exactly; `warp_phys.pipeline.engine.keep_fitted_start` keeps that start if training does not beat
it on validation.

The model carries the lags as its "previous observation" z_prev (B, T, p * d): lag 1 first,
so ``z_prev[..., :d]`` is u_{t-1}, what the prior and ``prev_obs_input`` read.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from warp_phys.validation import check_int


def check_ar_options(ar_lags: Any, ar_gate: Any, hold_after_context: bool, prior_name: str) -> tuple[int, bool]:
    """(ar_lags, ar_gate) checked: lags >= 0, not with a forecast that holds the prior's outputs,
    and a gate (True/False) only with lags >= 1; ValueError otherwise."""
    lags = check_int(ar_lags, "ar_lags", minimum=0)
    if lags and hold_after_context:
        raise ValueError(f"ar_lags={ar_lags} needs hold_after_context=False: the forecast of prior "
                         f"{prior_name!r} holds its outputs after the context and feeds back the last "
                         "prediction only; pass hold_after_context=False or another prior")
    if not isinstance(ar_gate, bool) or (ar_gate and not lags):
        raise ValueError(f"ar_gate must be True or False, and True needs ar_lags >= 1; got ar_gate={ar_gate!r}, "
                         f"ar_lags={lags}")
    return lags, ar_gate


def lag_stack(u: torch.Tensor, lags: int) -> torch.Tensor:
    """(B, T, d) -> (B, T, lags * d): at step t, [u_{t-1}, ..., u_{t-lags}] (index clamped at 0)."""
    B, T, d = u.shape
    steps = torch.arange(T, device=u.device)[:, None] - torch.arange(1, lags + 1, device=u.device)[None, :]
    return u[:, steps.clamp_min(0)].reshape(B, T, lags * d)


class LagHistory:
    """The lags of `lag_stack`, step by step (the sequential rollout): ``push`` u_t for
    t = 0, 1, ... in order; ``stack()`` is then (B, 1, lags * d) for the next step."""

    def __init__(self, u0: torch.Tensor, lags: int) -> None:
        self.lags = int(lags)
        self.history = [u0]

    def push(self, u: torch.Tensor) -> None:
        self.history.append(u)
        del self.history[:-self.lags]

    def stack(self) -> torch.Tensor:
        recent = self.history[::-1] + [self.history[0]] * (self.lags - len(self.history))
        return torch.cat(recent, dim=-1).unsqueeze(1)


@torch.no_grad()
def fit_lag_readout(model: nn.Module, x: torch.Tensor, tau: torch.Tensor, *, ridge: float = 1e-6,
                    chunk: int = 1024) -> nn.Module:
    """Set ``model.lag_readout`` (a WARP with ``ar_lags``) to the least-squares fit of what the
    model without it misses on x (B, T, d) teacher forced at times tau (T,): W, b minimise
    sum_{t >= s} |x_t - mean_t - W lags_t - b|^2 (+ ``ridge`` |W|^2, relative to the mean diagonal),
    mean_t the model's prediction with the term at zero, s = p (the first step whose p lags are
    all observed; the earlier steps repeat u_0, `lag_stack`) when T > p, else s = 1. So training
    starts from an AR(p) fit of the data (of its residual after the prior, e.g. of the increments
    with ``increment``) instead of from zero. Normal equations accumulated over chunks of ``chunk`` trajectories, in
    float64. Returns the model."""
    readout = model.lag_readout
    lin = readout.linear
    lin.weight.zero_()
    lin.bias.zero_()
    dev, dtype = lin.weight.device, lin.weight.dtype
    n = lin.in_features + 1
    gram = torch.zeros(n, n, dtype=torch.float64, device=dev)
    cross = torch.zeros(n, lin.out_features, dtype=torch.float64, device=dev)
    tau = torch.as_tensor(tau).to(device=dev, dtype=dtype)
    first = readout.lags if x.shape[1] > readout.lags else 1
    for i in range(0, x.shape[0], chunk):
        xb = x[i:i + chunk].to(device=dev, dtype=dtype)
        miss = (xb - model(xb, tau).mean)[:, first:]
        feats = lag_stack(xb, readout.lags)[:, first:]
        a = torch.cat([feats, torch.ones_like(feats[..., :1])], dim=-1).reshape(-1, n).double()
        gram += a.T @ a
        cross += a.T @ miss.reshape(-1, lin.out_features).double()
    reg = ridge * gram.diagonal()[:-1].mean().clamp_min(1e-12)
    gram[range(n - 1), range(n - 1)] += reg
    coef = torch.linalg.solve(gram, cross)  # (n, d)
    lin.weight.copy_(coef[:-1].T.to(dtype))
    lin.bias.copy_(coef[-1].to(dtype))
    return model


class LagReadout(nn.Module):
    """sum_k W_k u_{t-k} + b: (..., lags * d) -> (..., d); zero at initialisation."""

    def __init__(self, n_variables: int, lags: int) -> None:
        super().__init__()
        self.lags = int(lags)
        self.linear = nn.Linear(self.lags * int(n_variables), int(n_variables))
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, lags: torch.Tensor) -> torch.Tensor:
        return self.linear(lags)


__all__ = ["LagHistory", "LagReadout", "check_ar_options", "fit_lag_readout", "lag_stack"]
