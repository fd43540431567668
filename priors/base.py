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
from typing import Callable, ClassVar

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

    def __init__(self) -> None:
        super().__init__()
        self.ctx: BindContext | None = None

    def bind(self, ctx: BindContext) -> None:
        """Validate against the problem (raise ValueError naming the mismatch) and store it."""
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
        assert self.ctx is not None, "bind() first"
        return self.ctx.n_variables

    def decode(self, raw: torch.Tensor, tau: torch.Tensor, z_prev: torch.Tensor) -> torch.Tensor:
        return raw
