"""Quadratic vector field: the root network emits the coefficients of a polynomial vector field of
degree <= 2 in the state, and one RK4 step of that field advances the previous state.

    dz/dt = phi(z) W,   phi(z) = [1, z_0 .. z_{d-1}, z_i z_j (i <= j)]   (L = 1 + d + C(d+1, 2) terms)
    W (L, d) = gain * raw / dt                                            (normalised units per time unit)

No equations are known, only their class: every quadratic system (Lorenz-63, Lotka-Volterra, a
linear oscillator, ...) is a member, whatever its parameters. An affine change of units keeps a
field quadratic, so the field is written in the model's normalised units. The coefficients are
constant along a trajectory (``time_invariant``): a forecast holds those read from the context,
and with ``parameter_fit=True`` they start from the least-squares fit of the field to the context
(`warp_phys.priors.parameter_fit`) plus a gated network correction, as for the grey box.

With the default ``gain`` (1 / AREA_SCALE) the raw outputs are in the units of the coefficients
that the ``"lstsq"`` transition input reads (`warp_phys.transition_inputs`: c = AREA_SCALE dt W),
so a root network that emits the running fit needs the identity map of what the weights read.
A quadratic field can blow up in finite time (e.g. one fitted to a noisy context: its many free
coefficients pick up spurious terms, so this prior wants clean contexts), so a forecast far past
the context wants WARP's ``output_clip``, which keeps every predicted state finite.
Shapes: raw (..., L d) in (term, variable) order; tau (..., 1); z_prev (..., d); returns (..., d).
"""
from __future__ import annotations

import itertools
import math

import torch

from warp_phys.systems.integrators import rk4_step
from warp_phys.transition_inputs import AREA_SCALE, features, library

from .base import BindContext, Prior, check_context


def term_names(d: int) -> list[str]:
    """Names of the L terms of phi(z) for d variables: "1", "z0", ..., "z0z1", ... (library order)."""
    pairs = itertools.combinations_with_replacement(range(d), 2)
    return ["1"] + [f"z{i}" for i in range(d)] + [f"z{i}z{j}" for i, j in pairs]


class QuadraticField(Prior):
    """raw (..., L d) -> coefficients W (..., L, d) -> one RK4 step of dz/dt = phi(z) W.

    Options: ``gain`` (W = gain raw / dt; default 1 / AREA_SCALE = 0.1, so raw = 1 on the constant
    term moves the state by about 0.1 normalised units per step, as the increment prior does),
    ``substeps`` (RK4 sub-steps per sampling interval), ``fit_iterations`` (with ``parameter_fit``:
    the Levenberg-Marquardt steps of the one-step RK4 fit that refine the closed-form Simpson fit,
    `initial_raw`; 0 keeps the Simpson fit, which is the more robust of the two on noisy contexts).
    """

    name = "quadratic"
    description = "the root network emits the coefficients of a quadratic vector field; one RK4 step"
    uses_previous_state = True
    time_invariant = True  # one trajectory, one vector field
    fittable = True

    def __init__(self, gain: float = 1.0 / AREA_SCALE, substeps: int = 1, fit_iterations: int = 5) -> None:
        super().__init__()
        if not (isinstance(gain, (int, float)) and not isinstance(gain, bool) and math.isfinite(gain) and gain > 0):
            raise ValueError(f"quadratic: gain must be a positive number, got {gain!r}")
        if isinstance(substeps, bool) or not isinstance(substeps, int) or substeps < 1:
            raise ValueError(f"quadratic: substeps must be an integer >= 1, got {substeps!r}")
        if isinstance(fit_iterations, bool) or not isinstance(fit_iterations, int) or fit_iterations < 0:
            raise ValueError(f"quadratic: fit_iterations must be an integer >= 0, got {fit_iterations!r}")
        self.gain, self.substeps, self.fit_iterations = float(gain), substeps, fit_iterations
        self.options = {"gain": self.gain, "substeps": substeps, "fit_iterations": fit_iterations}
        self.terms: list[str] = []  # names of the L terms, set at bind

    def bind(self, ctx: BindContext) -> None:
        check_context(ctx, self.name)
        self.ctx = ctx
        self.terms = term_names(ctx.n_variables)

    @property
    def n_outputs(self) -> int:
        d = self._bound().n_variables
        return len(self.terms) * d

    def coefficients(self, raw: torch.Tensor) -> torch.Tensor:
        """W (..., L, d): the field's coefficients in normalised units per time unit."""
        ctx = self._bound()
        if raw.shape[-1] != self.n_outputs:
            raise ValueError(f"prior {self.name!r} expects {self.n_outputs} raw outputs "
                             f"({len(self.terms)} terms x {ctx.n_variables} variables), got {raw.shape[-1]}")
        return raw.unflatten(-1, (len(self.terms), ctx.n_variables)) * (self.gain / ctx.dt)

    def decode(self, raw: torch.Tensor, tau: torch.Tensor, z_prev: torch.Tensor) -> torch.Tensor:
        W = self.coefficients(raw)
        field = lambda t, z: (library(z).unsqueeze(-2) @ W).squeeze(-2)  # noqa: E731
        return rk4_step(field, 0.0, z_prev, self._bound().dt, self.substeps)

    def initial_raw(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """The least-squares fit of the field to x (B, T, d) in Simpson's integral form (the
        ``"lstsq"`` transition input's coefficients after the last step), as raw (B, L d): where
        the one-step fit of ``parameter_fit`` starts."""
        coef = features("lstsq", x)[:, -1, x.shape[-1]:]
        return coef / (AREA_SCALE * self.gain)

    def interpret(self, raw: torch.Tensor) -> dict[str, torch.Tensor]:
        """{"dz{j}dt_{term}": (...,) coefficient} in normalised units per time unit (names that
        NetCDF accepts: "dz0dt_z1" is the coefficient of z1 in dz0/dt)."""
        W = self.coefficients(raw)
        return {f"dz{j}dt_{term}": W[..., i, j] for i, term in enumerate(self.terms)
                for j in range(W.shape[-1])}


__all__ = ["QuadraticField", "term_names"]
