"""Sequence completion: fill the unobserved steps of sequences by autoregressive rollout.

    filled = complete(model, observed, mask)          # observed (N, T, d), mask (N, T) bool

Step t's input is the observation where ``mask[:, t]`` and the model's own one-step prediction
of step t (fed back) elsewhere: the model reads every observed step, and in a gap it runs on
its own predictions until observations resume. The result equals ``observed`` at the observed
steps and holds the predictions elsewhere. It is causal (a step's completion reads the steps
before it only; the future is never used, so a gap is filled forward from its start, not
interpolated), and with mask = the first n steps it is the model's forecast after n steps.
A model with known input channels (`warp_phys.known_inputs.KnownInputs`: e.g. the phase of a
period, read at every step and never predicted) reads them at every step: ``observed`` holds
them on all steps (finite), the mask applies to the other channels, and they are returned as given.
Works with any model that has ``rollout(x, tau, force)``: `warp_phys.model.WARP` and the
`warp_phys.baselines.base.Baseline` models (GRU, LSTM, Transformer, neural ODE, persistence).
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from warp_phys.context_scaling import ContextScaled
from warp_phys.scaling import Scaler
from warp_phys.sequence import takes_first_output
from warp_phys.validation import InputError, check_int

__all__ = ["complete", "context_rollout", "with_context_forecast"]


def _as_mask(mask: Any, shape: tuple[int, int], name: str = "mask") -> np.ndarray:
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise InputError(f"{name} must be a boolean array (True = observed) of shape {shape}, got dtype "
                         f"{mask.dtype}; pass e.g. mask.astype(bool)")
    if mask.shape != shape:
        raise InputError(f"{name} must have shape {shape} (trajectories, steps) to match observed, got {mask.shape}")
    if shape[1] > 0 and not mask[:, 0].all():
        bad = np.flatnonzero(~mask[:, 0])
        raise InputError(f"{name}[:, 0] must be True (the rollout starts from an observed first step); "
                         f"it is False for {bad.size} trajectories, first index {int(bad[0])}")
    return mask


def _tau(tau: Any, T: int) -> torch.Tensor:
    if tau is None:
        return torch.linspace(0.0, 1.0, T, dtype=torch.float64) if T > 1 else torch.zeros(1, dtype=torch.float64)
    tau = torch.as_tensor(np.asarray(tau.detach().cpu() if isinstance(tau, torch.Tensor) else tau,
                                     dtype=np.float64))
    if tau.dim() != 1 or tau.shape[0] != T:
        raise InputError(f"tau must have shape ({T},) to match the {T} steps of observed, got {tuple(tau.shape)}")
    if not torch.isfinite(tau).all() or (T > 1 and not bool((tau[1:] > tau[:-1]).all())):
        raise InputError("tau must be finite and strictly increasing (normalised time, tau_t = t / (T - 1) by default)")
    return tau


def context_rollout(model: Any, x_ctx: torch.Tensor, tau: torch.Tensor) -> Any:
    """Differentiable forecast of any model with ``rollout(x, tau, force)``: read the context
    x_ctx (B, n_ctx, d), then run on its own predictions to len(tau) steps. tau (T,) ->
    Prediction (B, T, d) (steps < n_ctx: one-step predictions), as `WARP.context_forecast`."""
    B, n_ctx, d = x_ctx.shape
    T = tau.shape[0]
    x = torch.cat([x_ctx, x_ctx.new_zeros(B, T - n_ctx, d)], dim=1)
    force = (torch.arange(T, device=x.device) < n_ctx).expand(B, T)
    return model.rollout(x, tau, force)


def with_context_forecast(model: Any) -> Any:
    """``model`` with a ``context_forecast(x_ctx, tau)`` method (`context_rollout`) if it has
    none, so that `warp_phys.training.Trainer(forecast_weight > 0)` can train any sequence model
    with a differentiable ``rollout`` (the baselines) on its completion error; returns it."""
    if not callable(getattr(model, "rollout", None)):
        raise InputError(f"{type(model).__name__} has no rollout(x, tau, force) method")
    if not callable(getattr(model, "context_forecast", None)):
        model.context_forecast = functools.partial(context_rollout, model)
    return model


def complete(model: Any, observed: Any, mask: Any, tau: Any = None, *, batch_size: int = 256,
             scaler: Scaler | None = None) -> Any:
    """Fill the unobserved steps of ``observed`` with the model's autoregressive rollout.

    Args:
        model: a trained sequence model with ``rollout(x, tau, force)`` (WARP, or a baseline
            from `warp_phys.baselines`); it is run in eval mode without gradient, on its own device,
            and left in the mode it was in.
        observed: (N, T, d) or, for d = 1, (N, T); numpy array or torch tensor, in the model's
            normalised units (or in physical units with ``scaler``). Entries at unobserved steps
            are never read (NaN is fine there); observed entries must be finite. A model with
            known inputs (``n_targets`` < d) reads its last d - n_targets channels at every step:
            they must be finite on all steps, and they are returned unchanged.
        mask: (N, T) bool (numpy or torch), True = observed. mask[:, 0] must be True.
        tau: (T,) normalised times; None (default): tau_t = t / (T - 1), the package's convention.
        batch_size: trajectories per rollout call.
        scaler: a `warp_phys.scaling.Scaler` (e.g. the workflow's training scaler): when given,
            ``observed`` and the result are in physical units (normalised before the rollout,
            predictions denormalised after it).

    Returns:
        The same type, shape and device as ``observed`` (a float dtype: the input's, or float64 /
        float32 for integer numpy / torch input): equal to ``observed`` at the observed steps, bit
        for bit, and the model's one-step predictions (mean) at the unobserved ones, where step t's
        prediction has read the observations where mask is True and its own predictions elsewhere,
        for the steps before t only (causal).

    Raises:
        InputError: a model without ``rollout``, a bad shape or dtype of ``observed``/``mask``/``tau``,
            mask[:, 0] not all True, or a non-finite observed entry (or known input, at any step); a
            `warp_phys.context_scaling.ContextScaled` model with a gap in its first ``n_ctx`` steps
            (they set each sequence's scale).
    """
    if not callable(getattr(model, "rollout", None)):
        raise InputError(f"complete needs a model with a rollout(x, tau, force) method (WARP or a "
                         f"warp_phys.baselines model); {type(model).__name__} has none")
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    if scaler is not None and not isinstance(scaler, Scaler):
        raise InputError(f"scaler must be a warp_phys.scaling.Scaler or None, got {type(scaler).__name__}")
    is_torch = isinstance(observed, torch.Tensor)
    if is_torch:
        obs = observed.detach()
        result = obs.clone() if obs.is_floating_point() else obs.to(torch.float32)
        values = obs.cpu().numpy().astype(np.float64)
    else:
        try:
            obs = np.asarray(observed)
            values = obs.astype(np.float64)
        except (TypeError, ValueError) as err:
            raise InputError(f"observed must be a numeric array (N, T, d) or (N, T); {err}") from None
        result = obs.copy() if np.issubdtype(obs.dtype, np.floating) else obs.astype(np.float64)
    squeeze = values.ndim == 2
    if squeeze:
        values = values[..., None]
    d = int(getattr(model, "n_variables", values.shape[-1] if values.ndim == 3 else 1))
    if values.ndim != 3 or values.shape[-1] != d or values.shape[0] < 1 or values.shape[1] < 1:
        raise InputError(f"observed must have shape (N, T, {d})" + (" or (N, T)" if d == 1 else "")
                         + f" with N, T >= 1 for a model of {d} variables, got {tuple(obs.shape)}")
    N, T, _ = values.shape
    m = _as_mask(mask, (N, T))
    k = int(getattr(model, "n_targets", d))  # channels k.. are known inputs: read at every step
    bad = m & ~np.isfinite(values[..., :k]).all(-1)
    if bad.any():
        i, t = map(int, np.argwhere(bad)[0])
        raise InputError(f"observed has a NaN or inf at an observed step ({int(bad.sum())} such steps, first: "
                         f"trajectory {i}, step {t}); mark those steps unobserved (mask False) instead")
    bad_known = ~np.isfinite(values[..., k:]).all(-1)
    if bad_known.any():
        i, t = map(int, np.argwhere(bad_known)[0])
        raise InputError(f"the model reads its last {d - k} channels as known inputs at every step, but observed has "
                         f"a NaN or inf there ({int(bad_known.sum())} steps, first: trajectory {i}, step {t}); give "
                         f"their values on all steps, observed or not")
    n_scaled = getattr(model, "n_ctx", None) if isinstance(model, ContextScaled) else None
    if n_scaled is not None and not m[:, : min(n_scaled, T)].all():
        i = int(np.argwhere(~m[:, :n_scaled])[0][0])
        raise InputError(f"the model rescales each sequence by the statistics of its first {n_scaled} steps "
                         f"(ContextScaled), so those steps must all be observed; trajectory {i} has a gap there")
    tau_t = _tau(tau, T)
    if scaler is not None:
        loc, scale = scaler.loc.detach().cpu().double().numpy(), scaler.scale.detach().cpu().double().numpy()
        if loc.shape != (d,) or scale.shape != (d,):
            raise InputError(f"scaler has loc/scale of shapes {loc.shape}/{scale.shape}; the model has {d} variables")
        values = (values - loc) / scale
    values[..., :k] = np.where(m[..., None], values[..., :k], 0.0)  # unobserved entries are never read

    first = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    was_training = bool(getattr(model, "training", False))
    preds = np.zeros((N, T, d), dtype=np.float64)
    try:
        if hasattr(model, "eval"):
            model.eval()
        with torch.no_grad():
            tau_d = tau_t.to(device=device, dtype=dtype)
            skip = takes_first_output(model)
            for i in range(0, N, batch_size):
                xb = torch.as_tensor(values[i:i + batch_size], dtype=dtype, device=device)
                fb = torch.as_tensor(m[i:i + batch_size], device=device)
                # the steps before the batch's first gap are observed in every sequence: no prediction is read there
                n = int(np.argmin(m[i:i + batch_size].all(axis=0))) if skip and not m[i:i + batch_size].all() else 0
                if n > 0:
                    pred = model.rollout(xb, tau_d, fb, first_output=n)
                    preds[i:i + batch_size, n:] = pred.mean.double().cpu().numpy()
                else:
                    preds[i:i + batch_size] = model.rollout(xb, tau_d, fb).mean.double().cpu().numpy()
    finally:
        if hasattr(model, "train"):
            model.train(was_training)
    if scaler is not None:
        preds = preds * scale + loc
    if squeeze:
        preds = preds[..., 0]
    fill = np.zeros((N, T, d), bool)  # the unobserved steps of the predicted channels
    fill[..., :k] = ~m[..., None]
    if squeeze:
        fill = fill[..., 0]
    if is_torch:
        fill_t = torch.as_tensor(fill, device=result.device)
        result[fill_t] = torch.as_tensor(preds[fill], dtype=result.dtype, device=result.device)
    else:
        result[fill] = preds[fill].astype(result.dtype)
    return result
