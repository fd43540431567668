"""Shared machinery of the baselines: validation, output head, teacher-forced /
autoregressive / forecast loops. A baseline only implements ``_advance``.

``_advance(inp, tau_in, tau_out, state)`` maps inputs ``inp`` (B, L, d) observed at
``tau_in`` (L,) to predictions (B, L, d) of the state at ``tau_out`` (L,), carrying a
model-specific ``state`` (None at the start of a sequence). Teacher forcing is one call
with L = T - 1; autoregressive training and forecasting call it with L = 1 per step.
``rollout(x, tau, force)`` is the autoregressive loop with the fed steps given (``force``, as
`WARP.rollout`); forward(p_force < 1) runs it with random ones, `warp_phys.completion` with a mask.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from warp_phys.sequence import Prediction, SequenceModel, channel_force
from warp_phys.validation import check_int, check_seed

OUTPUTS = ("mean", "gaussian")


def check_inputs(x: torch.Tensor, tau: torch.Tensor, n_variables: int) -> None:
    """Raise ValueError unless x is (B, T, n_variables) and tau is (T,) strictly increasing."""
    if not isinstance(x, torch.Tensor) or x.dim() != 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a 3-D tensor (batch, time, variable); got {shape}. "
                         "Add a batch axis with x[None] for a single trajectory.")
    if x.shape[-1] != n_variables:
        raise ValueError(f"x has {x.shape[-1]} variables (last axis) but the model was built "
                         f"for n_variables={n_variables}")
    if not isinstance(tau, torch.Tensor) or tau.dim() != 1 or tau.shape[0] != x.shape[1]:
        shape = tuple(tau.shape) if isinstance(tau, torch.Tensor) else type(tau).__name__
        raise ValueError(f"tau must be a 1-D tensor of length T={x.shape[1]} (x.shape[1]); got {shape}")
    if tau.shape[0] > 1 and not bool((tau[1:] > tau[:-1]).all()):
        raise ValueError("tau must be strictly increasing (normalised time, tau_t = (t_t - t_0)/(t_{T-1} - t_0))")


class Baseline(SequenceModel):
    """Base class: stores ``config`` (constructor kwargs, JSON-able, so that
    ``type(model)(**model.config)`` rebuilds it) and handles the three modes.

    mean[:, 0] is x_0 itself; with ``output="gaussian"`` std[:, 0] is a learned
    per-variable constant and every std is softplus(raw) + std_floor.
    """

    name: str = "baseline"

    def __init__(self, n_variables: int, *, output: str = "mean", std_floor: float = 1e-3,
                 seed: int = 0, **options: Any) -> None:
        super().__init__()
        n_variables = check_int(n_variables, "n_variables", minimum=1)
        seed = check_seed(seed)
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}; got {output!r}")
        if not std_floor > 0:
            raise ValueError(f"std_floor must be > 0; got {std_floor!r}")
        self.n_variables = n_variables
        self.gaussian = output == "gaussian"
        self.std_floor = float(std_floor)
        self.config = dict(n_variables=n_variables, output=output, std_floor=float(std_floor),
                           seed=seed, **options)
        self._gen = torch.Generator().manual_seed(seed)  # coin flips when none is passed
        self.std0 = nn.Parameter(torch.zeros(n_variables)) if self.gaussian else None

    # ---- helpers for subclasses ---------------------------------------------------
    @contextmanager
    def _seeded(self) -> Iterator[None]:
        """Context in which parameter initialisation is reproducible (global RNG restored)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config["seed"])
            yield

    @property
    def n_raw(self) -> int:
        """Raw outputs per step: d (mean) or 2d (mean, std)."""
        return self.n_variables * (2 if self.gaussian else 1)

    def _std(self, raw: torch.Tensor) -> torch.Tensor:
        return F.softplus(raw) + self.std_floor

    def _residual_head(self, raw: torch.Tensor, inp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """mean = inp + raw[..., :d]; std from raw[..., d:] (or None)."""
        d = self.n_variables
        return inp + raw[..., :d], (self._std(raw[..., d:]) if self.gaussian else None)

    @staticmethod
    def _time_features(inp: torch.Tensor, tau_in: torch.Tensor, tau_out: torch.Tensor) -> torch.Tensor:
        """[inp, tau_in, tau_out - tau_in] per step: (B, L, d + 2)."""
        B, L, _ = inp.shape
        t = torch.stack([tau_in, tau_out - tau_in], -1).to(inp)
        return torch.cat([inp, t.expand(B, L, 2)], -1)

    # ---- to implement ---------------------------------------------------------------
    def _advance(self, inp: torch.Tensor, tau_in: torch.Tensor, tau_out: torch.Tensor, state: Any):
        """-> (mean (B, L, d), std (B, L, d) or None, new state)."""
        raise NotImplementedError

    # ---- the SequenceModel interface ------------------------------------------------
    def forward(self, x: torch.Tensor, tau: torch.Tensor, *, p_force: float = 1.0,
                generator: torch.Generator | None = None) -> Prediction:
        """x (B, T, d), tau (T,) -> Prediction (B, T, d); mean[:, t] uses x_0..x_{t-1} only."""
        check_inputs(x, tau, self.n_variables)
        if not 0.0 <= p_force <= 1.0:
            raise ValueError(f"p_force must be in [0, 1]; got {p_force}")
        B, T, d = x.shape
        if T > 1 and p_force >= 1.0:
            means = [x[:, :1]]
            stds = [self._std(self.std0).to(x).expand(B, 1, d)] if self.gaussian else None
            m, s, _ = self._advance(x[:, :-1], tau[:-1], tau[1:], None)
            means.append(m)
            if stds is not None:
                stds.append(s)
            return Prediction(torch.cat(means, 1), torch.cat(stds, 1) if stds is not None else None)
        keep = torch.ones(B, T, dtype=torch.bool, device=x.device)
        if T > 1:
            gen = generator if generator is not None else self._gen
            keep = (torch.rand(B, T, generator=gen, device=gen.device) < p_force).to(x.device)
        return self._mixed_rollout(x, tau, keep)

    def _mixed_rollout(self, x: torch.Tensor, tau: torch.Tensor, force: torch.Tensor,
                       first_output: int = 0) -> Prediction:
        """The step-by-step loop of `rollout` (inputs already checked). ``first_output`` = n >= 2: the
        forced steps 0 .. n - 2 are read in one call and the Prediction holds steps n .. T - 1."""
        B, T, d = x.shape
        force = channel_force(force)
        inp, state, start = x[:, :1], None, 0
        means = [x[:, :1]] if first_output == 0 else []
        stds = [self._std(self.std0).to(x).expand(B, 1, d)] if self.gaussian and first_output == 0 else []
        if first_output > 1:  # the context in one call, as `forecast` reads it
            _, _, state = self._advance(x[:, :first_output - 1], tau[:first_output - 1], tau[1:first_output], None)
            inp, start = x[:, first_output - 1:first_output], first_output - 1
        for t in range(start, T - 1):
            m, s, state = self._advance(inp, tau[t:t + 1], tau[t + 1:t + 2], state)
            means.append(m)
            if self.gaussian:
                stds.append(s)
            inp = torch.where(force[:, t + 1:t + 2], x[:, t + 1:t + 2], m)
        if not means:
            return Prediction(x.new_zeros(B, 0, d), x.new_zeros(B, 0, d) if self.gaussian else None)
        return Prediction(torch.cat(means, 1), torch.cat(stds, 1) if self.gaussian else None)

    def rollout(self, x: torch.Tensor, tau: torch.Tensor, force: torch.Tensor, *, first_output: int = 0) -> Prediction:
        """Sequential run (differentiable), as `WARP.rollout`: the input at step t is x[:, t] where
        force[:, t], else the model's own mean prediction of step t (step 0 always reads x[:, 0]).
        x (B, T, d), tau (T,), force (B, T) bool, or (B, T, d) to force some channels only (known
        inputs) -> Prediction (B, T, d); mean[:, t] reads the inputs of steps 0 .. t-1 only. O(T)
        steps of one token each; the p_force < 1 mode of `forward` is this loop with random ``force``.
        ``first_output`` = n: steps n .. T - 1 only, (B, T - n, d); steps 1 .. n - 1 must be forced
        (on every channel), and steps 0 .. n - 2 are read in one call."""
        check_inputs(x, tau, self.n_variables)
        if not isinstance(force, torch.Tensor) or force.dtype != torch.bool or tuple(force.shape) not in (
                tuple(x.shape[:2]), tuple(x.shape)):
            shape = tuple(force.shape) if isinstance(force, torch.Tensor) else type(force).__name__
            raise ValueError(f"force must be a bool tensor of shape {tuple(x.shape[:2])} (batch, time) or "
                             f"{tuple(x.shape)} (batch, time, variable); got {shape}")
        T = x.shape[1]
        first_output = check_int(first_output, "first_output", minimum=0)
        if first_output > T:
            raise ValueError(f"first_output must be in [0, {T}] for {T} steps, got {first_output}")
        if first_output > 1 and not bool(channel_force(force)[:, 1:first_output].all()):
            raise ValueError(f"first_output={first_output} needs steps 1 .. {first_output - 1} forced")
        return self._mixed_rollout(x, tau, force.to(x.device), first_output)

    def _rollout(self, x_ctx: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """Context (B, n_ctx, d) -> full sequence (B, T, d): the context, then own predictions.
        O(T): the context is read in one call, then one step per new point."""
        B, n_ctx, d = x_ctx.shape
        seq = x_ctx.new_empty(B, tau.shape[0], d)
        seq[:, :n_ctx] = x_ctx
        state = None
        if n_ctx > 1:
            _, _, state = self._advance(x_ctx[:, :-1], tau[:n_ctx - 1], tau[1:n_ctx], None)
        for t in range(n_ctx - 1, tau.shape[0] - 1):
            m, _, state = self._advance(seq[:, t:t + 1], tau[t:t + 1], tau[t + 1:t + 2], state)
            seq[:, t + 1:t + 2] = m
        return seq

    def forecast_after(self, x: torch.Tensor, tau: torch.Tensor, n_ctx: int, *, grad: bool = False) -> Prediction:
        """The forecast from the context x[:, :n_ctx] (x (B, T', d)) over steps n_ctx .. len(tau) - 1:
        Prediction (B, len(tau) - n_ctx, d). ``grad=False``: those steps of `forecast`. ``grad=True``
        (the Trainer's forecast loss): `rollout` with the context forced and ``first_output=n_ctx``
        (the context read in one call, as `forecast` does, instead of one token per step)."""
        n_ctx = check_int(n_ctx, "n_ctx", minimum=1)
        if not grad or not torch.is_grad_enabled():
            pred = self.forecast(x[:, :n_ctx], tau)
            return Prediction(pred.mean[:, n_ctx:], None if pred.std is None else pred.std[:, n_ctx:])
        x_ctx, T = x[:, :n_ctx], tau.shape[0]
        if x_ctx.shape[1] < n_ctx or n_ctx > T:
            raise ValueError(f"the context needs n_ctx = {n_ctx} steps of x ({x.shape[1]} given) and at most "
                             f"len(tau) = {T}")
        B, _, d = x_ctx.shape
        force = (torch.arange(T, device=x.device) < n_ctx).expand(B, T)
        return self.rollout(torch.cat([x_ctx, x_ctx.new_zeros(B, T - n_ctx, d)], dim=1), tau, force, first_output=n_ctx)

    @torch.no_grad()
    def forecast(self, x_ctx: torch.Tensor, tau: torch.Tensor) -> Prediction:
        """Read ``x_ctx`` (B, n_ctx, d), roll out to len(tau) steps in O(T); returns the
        teacher-forced Prediction (B, T, d) on [context, rollout], as SequenceModel.forecast."""
        if not isinstance(x_ctx, torch.Tensor) or x_ctx.dim() != 3:
            raise ValueError("x_ctx must be a 3-D tensor (batch, n_ctx, variable)")
        if not isinstance(tau, torch.Tensor) or tau.dim() != 1:
            raise ValueError("tau must be a 1-D tensor with the full forecast grid (T,)")
        T, n_ctx = tau.shape[0], x_ctx.shape[1]
        if n_ctx < 1 or n_ctx > T:
            raise ValueError(f"context length {n_ctx} must be in [1, {T}] (len(tau))")
        check_inputs(x_ctx[:, :1].expand(-1, T, -1), tau, self.n_variables)
        return self.forward(self._rollout(x_ctx, tau), tau)
