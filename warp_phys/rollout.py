"""Autoregressive evaluation of WARP: the sequential loop and parallel feedback passes.

Both read the same mixed input sequence u (B, T, d):

    u_0 = x_0,   u_t = x_t where force[:, t], else mean_t (+ noise_t)   (t >= 1)

where mean_t is the model's own prediction of step t; the prediction of step t reads
u_0 .. u_{t-1} only (weights theta_{t-1}, z_prev = u_{t-1}; see warp_phys/model.py).

* `sequential_rollout`: a Python loop over the T steps (exact, differentiable, O(T) small steps).
* `feedback_rollout` (parallel feedback passes, "parallel scheduled sampling" / the pushforward
  trick): pass 0 is the teacher-forced parallel evaluation (u = x); pass k evaluates the whole
  sequence in parallel on the u built from the predictions of pass k - 1. The prediction of
  step t depends on the predictions of steps < t only, so after pass k the steps 0 .. k + 1
  equal the sequential rollout, and after T - 2 passes all of them do (predictions and, with
  ``detach=False``, gradients). With ``detach=True`` the passes before the last run without
  autograd and the last pass sees the fed-back predictions as constants (no gradient through
  them): one extra forward per pass, the backward of a teacher-forced step. The passes pay off
  with the factored evaluation; a materialised one (``diagonal``, ``dense``, ``evaluation="plain"``)
  builds theta (B, T, D) in every pass and on CPU is slower than the loop.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch.nn import functional as F

from warp_phys.lag_readout import LagHistory
from warp_phys.sequence import Prediction, channel_force
from warp_phys.transition_inputs import MomentReader
from warp_phys.validation import check_int


def check_feedback_options(feedback_passes: int | None, detach_feedback: bool, noise_std: float) -> None:
    """ValueError for a bad ``feedback_passes`` (None or an int >= 1), ``detach_feedback`` or ``noise_std``."""
    if feedback_passes is not None:
        check_int(feedback_passes, "feedback_passes", minimum=1)
    if not isinstance(detach_feedback, bool):
        raise ValueError(f"detach_feedback must be True or False, got {detach_feedback!r}")
    if isinstance(noise_std, bool) or not isinstance(noise_std, (int, float)) or not (
            math.isfinite(noise_std) and noise_std >= 0):
        raise ValueError(f"noise_std must be a finite number >= 0 (normalised units), got {noise_std!r}")


def draw_noise(x: torch.Tensor, noise_std: float, generator: torch.Generator | None) -> torch.Tensor | None:
    """Noise (B, T, d) ~ N(0, noise_std^2) from ``generator`` (None when noise_std == 0)."""
    if noise_std == 0:
        return None
    dev = generator.device if generator is not None else x.device
    noise = torch.randn(x.shape, generator=generator, device=dev, dtype=x.dtype).to(x.device)
    return noise * noise_std


def sequential_rollout(model: Any, x: torch.Tensor, tau: torch.Tensor, force: torch.Tensor, *,
                       freeze_recurrence: bool = False, noise: torch.Tensor | None = None,
                       first_output: int = 0, sample: bool = False) -> Prediction:
    """`WARP.rollout`: the step-by-step loop. x (B, T, d), tau (T,), force (B, T) or (B, T, d)
    bool (per step, or per step and channel), noise (B, T, d) or None (added to the fed-back
    predictions) -> Prediction (B, T, d). ``sample=True`` (ancestral sampling, needs ``noise`` and
    a predictive std): ``noise`` holds standard normal draws and the fed-back value is
    mean + std * noise, a draw from the model's own predictive Gaussian (`warp_phys.sampled_forecast`).

    ``first_output`` = n > 0: the root network is evaluated from step n on only (the recurrence
    still reads every step) and the Prediction holds steps n .. T - 1, (B, T - n, d); steps
    1 .. n - 1 must be forced on every channel (their predictions are never fed back)."""
    B, T, d = x.shape
    if not 0 <= first_output < T:
        raise ValueError(f"first_output must be in [0, {T - 1}] for {T} steps, got {first_output}")
    if sample and (noise is None or getattr(model, "output", None) != "gaussian"):
        raise ValueError("sample=True feeds back mean + std * noise: it needs noise (standard normal draws) and "
                         "a model with output='gaussian'")
    if first_output > 1 and not bool(channel_force(force)[:, 1:first_output].all()):
        raise ValueError(f"first_output={first_output} needs steps 1 .. {first_output - 1} forced "
                         f"(their predictions are not computed)")
    x0 = x[:, 0]
    theta0 = model.initial(x0)
    tr = model.transition
    reader = MomentReader(model.transition_input)  # the transition's inputs, step by step
    read_prev = reader.start(x0)
    if model.factored:
        layers = model.root.factored_layers(theta0, tr.basis())
        state = tr.init_coefficient_state(theta0, read_prev)
        coeff = x0.new_zeros(B, 1, tr.n_coefficients)
    else:
        state, theta = tr.init_step_state(theta0), theta0
    inp_prev = x0
    lags = LagHistory(x0, model.ar_lags) if model.ar_lags else None  # u_{t-1} .. u_{t-p} (``ar_lags``)
    means: list[torch.Tensor] = []
    stds: list[torch.Tensor] = []
    force = channel_force(force)
    for t in range(T):
        if t >= 2:  # read the input of step t-1
            if t - 1 < first_output:  # forced (checked above); no prediction was computed
                inp = x[:, t - 1]
            else:
                fed = means[-1] if noise is None else means[-1] + noise[:, t - 1] * (stds[-1] if sample else 1.0)
                inp = torch.where(force[:, t - 1], x[:, t - 1], fed)
            if not freeze_recurrence:
                read = reader.step(inp)
                if model.factored:
                    state, c = tr.step_coefficients(state, read)
                    coeff = c.unsqueeze(1)
                else:
                    state, theta = tr.step_state(state, read - read_prev)
                read_prev = read
            inp_prev = inp
            if lags is not None:
                lags.push(inp)
        if t < first_output:  # a forced step whose prediction nobody reads: no root evaluation
            continue
        z_prev = inp_prev.unsqueeze(1) if lags is None else lags.stack()
        inputs = model._inputs(tau[t : t + 1], z_prev)
        if model.factored:
            raw = model.root.evaluate_factored(layers, None, coeff, inputs)
        else:
            raw = model.root.evaluate(theta.unsqueeze(1), inputs)
        pred = model._decode(raw, tau[t : t + 1], z_prev)
        means.append(pred.mean[:, 0])
        if pred.std is not None:
            stds.append(pred.std[:, 0])
    return Prediction(torch.stack(means, 1), torch.stack(stds, 1) if stds else None)


def rollout_from_context(model: Any, x_ctx: torch.Tensor, tau: torch.Tensor, *, freeze_recurrence: bool = False,
                         first_output: int = 0) -> Prediction:
    """`sequential_rollout` fed with the context x_ctx (B, n_ctx, d), then the model's own
    predictions, to len(tau) steps (from step ``first_output`` on)."""
    B, n_ctx, d = x_ctx.shape
    T = tau.shape[0]
    x = torch.cat([x_ctx, x_ctx.new_zeros(B, T - n_ctx, d)], dim=1)
    force = (torch.arange(T, device=x.device) < n_ctx).expand(B, T)
    return sequential_rollout(model, x, tau, force, freeze_recurrence=freeze_recurrence, first_output=first_output)


def forecast_steps(model: Any, x: torch.Tensor, tau: torch.Tensor, n_ctx: int, *, grad: bool = False) -> Prediction:
    """`WARP.forecast_after`: the forecast from x[:, :n_ctx] (x (B, T', d), T' >= n_ctx) over steps
    n_ctx .. len(tau) - 1, (B, len(tau) - n_ctx, d); the root network is not evaluated on the
    context (a held forecast reads the context in one parallel pass anyway and is sliced)."""
    n_ctx = check_int(n_ctx, "n_ctx", minimum=1)
    x_ctx, tau = model._check_context(x[:, :n_ctx], tau)
    if x_ctx.shape[1] < n_ctx:
        raise ValueError(f"x has {x.shape[1]} steps, fewer than the context's n_ctx = {n_ctx}")
    with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
        if model.hold_after_context or n_ctx == tau.shape[0]:
            pred = model.context_forecast(x_ctx, tau)
            return Prediction(pred.mean[:, n_ctx:], None if pred.std is None else pred.std[:, n_ctx:])
        return rollout_from_context(model, x_ctx, tau, first_output=n_ctx)


def feedback_inputs(x: torch.Tensor, force: torch.Tensor, mean: torch.Tensor,
                    noise: torch.Tensor | None = None) -> torch.Tensor:
    """The mixed inputs u (B, T, d): u_0 = x_0, u_t = x_t where force[:, t] else mean_t (+ noise_t);
    force (B, T) or (B, T, d) (per channel)."""
    fed = mean if noise is None else mean + noise
    u = torch.where(channel_force(force), x, fed)
    return torch.cat([x[:, :1], u[:, 1:]], dim=1)


def _buffer(work: dict, key: Any, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    buf = work.get(key)
    if buf is None or buf.shape != shape:
        buf = work[key] = like.new_empty(shape)
    return buf


def _factored_no_grad(root: Any, layers: Any, coeff: torch.Tensor, inputs: torch.Tensor, work: dict) -> torch.Tensor:
    """`RootNetwork.evaluate_factored` for passes without autograd: the basis terms and biases
    accumulate in place into the per-trajectory GEMM's output, and the hidden activations live
    in buffers of ``work`` reused from pass to pass (no allocation per layer)."""
    B, T, K = coeff.shape
    flat = coeff.reshape(-1, K)
    h = inputs
    last = len(root.layers) - 1
    for i, L in enumerate(root.layers):
        shape = (B, T, L.n_out)
        y = inputs.new_empty(shape) if i == last else _buffer(work, ("y", i % 2), shape, inputs)
        torch.baddbmm(layers.b0[i], h, layers.w0t[i], out=y)
        y2 = y.view(-1, L.n_out)
        if root.contracts(L.n_in, L.n_out):  # the contract form (see `warp_phys.root`)
            hw = _buffer(work, ("hw", L.n_out), (B * T, K, L.n_out), inputs)
            torch.mm(h.reshape(-1, L.n_in), layers.wko[i], out=hw.view(-1, K * L.n_out))
            y2.unsqueeze(1).baddbmm_(flat.unsqueeze(1), hw)
        else:  # the expand form
            ch = _buffer(work, ("ch", L.n_in), (B, T, K, L.n_in), inputs)
            torch.mul(coeff.unsqueeze(-1), h.unsqueeze(-2), out=ch)
            y2.addmm_(ch.view(-1, K * L.n_in), layers.wk[i])
        y2.addmm_(flat, layers.bk[i])
        h = y if i == last else F.silu(y, inplace=True) if root.act is F.silu else root.act(y)
    return h


#: rows (trajectories x steps) per chunk of the passes without autograd on CPU, where a chunk
#: that stays in cache is faster than the whole batch (CUDA runs the whole batch at once)
CPU_CHUNK_ROWS = 8192


def _passes_no_grad(model: Any, x: torch.Tensor, tau: torch.Tensor, force: torch.Tensor,
                    noise: torch.Tensor | None, n: int, work: dict) -> torch.Tensor:
    """The mean (B, T, d) of the n-th evaluation (n >= 1; the first is teacher forced), no
    autograd; ``work`` holds the reusable buffers of `_factored_no_grad`."""
    tcol = tau.view(1, -1, 1).expand(x.shape[0], -1, 1)
    if model.factored:  # theta_0 reads x_0 only: the same in every pass
        theta0 = model.initial(x[:, 0])
        layers = model.root.factored_layers(theta0, model.transition.basis())
    u = x
    for k in range(n):
        if k > 0:
            u = feedback_inputs(x, force, mean, noise)
        if model.factored:  # the factored branch of `WARP._raw_parallel`
            z_prev = model.previous(u)
            coeff = model.transition.coefficients(theta0, model.read(u))
            coeff = torch.cat([coeff[:, :1], coeff[:, :-1]], dim=1)
            raw = _factored_no_grad(model.root, layers, coeff, model._inputs(tau, z_prev), work)
        else:
            raw, z_prev = model._raw_parallel(u, tau)
        mean = model._decode_mean(raw[..., : model.n_prior_outputs], tcol, z_prev)
    return mean


def feedback_rollout(model: Any, x: torch.Tensor, tau: torch.Tensor, force: torch.Tensor, *, passes: int,
                     detach: bool = True, noise: torch.Tensor | None = None) -> Prediction:
    """`WARP.feedback_rollout`: ``passes`` parallel feedback passes after the teacher-forced one
    (module docstring). Same arguments as `sequential_rollout`; equal to it when passes >= T - 2."""
    passes = check_int(passes, "feedback_passes", minimum=1)
    if detach:
        B, T, _ = x.shape
        step = max(1, CPU_CHUNK_ROWS // T) if x.device.type == "cpu" else B
        work: dict = {}
        with torch.no_grad():  # trajectories are independent: evaluate them in chunks
            mean = torch.cat([_passes_no_grad(model, x[i:i + step], tau, force[i:i + step],
                                              None if noise is None else noise[i:i + step], passes, work)
                              for i in range(0, B, step)])
    else:  # gradients through every pass
        mean = x
        for k in range(passes):
            raw, z_prev = model._raw_parallel(feedback_inputs(x, force, mean, noise) if k else x, tau)
            mean = model._decode(raw, tau, z_prev).mean
    u = feedback_inputs(x, force, mean, noise)
    raw, z_prev = model._raw_parallel(u, tau)
    return model._decode(raw, tau, z_prev)


__all__ = ["check_feedback_options", "draw_noise", "feedback_inputs", "feedback_rollout", "forecast_steps",
           "rollout_from_context", "sequential_rollout"]
