"""WARP: a sequence model whose hidden state is the weight vector of a root network.

Recurrence:  theta_0 = phi(x_0),  theta_t = A theta_{t-1} + B (x_t - x_{t-1}), the weights of the
root network as the hidden state (A and B: the transition, warp_phys/transitions/).

Alignment (warp_phys/sequence.py): ``mean[:, t]`` predicts x_t with the weights
theta_{t-1} (which have read x_0 .. x_{t-1}); the root network is evaluated at tau_t and the
prior decodes with z_prev = x_{t-1}. For t = 0 the model uses theta_0 and z_prev = x_0 (a
reconstruction of x_0). In autoregressive modes "x_{t-1}" is whatever was fed at step t-1
(the truth, or the model's own prediction).

Evaluation: for ``identity``, ``lowrank`` and ``subspace`` transitions the weights stay in an affine
subspace theta_0 + span(basis), and the root network is evaluated in factored form without
ever building theta_t per (batch, time) (warp_phys/root.py). ``diagonal`` and ``dense``
materialise theta_t. ``evaluation="plain"`` forces materialisation (tests, benchmarks).
Autoregressive training (the sequential loop, or parallel feedback passes): warp_phys/rollout.py.

Units: x is in normalised units (the workflow normalises); tau = t / (T - 1) in [0, 1].
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from warp_phys.hypernet import FreeInitialState, Hypernetwork
from warp_phys.lag_readout import LagReadout, check_ar_options, lag_stack
from warp_phys.model_config import _jsonable, bind_context_to_config, prior_to_config
from warp_phys.priors.base import BindContext, Identity, Prior
from warp_phys.priors.parameter_fit import FitCache
from warp_phys.held_forecast import check_parameter_fit, held_forecast, held_parameters, prefit_contexts
from warp_phys.output_clip import check_output_clip, clip_output
from warp_phys.root import RootNetwork, get_activation
from warp_phys.rollout import (check_feedback_options, draw_noise, feedback_rollout, forecast_steps,
                               rollout_from_context, sequential_rollout)
from warp_phys.scaling import Scaler
from warp_phys.sequence import Prediction, SequenceModel
from warp_phys.transitions import REGISTRY as TRANSITIONS
from warp_phys.transition_inputs import check_transition_input, n_inputs
from warp_phys.transition_inputs import features as transition_features
from warp_phys.transitions import make_transition
from warp_phys.validation import check_int, check_seed

OUTPUTS = ("mean", "gaussian")
INIT_STATES = ("hypernetwork", "free")
EVALUATIONS = ("auto", "factored", "plain")


class WARP(SequenceModel):
    """Weight-space Adaptive Recurrent Prediction.

    Args:
        n_variables: d, the number of state variables.
        width, depth, activation: root network (``depth`` hidden layers of ``width``).
        transition: "identity" | "lowrank" | "diagonal" | "dense" | "subspace" (a learned linear
            memory of the history); see `warp_phys.transitions`.
        rank: rank r of the lowrank transition; number of memory modes of "subspace".
        transition_options: extra settings of the transition (only "subspace" has any, e.g.
            ``{"input_scale": 10.0}``; see `warp_phys.transitions.SubspaceTransition`).
        init_state: "hypernetwork" (theta_0 = phi(x_0)) or "free" (one learned vector).
        output: "mean", or "gaussian" (extra d outputs, std = softplus(raw) + std_floor).
        prev_obs_input: feed the previous observation to the root network besides tau.
        prior: a `Prior` (default: the black-box Identity), bound here to ``bind_context``.
        hold_after_context: hold the prior's raw outputs after the context during a forecast
            (the last context step's values are reused at every later step). None (default):
            hold when the prior declares them time-invariant (``Prior.time_invariant``, e.g.
            the grey box's physical parameters, constant along a trajectory).
        output_clip: if set (> 0), every predicted state is clamped to [-output_clip,
            output_clip] in normalised units (standard deviations of the training data), so a
            runaway forecast stays finite instead of overflowing to NaN. None: no clamp.
        clip_gradient: the clamp's gradient outside the band (`warp_phys.output_clip`): "zero"
            (default, the clamp's derivative) or "inward" (passed through where a gradient step
            moves the prediction back towards the band, so a rollout that saturated at the clamp
            can still be trained back).
        evaluation: "auto" (factored when the transition allows), "factored" or "plain".
        max_dense_params: largest D allowed for transition="dense".
        transition_input: what the transition reads (warp_phys/transition_inputs.py): "state"
            (default: x_t) or "moments" (x_t and the running means of its monomials of degree 2
            and 3 and of the path's area products: the least-squares statistics of a quadratic
            vector field, so the weights can estimate e.g. physical parameters from them) or
            "lstsq" (x_t and the coefficients of that running least-squares fit itself).
        ar_lags: p >= 1 adds a learned linear function of the last p inputs to every decoded
            mean (an AR(p) model inside the network, zero at initialisation;
            `warp_phys.lag_readout`); 0 (default): none. Not with ``hold_after_context``.
        ar_gate: with ``ar_lags``, the root network's raw outputs r reach the prior's decoder as
            gate * tanh(r), a learned gate (one per output) that starts at zero: the untrained model
            is the prior at zero plus the lag term (with the least-squares start of `reconstruct`
            and the ``none`` or ``increment`` prior, exactly the classical AR(p) fit), and on inputs
            outside the training range the network's correction stays bounded by |gate| per output.
            False (default): no gate.
        parameter_fit: with a fittable prior (grey box, quadratic field) and
            ``hold_after_context``, the outputs a forecast holds after the context (physical
            parameters, field coefficients) start from a least-squares fit to the context (`warp_phys.priors.parameter_fit`, detached); the root
            network's held raw outputs add a correction through a learned gate that starts at
            zero: held raw = fit + gate * network. The one-step predictions inside the context
            stay the network's own (causal). False (default): the network's values alone.
        seed: seed of the parameter initialisation.
    """

    def __init__(self, n_variables: int, *, width: int = 48, depth: int = 3, activation: str = "swish",
                 transition: str = "identity", rank: int = 4, transition_options: dict | None = None,
                 init_state: str = "hypernetwork",
                 output: str = "mean", std_floor: float = 1e-3, prev_obs_input: bool = False,
                 prior: Prior | None = None, bind_context: BindContext | None = None,
                 hold_after_context: bool | None = None, output_clip: float | None = None, clip_gradient: str = "zero",
                 evaluation: str = "auto", max_dense_params: int = 4096, transition_input: str = "state",
                 ar_lags: int = 0, ar_gate: bool = False, parameter_fit: bool = False,
                 seed: int = 0) -> None:
        super().__init__()
        d = check_int(n_variables, "n_variables", minimum=1)
        seed = check_seed(seed)
        get_activation(activation)
        transition = TRANSITIONS.resolve(transition)
        self.transition_input = check_transition_input(transition_input)
        for name, value, valid in (("output", output, OUTPUTS),
                                   ("init_state", init_state, INIT_STATES), ("evaluation", evaluation, EVALUATIONS)):
            if value not in valid:
                raise ValueError(f"unknown {name} {value!r}; choose one of {list(valid)}")
        if std_floor < 0:
            raise ValueError(f"std_floor must be >= 0, got {std_floor}")
        self.n_variables = d
        ctx = bind_context or BindContext(n_variables=d, dt=1.0, duration=1.0, scaler=Scaler.identity(d))
        if ctx.n_variables != d:
            raise ValueError(f"bind_context.n_variables={ctx.n_variables} but n_variables={d}; they must agree")
        self.prior = prior if prior is not None else Identity()
        self.prior.bind(ctx)
        self.bind_context = ctx
        self._custom_penalty = type(self.prior).penalty is not Prior.penalty
        self.n_prior_outputs = int(self.prior.n_outputs)
        if hold_after_context is not None and not isinstance(hold_after_context, bool):
            raise ValueError(f"hold_after_context must be True, False or None, got {hold_after_context!r}")
        self.output_clip, self.clip_gradient = check_output_clip(output_clip, clip_gradient)
        self.hold_after_context = (bool(self.prior.time_invariant) if hold_after_context is None
                                   else hold_after_context)
        self.ar_lags, self.ar_gate = check_ar_options(ar_lags, ar_gate, self.hold_after_context, self.prior.name)
        self.lag_readout = LagReadout(d, self.ar_lags) if self.ar_lags else None
        # the gate of the network's raw outputs: zero, so training starts at the AR term
        self.network_gate = nn.Parameter(torch.zeros(self.n_prior_outputs)) if ar_gate else None
        self.parameter_fit = check_parameter_fit(parameter_fit, self.prior, self.hold_after_context)
        # gate of the network's correction to the fitted parameters: zero, so training starts at the fit
        self.fit_gate = nn.Parameter(torch.zeros(self.n_prior_outputs)) if self.parameter_fit else None
        self.fit_cache = FitCache() if self.parameter_fit else None  # fits depend on data only, not weights
        self.output = output
        self.std_floor = float(std_floor)
        self.prev_obs_input = bool(prev_obs_input)
        n_out = self.n_prior_outputs + (d if output == "gaussian" else 0)
        self.root = RootNetwork(1 + (d if prev_obs_input else 0), n_out, width, depth, activation)
        D = self.root.size
        gen = torch.Generator().manual_seed(seed)
        theta_init = self.root.init_theta(gen)
        if init_state == "hypernetwork":
            self.initial: nn.Module = Hypernetwork(d, theta_init, activation=activation, generator=gen)
        else:
            self.initial = FreeInitialState(theta_init)
        self.transition = make_transition(transition, D, n_inputs(transition_input, d), rank=rank, max_dense_params=max_dense_params,
                                          generator=gen, options=transition_options)
        if evaluation == "factored" and not self.transition.factorable:
            raise ValueError(f"evaluation='factored' needs transition 'identity', 'lowrank' or 'subspace', "
                             f"not {transition!r}; use evaluation='auto' or 'plain'")
        self.evaluation = evaluation
        self.config: dict[str, Any] = {
            "n_variables": d, "width": int(width), "depth": int(depth), "activation": activation,
            "transition": transition, "rank": int(rank),
            "transition_options": _jsonable(dict(transition_options or {})), "init_state": init_state, "output": output,
            "std_floor": float(std_floor), "prev_obs_input": bool(prev_obs_input),
            "prior": prior_to_config(prior), "bind_context": bind_context_to_config(ctx),
            "hold_after_context": hold_after_context, "output_clip": self.output_clip,
            "clip_gradient": clip_gradient,
            "evaluation": evaluation, "max_dense_params": int(max_dense_params),
            "transition_input": transition_input, "ar_lags": self.ar_lags, "ar_gate": self.ar_gate,
            "parameter_fit": self.parameter_fit, "seed": seed,
        }

    # ------------------------------------------------------------------ helpers
    @property
    def weight_size(self) -> int:
        """D, the number of root-network weights (size of theta)."""
        return self.root.size

    @property
    def factored(self) -> bool:
        return self.transition.factorable and self.evaluation != "plain"

    def _dtype(self) -> torch.dtype:
        return self.transition.B.dtype

    def _check_x(self, x: torch.Tensor, name: str = "x") -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor of shape (batch, time, {self.n_variables}), "
                             f"got {type(x).__name__}")
        if x.dim() != 3:
            raise ValueError(f"{name} must have shape (batch, time, variables), got {tuple(x.shape)}; "
                             f"add a batch axis with x[None] for one trajectory")
        if x.shape[-1] != self.n_variables:
            raise ValueError(f"{name} has {x.shape[-1]} variables but the model was built for "
                             f"n_variables={self.n_variables}")
        if x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(f"{name} is empty: shape {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or inf; remove or interpolate those values first")
        return x.to(self._dtype())

    def _check_tau(self, tau: torch.Tensor, T: int, x: torch.Tensor) -> torch.Tensor:
        tau = torch.as_tensor(tau)
        if tau.dim() != 1 or tau.shape[0] != T:
            raise ValueError(f"tau must have shape ({T},) to match the {T} time steps of x, got {tuple(tau.shape)}")
        return tau.to(dtype=x.dtype, device=x.device)

    def read(self, x: torch.Tensor) -> torch.Tensor:
        """The transition's inputs (B, T, n) of x (B, T, d): x itself, or x and its running
        moments (``transition_input``, `warp_phys.transition_inputs`)."""
        return transition_features(self.transition_input, x)

    def previous(self, u: torch.Tensor) -> torch.Tensor:
        """z_prev of the inputs u (B, T, d): u_{t-1} (u_0 at t = 0), (B, T, d); with ``ar_lags`` = p
        the lags u_{t-1} .. u_{t-p}, (B, T, p * d), lag 1 first (`warp_phys.lag_readout.lag_stack`)."""
        return lag_stack(u, self.ar_lags) if self.ar_lags else torch.cat([u[:, :1], u[:, :-1]], dim=1)

    def _inputs(self, tau: torch.Tensor, z_prev: torch.Tensor) -> torch.Tensor:
        """Root inputs (B, T, n_in) from tau (T,) and the previous observation(s) z_prev (`previous`)."""
        tcol = tau.view(1, -1, 1).expand(z_prev.shape[0], -1, 1)
        return torch.cat([tcol, z_prev[..., : self.n_variables]], dim=-1) if self.prev_obs_input else tcol

    def _decode_mean(self, raw: torch.Tensor, tcol: torch.Tensor, z_prev: torch.Tensor) -> torch.Tensor:
        """The prior's decoded mean (..., d) plus the lag read-out (``ar_lags``), clamped by
        ``output_clip``; raw (..., n_prior_outputs), z_prev (`previous`)."""
        if self.network_gate is not None:  # ``ar_gate``: a bounded correction to the AR term
            raw = self.network_gate * torch.tanh(raw)
        mean = self.prior.decode(raw, tcol, z_prev[..., : self.n_variables])
        if self.lag_readout is not None:
            mean = mean + self.lag_readout(z_prev)
        if self.output_clip is not None:
            mean = clip_output(mean, self.output_clip, self.clip_gradient)
        return mean

    def _decode(self, raw: torch.Tensor, tau: torch.Tensor, z_prev: torch.Tensor) -> Prediction:
        tcol = tau.view(1, -1, 1).expand(z_prev.shape[0], -1, 1)
        mean = self._decode_mean(raw[..., : self.n_prior_outputs], tcol, z_prev)
        std = None
        if self.output == "gaussian":
            std = F.softplus(raw[..., self.n_prior_outputs:]) + self.std_floor
        return Prediction(mean, std)

    def _raw_parallel(self, x: torch.Tensor, tau: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced raw root outputs (B, T, n_out) and z_prev (`previous`)."""
        z_prev = self.previous(x)
        inputs = self._inputs(tau, z_prev)
        theta0 = self.initial(x[:, 0])
        if self.factored:
            coeff = self.transition.coefficients(theta0, self.read(x))
            coeff = torch.cat([coeff[:, :1], coeff[:, :-1]], dim=1)  # weights theta_{t-1}
            raw = self.root.evaluate_factored(theta0, self.transition.basis(), coeff, inputs)
        else:
            thetas = self.transition.trajectory(theta0, self.read(x))
            thetas = torch.cat([thetas[:, :1], thetas[:, :-1]], dim=1)
            raw = self.root.evaluate(thetas, inputs)
        return raw, z_prev

    def rollout(self, x: torch.Tensor, tau: torch.Tensor, force: torch.Tensor, *, freeze_recurrence: bool = False,
                noise: torch.Tensor | None = None, first_output: int = 0, sample: bool = False) -> Prediction:
        """Sequential run (differentiable): the input at step t is x[:, t] where force[:, t], else
        the model's own mean prediction of step t (plus noise[:, t] when given; times the predicted
        std with ``sample=True``: a draw from the predictive Gaussian). x (B, T, d), tau (T,),
        force (B, T) bool, or (B, T, d) to force some channels only (known inputs), noise (B, T, d)
        or None -> (B, T, d); steps first_output .. T - 1 only (steps 1 .. first_output - 1 forced):
        (B, T - first_output, d). See warp_phys/rollout.py."""
        return sequential_rollout(self, x, tau, force, freeze_recurrence=freeze_recurrence, noise=noise,
                                  first_output=first_output, sample=sample)

    def feedback_rollout(self, x: torch.Tensor, tau: torch.Tensor, force: torch.Tensor, *, passes: int,
                         detach: bool = True, noise: torch.Tensor | None = None) -> Prediction:
        """`rollout` by ``passes`` parallel feedback passes after a teacher-forced one: steps
        0 .. passes + 1 equal `rollout`, all of them when passes >= T - 2 (warp_phys/rollout.py).
        ``detach``: no gradient through the fed-back predictions (earlier passes without autograd)."""
        return feedback_rollout(self, x, tau, force, passes=passes, detach=detach, noise=noise)

    # ------------------------------------------------------------------ public API
    def forward(self, x: torch.Tensor, tau: torch.Tensor, *, p_force: float = 1.0,
                generator: torch.Generator | None = None, feedback_passes: int | None = None,
                detach_feedback: bool = True, noise_std: float = 0.0) -> Prediction:
        """One-step predictions (B, T, d) for x (B, T, d) at normalised times tau (T,).

        p_force = 1: teacher forced, all steps in parallel. p_force < 1: autoregressive; the
        input at each step is the truth with probability p_force (drawn per trajectory and
        step from ``generator``), else the model's own prediction (differentiable), plus
        Gaussian noise of std ``noise_std`` (normalised units, drawn from ``generator`` after
        the choice of steps; nothing is fed back at p_force = 1, so it has no effect there).
        ``feedback_passes``: None runs the sequential `rollout`; K >= 1 runs `feedback_rollout`
        with K parallel passes (exact on steps 0 .. K + 1), ``detach_feedback`` as its ``detach``.
        """
        x = self._check_x(x)
        tau = self._check_tau(tau, x.shape[1], x)
        if not 0.0 <= p_force <= 1.0:
            raise ValueError(f"p_force must be in [0, 1], got {p_force}")
        check_feedback_options(feedback_passes, detach_feedback, noise_std)
        if p_force >= 1.0:
            raw, z_prev = self._raw_parallel(x, tau)
            return self._decode(raw, tau, z_prev)
        dev = generator.device if generator is not None else x.device
        force = torch.rand(x.shape[0], x.shape[1], generator=generator, device=dev).to(x.device) < p_force
        noise = draw_noise(x, noise_std, generator)
        if feedback_passes is None:
            return self.rollout(x, tau, force, noise=noise)
        return self.feedback_rollout(x, tau, force, passes=feedback_passes, detach=detach_feedback, noise=noise)

    def _held_forecast(self, x_ctx: torch.Tensor, tau: torch.Tensor, horizon: int) -> Prediction:
        """The context's one-step predictions, then ``horizon`` steps with the prior's outputs held
        (`warp_phys.held_forecast.held_forecast`). Differentiable. (B, n_ctx + horizon, d)."""
        return held_forecast(self, x_ctx, tau, horizon)

    @torch.no_grad()
    def held_parameters(self, x_ctx: torch.Tensor, tau: torch.Tensor) -> dict[str, torch.Tensor]:
        """The prior's named quantities {name: (B,)} that a forecast from the context x_ctx
        (B, n_ctx, d) holds after it (tau (T,), T > n_ctx): e.g. the grey box's physical
        parameters used for every forecast step. Needs ``hold_after_context``."""
        return held_parameters(self, *self._check_context(x_ctx, tau))

    def _check_context(self, x_ctx: torch.Tensor, tau: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x_ctx = self._check_x(x_ctx, "x_ctx")
        tau = torch.as_tensor(tau)
        if tau.dim() != 1:
            raise ValueError(f"tau must be 1-D (T,), got shape {tuple(tau.shape)}")
        if x_ctx.shape[1] > tau.shape[0]:
            raise ValueError(f"context length {x_ctx.shape[1]} is longer than the {tau.shape[0]} requested steps; "
                             f"pass a tau with at least {x_ctx.shape[1]} entries or a shorter context")
        return x_ctx, tau.to(dtype=x_ctx.dtype, device=x_ctx.device)

    def prefit_contexts(self, x_ctx: torch.Tensor, tau_ctx: torch.Tensor) -> None:
        """With ``parameter_fit``: fit the contexts x_ctx (N, n_ctx, d) at tau_ctx (n_ctx,) now,
        in large batches, for later forecasts (`warp_phys.held_forecast.prefit_contexts`)."""
        prefit_contexts(self, x_ctx, tau_ctx)

    def context_forecast(self, x_ctx: torch.Tensor, tau: torch.Tensor) -> Prediction:
        """Differentiable `forecast` (for training on the forecast error): the same numbers,
        with gradients. x_ctx (B, n_ctx, d), tau (T,) -> (B, T, d)."""
        x_ctx, tau = self._check_context(x_ctx, tau)
        if self.hold_after_context:
            return self._held_forecast(x_ctx, tau, tau.shape[0] - x_ctx.shape[1])
        return rollout_from_context(self, x_ctx, tau)

    def forecast_after(self, x: torch.Tensor, tau: torch.Tensor, n_ctx: int, *, grad: bool = False) -> Prediction:
        """The forecast from the context x[:, :n_ctx] (x (B, T', d)) over steps n_ctx .. len(tau) - 1
        only, (B, len(tau) - n_ctx, d): those steps of `forecast` (``grad=False``) or
        `context_forecast` (``grad=True``), without the context's one-step predictions
        (`warp_phys.rollout.forecast_steps`)."""
        return forecast_steps(self, x, tau, n_ctx, grad=grad)

    @torch.no_grad()
    def forecast(self, x_ctx: torch.Tensor, tau: torch.Tensor, *, freeze_recurrence: bool = False) -> Prediction:
        """Read the context x_ctx (B, n_ctx, d), then roll out on its own predictions to
        len(tau) steps; O(T), no gradient. Returns (B, T, d) (steps < n_ctx are one-step
        predictions). With ``hold_after_context`` the prior's raw outputs (e.g. the grey
        box's physical parameters) stay at their values after the context.
        ``freeze_recurrence=True`` keeps theta at theta_0 and holds nothing (for ablations)."""
        x_ctx, tau = self._check_context(x_ctx, tau)
        if not freeze_recurrence:
            return self.context_forecast(x_ctx, tau)
        return rollout_from_context(self, x_ctx, tau, freeze_recurrence=True)

    def penalty(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """The prior's extra loss term; ``root_mean(tau_q)`` evaluates the teacher-forced
        decoded mean (B, T, d) with weights theta_{t-1} at times tau_q (T,)."""
        if not self._custom_penalty:
            return torch.zeros((), device=x.device)
        x = self._check_x(x)
        tau = self._check_tau(tau, x.shape[1], x)

        def root_mean(tau_q: torch.Tensor) -> torch.Tensor:
            tau_q = self._check_tau(tau_q, x.shape[1], x)
            raw, z_prev = self._raw_parallel(x, tau_q)
            return self._decode(raw, tau_q, z_prev).mean

        return self.prior.penalty(root_mean, tau)

    @torch.no_grad()
    def weights(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """Materialised weight trajectories theta_t (B, T, D), theta_t having read x_0..x_t."""
        x = self._check_x(x)
        self._check_tau(tau, x.shape[1], x)
        return self.transition.trajectory(self.initial(x[:, 0]), self.read(x))

    @torch.no_grad()
    def interpret(self, x: torch.Tensor, tau: torch.Tensor) -> dict[str, torch.Tensor]:
        """The prior's named quantities (each (B, T, ...)) from the teacher-forced raw outputs."""
        x = self._check_x(x)
        tau = self._check_tau(tau, x.shape[1], x)
        raw, _ = self._raw_parallel(x, tau)
        return self.prior.interpret(raw[..., : self.n_prior_outputs])

    def extra_repr(self) -> str:
        c = self.config
        return (f"d={c['n_variables']}, D={self.weight_size}, transition={c['transition']}, "
                f"width={c['width']}, depth={c['depth']}, output={c['output']}, prior={self.prior.name}")


__all__ = ["WARP", "bind_context_to_config", "prior_to_config"]
