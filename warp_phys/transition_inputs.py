"""What WARP's transition reads: the state itself, or the state and its running moments.

The weights evolve as theta_t = A theta_{t-1} + B (r_t - r_{t-1}), where r_t is the
transition input of step t (warp_phys/model.py, ``transition_input``):

* ``"state"`` (default): r_t = x_t. theta_t is then a linear function of the trajectory.
* ``"moments"``: r_t = [x_t, m_t], where m_t is the running mean over steps s <= t of the
  monomials of degree 2 and 3 of x_s and of the products x_{i,s-1} (x_{j,s} - x_{j,s-1})
  (the signed areas of the path; 0 at s = 0), the area terms multiplied by ``AREA_SCALE``.
  These running means are the sufficient statistics of a least-squares fit of a polynomial
  vector field of degree <= 2 (Lorenz-63, Lotka-Volterra, a linear oscillator) to the
  trajectory read so far, so the weights, and through them the root network's outputs (e.g.
  the grey box's physical parameters), can depend on them. A linear read of x alone gives the
  weights only linear functionals of the path.

Shapes: x (B, T, d) in normalised units; r (B, T, n_inputs(d)). Both forms are causal and
agree: `features` (parallel) equals the step-by-step `MomentReader` (the sequential rollout).
"""
from __future__ import annotations

import itertools
from typing import Any

import torch

TRANSITION_INPUTS = ("state", "moments")
#: Factor of the area terms x_{i,t-1} dx_{j,t}: per step they are ~dt times smaller than the
#: other monomials of normalised states; the factor brings them to a comparable size at the
#: 100-400 steps per trajectory of the package's recipes.
AREA_SCALE = 10.0


def check_transition_input(kind: Any) -> str:
    """``kind`` if it names a transition input, else ValueError listing the valid ones."""
    if kind not in TRANSITION_INPUTS:
        raise ValueError(f"unknown transition_input {kind!r}; choose one of {list(TRANSITION_INPUTS)}")
    return kind


def n_inputs(kind: str, d: int) -> int:
    """The width of the transition input for d state variables: d ("state"), or d plus
    C(d+1, 2) + C(d+2, 3) monomials and d^2 area products ("moments"; 28 for d = 3)."""
    if kind == "state":
        return d
    return d + len(_pairs(d)) + len(_triples(d)) + d * d


def _pairs(d: int) -> list[tuple[int, int]]:
    return list(itertools.combinations_with_replacement(range(d), 2))


def _triples(d: int) -> list[tuple[int, int, int]]:
    return list(itertools.combinations_with_replacement(range(d), 3))


def step_terms(x_prev: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The per-step terms (..., F) whose running mean is m_t: monomials of x (..., d) of degree
    2 and 3, then the area products x_prev_i (x_j - x_prev_j) * AREA_SCALE (i, j = 0..d-1)."""
    d = x.shape[-1]
    quad = [x[..., i] * x[..., j] for i, j in _pairs(d)]
    cubic = [x[..., i] * x[..., j] * x[..., k] for i, j, k in _triples(d)]
    dx = x - x_prev
    area = [x_prev[..., i] * dx[..., j] * AREA_SCALE for i in range(d) for j in range(d)]
    return torch.stack(quad + cubic + area, dim=-1)


def features(kind: str, x: torch.Tensor) -> torch.Tensor:
    """The transition inputs r (B, T, n_inputs) of the whole sequence x (B, T, d), in parallel."""
    if kind == "state":
        return x
    x_prev = torch.cat([x[:, :1], x[:, :-1]], dim=1)  # step 0: no area (dx = 0)
    count = torch.arange(1, x.shape[1] + 1, dtype=x.dtype, device=x.device).view(1, -1, 1)
    return torch.cat([x, torch.cumsum(step_terms(x_prev, x), dim=1) / count], dim=-1)


class MomentReader:
    """The same inputs one step at a time (the sequential rollout): `start` with x_0, then
    `step` with each next input x_t; each returns r_t (B, n_inputs)."""

    def __init__(self, kind: str) -> None:
        self.kind = check_transition_input(kind)
        self._sum: torch.Tensor | None = None
        self._prev: torch.Tensor | None = None
        self._count = 0

    def start(self, x0: torch.Tensor) -> torch.Tensor:
        """r_0 from x_0 (B, d)."""
        if self.kind == "state":
            return x0
        self._sum, self._prev, self._count = step_terms(x0, x0), x0, 1
        return torch.cat([x0, self._sum], dim=-1)

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """r_t from the next input x_t (B, d)."""
        if self.kind == "state":
            return x
        if self._sum is None:
            raise RuntimeError("MomentReader.step before start")
        self._sum = self._sum + step_terms(self._prev, x)
        self._prev, self._count = x, self._count + 1
        return torch.cat([x, self._sum / self._count], dim=-1)


__all__ = ["AREA_SCALE", "MomentReader", "TRANSITION_INPUTS", "check_transition_input", "features", "n_inputs",
           "step_terms"]
