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
  least-squares fit, over steps s <= t, of a quadratic vector field F(x) = phi(x) W, with the
  library phi(x) = [1, x, monomials of degree 2] (L = 1 + d + C(d+1, 2)), in Simpson's integral
  form: AREA_SCALE (x_s - x_{s-2}) ~ (phi(x_{s-2}) + 4 phi(x_{s-1}) + phi(x_s)) / 3 c, so c =
  AREA_SCALE dt W. The fit of the field itself, where ``"moments"`` gives its statistics. Simpson's
  rule integrates the field to O(dt^5) per pair of steps, so on a sampled trajectory of a
  polynomial system the coefficients are its physical parameters (k/m and c/m of a spring;
  sigma, rho, beta of Lorenz-63) nearly exactly, where the increments regressed on the
  previous state (Euler's form) are biased at O(dt) (`benchmarks/lstsq_read.py` measures both).
  A root network that emits those parameters (the grey box) then needs only a near-linear map
  of what the weights read.
  The normal equations (of the n = t - 1 Simpson pairs ending at steps 2..t; steps 0 and 1
  have none) carry a ridge that fades with n (`LSTSQ_RIDGE`), so the first steps, fewer than L,
  give finite, well-conditioned coefficients (0 at steps 0 and 1).

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
#: normal matrix, after n Simpson pairs: LSTSQ_RIDGE + LSTSQ_EARLY_RIDGE (2 L / n)^4. The
#: library's columns are nearly collinear over a short path, so a large fixed ridge biases the
#: late coefficients, while a tiny one lets the first, underdetermined solves (n < L) amplify
#: round-off; the early term is LSTSQ_EARLY_RIDGE at n = 2 L and fades as n^-4
#: (`benchmarks/lstsq_read.py` measures the bias).
LSTSQ_RIDGE = 1e-10
LSTSQ_EARLY_RIDGE = 1e-6


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


def lstsq_terms(x_prev2: torch.Tensor, x_prev: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One step's contributions (psi psi^T (..., L, L), psi dx^T (..., L, d)) to the normal
    equations of the ``"lstsq"`` fit: Simpson's pair of steps x_prev2, x_prev, x (..., d), with
    psi = (library(x_prev2) + 4 library(x_prev) + library(x)) / 3 and dx = AREA_SCALE (x - x_prev2)."""
    psi = (library(x_prev2) + 4.0 * library(x_prev) + library(x)) / 3.0
    dx = (x - x_prev2) * AREA_SCALE
    return psi.unsqueeze(-1) * psi.unsqueeze(-2), psi.unsqueeze(-1) * dx.unsqueeze(-2)


def _wide(x: torch.Tensor) -> torch.Tensor:
    """x in float64 (except on MPS, which has none): the normal equations of the ``"lstsq"`` fit
    are summed in it, float32 sums lose the near-collinear directions."""
    return x if x.device.type == "mps" else x.double()


def solve_normal(gram: torch.Tensor, cross: torch.Tensor, n: torch.Tensor | float) -> torch.Tensor:
    """Ridge solution (..., L d) of gram (..., L, L) c = cross (..., L, d) after ``n`` (..., or a
    number) Simpson pairs (see `LSTSQ_RIDGE`), solved in float64 (except on MPS, which has none)
    and returned in gram's dtype."""
    L, dtype = gram.shape[-1], gram.dtype
    if gram.device.type != "mps":
        gram, cross = gram.double(), cross.double()
    n = torch.as_tensor(n, dtype=gram.dtype, device=gram.device).clamp(min=1.0)[..., None, None]
    ridge = LSTSQ_RIDGE + LSTSQ_EARLY_RIDGE * (2.0 * L / n) ** 4
    scale = gram.diagonal(dim1=-2, dim2=-1).mean(-1)[..., None, None]
    eye = torch.eye(L, dtype=gram.dtype, device=gram.device)
    coef = torch.linalg.solve(gram + (ridge * scale + 1e-8) * eye, cross)
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
        w = _wide(x)
        w_prev2 = torch.cat([w[:, :1], w[:, :1], w[:, :-2]], dim=1)[:, :x.shape[1]]
        gram, cross = lstsq_terms(w_prev2, _wide(x_prev), w)
        pair = torch.ones_like(x[:, :, :1, None])
        pair[:, :2] = 0.0  # steps 0 and 1 have no Simpson pair: they add nothing to the fit
        gram, cross = gram * pair, cross * pair
        pairs = (torch.arange(x.shape[1], device=x.device) - 1).clamp(min=0).view(1, -1)  # n at step t: t - 1
        coef = solve_normal(torch.cumsum(gram, dim=1), torch.cumsum(cross, dim=1), pairs).to(x.dtype)
        return torch.cat([x, coef], dim=-1)
    count = torch.arange(1, x.shape[1] + 1, dtype=x.dtype, device=x.device).view(1, -1, 1)
    return torch.cat([x, torch.cumsum(step_terms(x_prev, x), dim=1) / count], dim=-1)


class MomentReader:
    """The same inputs one step at a time (the sequential rollout): `start` with x_0, then
    `step` with each next input x_t; each returns r_t (B, n_inputs)."""

    def __init__(self, kind: str) -> None:
        self.kind = check_transition_input(kind)
        self._sum: Any = None
        self._prev: torch.Tensor | None = None
        self._prev2: torch.Tensor | None = None  # "lstsq": the state two steps back (None at step 1)
        self._count = 0

    def start(self, x0: torch.Tensor) -> torch.Tensor:
        """r_0 from x_0 (B, d)."""
        if self.kind == "state":
            return x0
        if self.kind == "lstsq":
            w0 = _wide(x0)
            self._sum = tuple(torch.zeros_like(a) for a in lstsq_terms(w0, w0, w0))
            self._prev, self._prev2, self._count = w0, None, 0
            return torch.cat([x0, solve_normal(*self._sum, 0).to(x0.dtype)], dim=-1)
        self._sum, self._prev, self._count = step_terms(x0, x0), x0, 1
        return torch.cat([x0, self._sum], dim=-1)

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """r_t from the next input x_t (B, d)."""
        if self.kind == "state":
            return x
        if self._sum is None:
            raise RuntimeError("MomentReader.step before start")
        if self.kind == "lstsq":
            w = _wide(x)
            if self._prev2 is not None:  # step 1 has no Simpson pair
                gram, cross = lstsq_terms(self._prev2, self._prev, w)
                self._sum = (self._sum[0] + gram, self._sum[1] + cross)
                self._count += 1
            self._prev2, self._prev = self._prev, w
            return torch.cat([x, solve_normal(*self._sum, self._count).to(x.dtype)], dim=-1)
        self._sum = self._sum + step_terms(self._prev, x)
        self._prev, self._count = x, self._count + 1
        return torch.cat([x, self._sum / self._count], dim=-1)


__all__ = ["AREA_SCALE", "LSTSQ_EARLY_RIDGE", "LSTSQ_RIDGE", "MomentReader", "TRANSITION_INPUTS", "check_transition_input", "features",
           "library", "lstsq_terms", "n_inputs", "solve_normal", "step_terms"]
