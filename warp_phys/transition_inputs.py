"""What WARP's transition reads: the state itself, the state and its running moments, or the
state and the running least-squares fit of a quadratic vector field.

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

* ``"lstsq"``: r_t = [x_t, c_t], where c_t (L d,) are the coefficients of the running ridge
  least-squares fit, over steps s <= t, of the increments AREA_SCALE (x_s - x_{s-1}) on the
  library phi(x_{s-1}) = [1, x, monomials of degree 2] (L = 1 + d + C(d+1, 2)): the fit of a
  quadratic vector field itself, where ``"moments"`` gives its statistics. Its coefficients are
  (up to the discretisation, O(dt)) linear in the physical parameters of a polynomial system
  (k/m and c/m of a spring, sigma, rho, beta of Lorenz-63), so a root network that emits those
  parameters (the grey box) needs only a near-linear map of what the weights read, not a ratio
  of moments (benchmarks/README.md, "Paper-table settings", compares the two).
  The normal equations (of steps 1..t; step 0 has no increment) carry a ridge ``LSTSQ_RIDGE``
  times their mean diagonal (plus 1e-8), so the first steps, fewer than L, give finite
  coefficients (0 at step 0).

Shapes: x (B, T, d) in normalised units; r (B, T, n_inputs(d)). Both forms are causal and
agree: `features` (parallel) equals the step-by-step `MomentReader` (the sequential rollout).
"""
from __future__ import annotations

import itertools
from typing import Any

import torch

TRANSITION_INPUTS = ("state", "moments", "lstsq")
#: Factor of the area terms x_{i,t-1} dx_{j,t}: per step they are ~dt times smaller than the
#: other monomials of normalised states; the factor brings them to a comparable size at the
#: 100-400 steps per trajectory of the package's recipes.
AREA_SCALE = 10.0
#: Ridge of the running least-squares fit (``"lstsq"``), relative to the mean diagonal of its
#: normal matrix: its bias on the coefficients is of this relative order on a well-excited path.
LSTSQ_RIDGE = 1e-6


def check_transition_input(kind: Any) -> str:
    """``kind`` if it names a transition input, else ValueError listing the valid ones."""
    if kind not in TRANSITION_INPUTS:
        raise ValueError(f"unknown transition_input {kind!r}; choose one of {list(TRANSITION_INPUTS)}")
    return kind


def n_inputs(kind: str, d: int) -> int:
    """The width of the transition input for d state variables: d ("state"), d plus
    C(d+1, 2) + C(d+2, 3) monomials and d^2 area products ("moments"; 28 for d = 3), or d plus
    L d least-squares coefficients, L = 1 + d + C(d+1, 2) ("lstsq"; 33 for d = 3)."""
    if kind == "state":
        return d
    if kind == "lstsq":
        return d + _library_size(d) * d
    return d + len(_pairs(d)) + len(_triples(d)) + d * d


def _library_size(d: int) -> int:
    return 1 + d + len(_pairs(d))


def library(x: torch.Tensor) -> torch.Tensor:
    """phi(x) (..., L): [1, x_0 .. x_{d-1}, x_i x_j (i <= j)], the terms of a quadratic vector field."""
    d = x.shape[-1]
    quad = [x[..., i] * x[..., j] for i, j in _pairs(d)]
    return torch.cat([torch.ones_like(x[..., :1]), x, torch.stack(quad, dim=-1)], dim=-1)


def lstsq_terms(x_prev: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One step's contributions (phi phi^T (..., L, L), phi dx^T (..., L, d)) to the normal
    equations of the ``"lstsq"`` fit, phi = library(x_prev), dx = AREA_SCALE (x - x_prev)."""
    phi = library(x_prev)
    dx = (x - x_prev) * AREA_SCALE
    return phi.unsqueeze(-1) * phi.unsqueeze(-2), phi.unsqueeze(-1) * dx.unsqueeze(-2)


def solve_normal(gram: torch.Tensor, cross: torch.Tensor) -> torch.Tensor:
    """Ridge solution (..., L d) of gram (..., L, L) c = cross (..., L, d) (see `LSTSQ_RIDGE`),
    solved in float64 (except on MPS, which has none) and returned in gram's dtype."""
    L, dtype = gram.shape[-1], gram.dtype
    if gram.device.type != "mps":
        gram, cross = gram.double(), cross.double()
    scale = gram.diagonal(dim1=-2, dim2=-1).mean(-1)[..., None, None]
    eye = torch.eye(L, dtype=gram.dtype, device=gram.device)
    coef = torch.linalg.solve(gram + (LSTSQ_RIDGE * scale + 1e-8) * eye, cross)
    return coef.flatten(-2).to(dtype)


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
    if kind == "lstsq":
        gram, cross = lstsq_terms(x_prev, x)
        first = torch.ones_like(x[:, :, :1, None])
        first[:, 0] = 0.0  # step 0 has no increment: it adds nothing to the fit
        gram, cross = gram * first, cross * first
        return torch.cat([x, solve_normal(torch.cumsum(gram, dim=1), torch.cumsum(cross, dim=1))], dim=-1)
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
        if self.kind == "lstsq":
            self._sum, self._prev = tuple(torch.zeros_like(a) for a in lstsq_terms(x0, x0)), x0
            return torch.cat([x0, solve_normal(*self._sum)], dim=-1)
        self._sum, self._prev, self._count = step_terms(x0, x0), x0, 1
        return torch.cat([x0, self._sum], dim=-1)

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """r_t from the next input x_t (B, d)."""
        if self.kind == "state":
            return x
        if self._sum is None:
            raise RuntimeError("MomentReader.step before start")
        if self.kind == "lstsq":
            gram, cross = lstsq_terms(self._prev, x)
            self._sum, self._prev = (self._sum[0] + gram, self._sum[1] + cross), x
            return torch.cat([x, solve_normal(*self._sum)], dim=-1)
        self._sum = self._sum + step_terms(self._prev, x)
        self._prev, self._count = x, self._count + 1
        return torch.cat([x, self._sum / self._count], dim=-1)


__all__ = ["AREA_SCALE", "LSTSQ_RIDGE", "MomentReader", "TRANSITION_INPUTS", "check_transition_input", "features",
           "library", "lstsq_terms", "n_inputs", "solve_normal", "step_terms"]
