"""The ``subspace`` transition: WARP weights with a learnable linear memory of the history.

With ``transition="identity"`` the weights are theta_t = theta_0 + B (x_t - x_0): the root
network sees x_0 and the last input only, so it cannot infer per-trajectory physical
parameters (a frequency, a damping rate) from the context. This transition adds m damped
rotations (complex eigenvalues, LRU/S4D-style) acting on a 2m-dimensional learned subspace
of weight space:

    s_t     = Lambda s_{t-1} + G_n (x_t - x_{t-1}),      s_0 = 0          (s complex, (m,))
    theta_t = theta_0 + B (x_t - x_0) + U [Re s_t; Im s_t]                 (U (D, 2m))

with Lambda = diag(exp(-exp(nu_j) + i omega_j)), so |lambda_j| < 1 for every parameter value
(stable by construction), and G_n = diag(sqrt(1 - |lambda|^2)) G (the input normalisation of
LRU, which keeps |s| of order |x| for slow modes). Seen on the joint state (theta, s) the
transition is linear with A = [[I, U (Lambda - I)], [0, Lambda]] -- A is the identity outside
span(U) and the damped rotations Lambda on it -- so the weights stay in the affine subspace
theta_0 + span(U, B) and the factored evaluation applies with K = 2m + d coefficients
[Re s_t, Im s_t, x_t - x_0] on the basis [U^T; B^T]. The m-dimensional recurrence runs as a
log-depth parallel scan (``linear_scan``).

Initialisation: U = 0 (the model starts as ``identity``), G random, and the eigenvalues spread
over time scales: decay times log-spaced in [min_decay, max_decay] steps and rotation periods
log-spaced in [min_period, max_period] steps (paired by a seeded permutation). Because G is
random and s_t != 0 from the start, U receives a first-order gradient (unlike ``lowrank``,
whose memory appears through the product V^T U, second order from its zero init).

Because the memory state s is not a function of theta alone, the plain (materialised) path
steps the joint state with `step_state`; `step(theta, dx)` on theta alone is undefined.

Shapes: theta0 (B, D); x (B, T, d); coefficients (B, T, 2m + d); trajectories (B, T, D).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from warp_phys.transitions.base import Transition, linear_scan
from warp_phys.validation import check_int


def _log_spaced(lo: float, hi: float, n: int) -> torch.Tensor:
    if n == 1:
        return torch.tensor([math.sqrt(lo * hi)])
    return torch.logspace(math.log10(lo), math.log10(hi), n)


class SubspaceTransition(Transition):
    """theta_t = theta_0 + B (x_t - x_0) + U [Re s_t; Im s_t], s_t = Lambda s_{t-1} + G_n dx_t.

    Args:
        D, d: weight size and number of variables.
        rank: m, the number of complex memory modes (2m real memory coefficients).
        min_decay, max_decay: range of the initial decay times 1 / (1 - |lambda|) (steps).
        min_period, max_period: range of the initial rotation periods 2 pi / omega (steps).
        input_scale: scale of the random initial G (entries ~ N(0, 1) * input_scale / sqrt(d)).
            The memory coefficients scale with it; at 1 they are small compared with the
            normalised inputs, so U has to grow large before the memory moves the weights; a
            larger value gives the memory more weight from the start. The paper table's grey
            box (benchmarks/paper_table.py) uses ``transition_options={"input_scale": 10}``.
        generator: seeds G and the pairing of decay times with periods.
    """

    kind = "subspace"
    factorable = True
    has_memory = True

    def __init__(self, D: int, d: int, rank: int, *, min_decay: float = 8.0, max_decay: float = 512.0,
                 min_period: float = 8.0, max_period: float = 1024.0, input_scale: float = 1.0,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(D, d)
        modes = check_int(rank, "rank (the number of memory modes of transition='subspace')", minimum=1)
        if not (0 < min_decay <= max_decay and 2 < min_period <= max_period):
            raise ValueError(f"need 0 < min_decay <= max_decay and 2 < min_period <= max_period (steps), got "
                             f"decay ({min_decay}, {max_decay}), period ({min_period}, {max_period})")
        self.modes = modes
        decay = _log_spaced(min_decay, max_decay, modes)
        period = _log_spaced(min_period, max_period, modes)[torch.randperm(modes, generator=generator)]
        self.nu = nn.Parameter(torch.log(1.0 / decay))  # |lambda| = exp(-exp(nu))
        self.omega = nn.Parameter(2 * math.pi / period)  # rotation per step (rad)
        scale = input_scale / math.sqrt(d)
        self.G_re = nn.Parameter(torch.randn(modes, d, generator=generator) * scale)
        self.G_im = nn.Parameter(torch.randn(modes, d, generator=generator) * scale)
        self.U = nn.Parameter(torch.zeros(D, 2 * modes))

    # ---- the small recurrence -------------------------------------------------------
    def eigenvalues(self) -> torch.Tensor:
        """lambda (m,) complex, |lambda| = exp(-exp(nu)) < 1."""
        return torch.exp(torch.complex(-torch.exp(self.nu), self.omega))

    def recurrence(self) -> tuple[torch.Tensor, torch.Tensor]:
        """lambda (m,) and the normalised input matrix G_n (m, d), both complex, of the memory
        recurrence s_t = lambda * s_{t-1} + G_n (x_t - x_{t-1})."""
        lam = self.eigenvalues()
        gamma = torch.sqrt(-torch.expm1(-2 * torch.exp(self.nu)))  # sqrt(1 - |lambda|^2)
        return lam, gamma.unsqueeze(-1) * torch.complex(self.G_re, self.G_im)

    def memory(self, x: torch.Tensor) -> torch.Tensor:
        """Memory states s_t (B, T, m) complex for inputs x (B, T, d) (s_0 = 0), by a parallel scan."""
        lam, G = self.recurrence()
        dx = (x[:, 1:] - x[:, :-1]).to(G.dtype) @ G.T
        g = torch.cat([dx.new_zeros(x.shape[0], 1, self.modes), dx], dim=1)
        return linear_scan(g, lam, lambda a, y: a * y)

    @staticmethod
    def _real(s: torch.Tensor) -> torch.Tensor:
        return torch.cat([s.real, s.imag], dim=-1)

    # ---- factored interface -------------------------------------------------------------
    @property
    def n_coefficients(self) -> int:
        return 2 * self.modes + self.d

    def basis(self) -> torch.Tensor:
        return torch.cat([self.U.T, self.B.T], dim=0)

    def coefficients(self, theta0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._real(self.memory(x)), x - x[:, :1]], dim=-1)

    def init_coefficient_state(self, theta0: torch.Tensor, x0: torch.Tensor) -> Any:
        lam, G = self.recurrence()
        return (x0.new_zeros(x0.shape[0], self.modes, dtype=lam.dtype), x0, x0, lam, G)

    def step_coefficients(self, state: Any, x_new: torch.Tensor) -> tuple[Any, torch.Tensor]:
        s, x_prev, x0, lam, G = state
        s = lam * s + (x_new - x_prev).to(G.dtype) @ G.T
        return (s, x_new, x0, lam, G), torch.cat([self._real(s), x_new - x0], dim=-1)

    # ---- plain (materialised) path on the joint state (theta, s) ---------------------------
    def init_step_state(self, theta0: torch.Tensor) -> Any:
        lam, _ = self.recurrence()
        return theta0, theta0.new_zeros(theta0.shape[0], self.modes, dtype=lam.dtype)

    def step_state(self, state: Any, dx: torch.Tensor) -> tuple[Any, torch.Tensor]:
        """theta_t = theta_{t-1} + B dx + U (s_t - s_{t-1}), s_t = Lambda s_{t-1} + G_n dx."""
        theta, s = state
        lam, G = self.recurrence()
        s_new = lam * s + dx.to(G.dtype) @ G.T
        theta = theta + dx @ self.B.T + self._real(s_new - s) @ self.U.T
        return (theta, s_new), theta

    def step(self, theta: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
        raise ValueError("transition='subspace' carries a memory state besides theta, so a step from theta "
                         "alone is undefined; use step_state(state, dx) with state = init_step_state(theta0)")

    def trajectory(self, theta0: torch.Tensor, x: torch.Tensor, method: str = "scan") -> torch.Tensor:
        """theta_t (B, T, D). ``method``: "scan" (coefficients by the parallel scan, then
        theta_0 + c @ basis) or "loop" (T materialised `step_state` steps; tests)."""
        if method == "scan":
            return theta0.unsqueeze(1) + self.coefficients(theta0, x) @ self.basis()
        if method != "loop":
            raise ValueError(f"unknown method {method!r}; use 'scan' or 'loop'")
        state, thetas = self.init_step_state(theta0), [theta0]
        for t in range(1, x.shape[1]):
            state, theta = self.step_state(state, x[:, t] - x[:, t - 1])
            thetas.append(theta)
        return torch.stack(thetas, dim=1)


__all__ = ["SubspaceTransition"]
