"""The `Prior` contract: what the raw outputs of the root network mean.

A WARP model evaluates its root network at every step and obtains ``raw`` outputs;
the prior turns them into the model's one-step prediction of the state. The model
works in *normalised* units (z = (x - loc) / scale, per variable); a prior that needs
physical units (the grey-box RK4 step, a known right-hand side) converts with the
`Scaler` it receives at ``bind``.

Shapes:
    raw    : (..., n_outputs)  root-network outputs
    tau    : (..., 1)          normalised time of the *predicted* step, tau = t / (T - 1)
    z_prev : (..., d)          previous state (normalised units), the step being advanced from
    return : (..., d)          predicted state (normalised units)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable

import torch
from torch import nn

from warp_phys.scaling import Scaler


@dataclass
class BindContext:
    """What a prior learns about the problem when a model is built.

    ``dt``: sampling interval in the system's time units; ``duration``: t_{T-1} - t_0
    (so d/dt = (1/duration) d/dtau); ``system``: the `System`, or None for user data.
    """

    n_variables: int
    dt: float
    duration: float
    scaler: Scaler
    system: object | None = None


class Prior(nn.Module):
    """Base class. Subclasses set ``name`` and implement ``n_outputs`` and ``decode``.

    Priors are nn.Modules so that a hybrid prior can own learnable parameters; they
    are created unbound (``get(name, **options)``) and bound once by the model.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    uses_previous_state: ClassVar[bool] = False  # decode reads z_prev
    # The raw outputs are constant along a trajectory (e.g. physical parameters): a WARP
    # model then holds them at their last-context values during a forecast by default.
    time_invariant: ClassVar[bool] = False
    # The raw outputs can be fitted to a context by least squares (``parameter_fit``): decode
    # depends on raw through a small set of constant quantities (physical parameters, coefficients).
    fittable: ClassVar[bool] = False
    fit_iterations: int = 30  # Levenberg-Marquardt steps of that fit (a prior may make it an option)

    def initial_raw(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """Where the least-squares fit to x (B, T, d) at times tau (T,) starts: raw (B, n_outputs),
        zeros unless a prior knows better (e.g. a closed-form estimate)."""
        return x.new_zeros(x.shape[0], self.n_outputs)

    def __init__(self) -> None:
        super().__init__()
        self.ctx: BindContext | None = None
        # The JSON-able keyword arguments the prior was built with: ``get(name, **options)``
        # rebuilds an identical (unbound) prior, e.g. from a checkpoint.
        self.options: dict = {}

    def _bound(self) -> BindContext:
        """The bound context; raises a clear error when ``bind`` has not been called."""
        if self.ctx is None:
            raise RuntimeError(f"prior {self.name!r} is not bound: call prior.bind(BindContext(...)) first")
        return self.ctx

    def bind(self, ctx: BindContext) -> None:
        """Validate against the problem (raise ValueError naming the mismatch) and store it."""
        check_context(ctx, self.name)
        self.ctx = ctx

    @property
    def n_outputs(self) -> int:
        """Number of raw outputs the root network must emit (after ``bind``)."""
        raise NotImplementedError

    def decode(self, raw: torch.Tensor, tau: torch.Tensor, z_prev: torch.Tensor) -> torch.Tensor:
        """Map raw root outputs to the predicted state (normalised units), shape (..., d)."""
        raise NotImplementedError

    def penalty(self, root_mean: Callable[[torch.Tensor], torch.Tensor], tau: torch.Tensor) -> torch.Tensor:
        """Optional extra loss term (scalar). ``root_mean(tau)`` evaluates the decoded mean
        at the given normalised times with the current weights, differentiably in tau."""
        return torch.zeros((), device=tau.device)

    def interpret(self, raw: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named physical quantities read off the raw outputs (e.g. grey_box parameters)."""
        return {}


class Identity(Prior):
    """No prior: the root network emits the state directly (black-box WARP)."""

    name = "none"
    description = "black-box: the root network outputs the state"

    @property
    def n_outputs(self) -> int:
        return self._bound().n_variables

    def decode(self, raw: torch.Tensor, tau: torch.Tensor, z_prev: torch.Tensor) -> torch.Tensor:
        return raw


# ---- helpers shared by the priors ---------------------------------------------------
def roll_out(decode: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor], raw: torch.Tensor,
             tau: torch.Tensor, z_prev: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
    """Advance a state with the raw outputs held fixed (a time-invariant prior's forecast):
    ``decode(raw, tau, z_prev)`` is a prior's `Prior.decode` (or a wrapper of it), raw
    (B, 1, n_outputs), tau (n,) the normalised times of the n predicted steps, z_prev (B, 1, d)
    the state before the first. Returns (B, n, d); each step is decoded from the previous
    prediction, plus noise[:, k] (B, n, d) when given (the returned steps are without it: a
    sampled path's predictions). Differentiable."""
    z, steps = z_prev, []
    for k in range(tau.shape[0]):
        pred = decode(raw, tau[k:k + 1].view(1, 1, 1).expand(z.shape[0], 1, 1), z)
        steps.append(pred)
        z = pred if noise is None else pred + noise[:, k:k + 1]
    return torch.cat(steps, dim=1) if steps else z_prev[:, :0]


def check_context(ctx: BindContext, prior: str) -> None:
    """Basic sanity of a BindContext (positive sizes and times, scaler of length d)."""
    if ctx.n_variables < 1:
        raise ValueError(f"prior {prior!r}: n_variables must be >= 1, got {ctx.n_variables}")
    if not (ctx.dt > 0 and ctx.duration > 0):
        raise ValueError(f"prior {prior!r}: dt and duration must be > 0, got dt={ctx.dt}, duration={ctx.duration}")
    for name in ("loc", "scale"):
        n = getattr(ctx.scaler, name).numel()
        if n != ctx.n_variables:
            raise ValueError(f"prior {prior!r}: scaler.{name} has {n} entries but the data has "
                             f"{ctx.n_variables} variables; build the Scaler from the same data")


def require_ode_system(ctx: BindContext, prior: str) -> Any:
    """Return ``ctx.system`` after checking it is an ODE system matching the data dimension."""
    check_context(ctx, prior)
    system = ctx.system
    if system is None:
        raise ValueError(f"prior {prior!r} needs the system's right-hand side, but no system was given "
                         f"(user data); pass system=... or choose a prior that needs no system "
                         f"(e.g. 'none', 'positive', 'bounded', 'sinusoid')")
    kind = getattr(system, "kind", "ode")
    if kind != "ode":
        raise ValueError(f"prior {prior!r} works on ODE systems only; system "
                         f"{getattr(system, 'name', system)!r} is of kind {kind!r}")
    if system.n_variables != ctx.n_variables:
        raise ValueError(f"prior {prior!r}: system {system.name!r} has {system.n_variables} variables "
                         f"{system.variable_names} but the data has {ctx.n_variables}")
    return system


def variable_indices(ctx: BindContext, variables: Iterable[str | int] | None, prior: str) -> list[int]:
    """Resolve ``variables`` (None = all; names or integer indices) to sorted unique indices."""
    d = ctx.n_variables
    if variables is None:
        return list(range(d))
    names = list(ctx.system.variable_names) if ctx.system is not None else None
    out = []
    for v in variables:
        if isinstance(v, str):
            if names is None:
                raise ValueError(f"prior {prior!r}: variable {v!r} named but no system gives variable "
                                 f"names; use integer indices 0..{d - 1}")
            if v not in names:
                raise ValueError(f"prior {prior!r}: unknown variable {v!r}; valid: {names}")
            out.append(names.index(v))
        else:
            i = int(v)
            if not 0 <= i < d:
                raise ValueError(f"prior {prior!r}: variable index {i} out of range 0..{d - 1}")
            out.append(i)
    return sorted(set(out))
