"""Soft physics: a black-box decode plus an ODE-residual penalty (derivative by autograd in tau)."""
from __future__ import annotations

from typing import Callable, Mapping

import torch

from .base import BindContext, Prior, require_ode_system
from .grey_box import parameter_vector


def time_derivative(fn: Callable[[torch.Tensor], torch.Tensor], tau: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Evaluate ``y = fn(tau)`` and its derivative ``dy/dtau`` (same shape as y), differentiably.

    Each output element may depend on one element of ``tau`` through broadcasting (e.g. tau
    (T, 1) shared by a batch (B, T, d)); the derivative is the forward-mode product
    J @ 1, obtained by two reverse passes (the double-vjp trick), so no assumption on the
    layout of ``fn`` is needed.
    """
    with torch.enable_grad():
        tau = tau.detach().requires_grad_(True)
        y = fn(tau)
        v = torch.zeros_like(y, requires_grad=True)
        (g,) = torch.autograd.grad(y, tau, grad_outputs=v, create_graph=True, allow_unused=True)
        if g is None:  # y does not depend on tau
            return y, torch.zeros_like(y)
        (dy,) = torch.autograd.grad(g, v, grad_outputs=torch.ones_like(g), create_graph=True, allow_unused=True)
        return y, (torch.zeros_like(y) if dy is None else dy)


class Residual(Prior):
    """The root network outputs the (normalised) state; the penalty is

        weight * mean( (dz/dtau - duration * f(t, x) / scale)^2 ),   x = scale * z + loc,

    i.e. the ODE residual ``dx/dt - f(x)`` made dimensionless by ``scale / duration``
    (normalised units per unit of tau); ``t = tau * duration``. ``f`` is the system's RHS
    with ``params`` ({name: value}) over the system's current values.
    """

    name = "residual"
    description = "black-box output plus a soft penalty on the ODE residual (autograd in tau)"

    def __init__(self, weight: float = 1.0, params: Mapping[str, float] | None = None) -> None:
        super().__init__()
        if not (isinstance(weight, (int, float)) and weight >= 0):
            raise ValueError(f"weight must be a number >= 0, got {weight!r}")
        self.weight = float(weight)
        self.params = {str(k): float(v) for k, v in (params or {}).items()}
        self.options = {"weight": self.weight, "params": self.params}

    def bind(self, ctx: BindContext) -> None:
        self.system = require_ode_system(ctx, self.name)
        self._p = parameter_vector(self.system, self.params)
        self.ctx = ctx

    @property
    def n_outputs(self) -> int:
        return self._bound().n_variables

    def decode(self, raw: torch.Tensor, tau: torch.Tensor, z_prev: torch.Tensor) -> torch.Tensor:
        return raw

    def residual(self, root_mean: Callable[[torch.Tensor], torch.Tensor], tau: torch.Tensor) -> torch.Tensor:
        """Dimensionless residual (..., d) at the times ``tau`` (see the class docstring)."""
        ctx = self._bound()
        z, dz = time_derivative(root_mean, tau)
        x = ctx.scaler.denormalise(z)
        t = (tau[..., 0] if tau.dim() > 0 and tau.shape[-1] == 1 else tau) * ctx.duration
        f = self.system.rhs(t.to(x), x, self._p.to(x))
        return dz - ctx.duration * f / ctx.scaler.scale.to(x)

    def penalty(self, root_mean: Callable[[torch.Tensor], torch.Tensor], tau: torch.Tensor) -> torch.Tensor:
        if self.weight == 0:
            return torch.zeros((), device=tau.device)
        return self.weight * self.residual(root_mean, tau).pow(2).mean()
