"""The transitions whose state is theta alone: theta_t = A theta_{t-1} + B (x_t - x_{t-1}).

* ``identity``  A = I (fixed). theta_t = theta_0 + B (x_t - x_0): coefficients
  c_t = x_t - x_0 (K = d) on the basis B^T.
* ``lowrank``   A = I + U V^T (U (D, r) starts at zero, V (D, r) random, both learned).
  With c_t = V^T theta_t:  c_t = (I + V^T U) c_{t-1} + V^T B (x_t - x_{t-1}),
  theta_t = theta_0 + U s_t + B (x_t - x_0) with s_t = sum_{k<t} c_k, so the weights stay in
  theta_0 + span(U, B): coefficients [s_t, x_t - x_0] (K = r + d) on the basis [U^T; B^T].
  The r-dimensional recurrence runs as a log-depth parallel scan.
* ``diagonal``  A = diag(a), a learned (starts at ones); the D-sized recurrence runs as a
  log-depth parallel scan on CUDA, a sequential loop on CPU (materialises theta_t).
* ``dense``     A learned D x D (starts at I), stepped in a loop. O(D^2) memory and work.

Shapes: theta0 (B, D); x (B, T, d); trajectories (B, T, D); coefficients (B, T, K).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from warp_phys.transitions.base import Transition, linear_scan
from warp_phys.validation import check_int


class IdentityTransition(Transition):
    """A = I: theta_t = theta_0 + B (x_t - x_0); factorable with K = d coefficients."""

    kind = "identity"
    factorable = True

    @property
    def n_coefficients(self) -> int:
        return self.d

    def step(self, theta: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
        return theta + dx @ self.B.T

    def basis(self) -> torch.Tensor:
        return self.B.T

    def coefficients(self, theta0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x - x[:, :1]

    def init_coefficient_state(self, theta0: torch.Tensor, x0: torch.Tensor) -> Any:
        return x0

    def step_coefficients(self, state: Any, x_new: torch.Tensor) -> tuple[Any, torch.Tensor]:
        return state, x_new - state


class LowRankTransition(Transition):
    """A = I + U V^T of rank ``rank`` (U starts at zero, V random from ``generator``);
    factorable with K = rank + d coefficients."""

    kind = "lowrank"
    factorable = True

    def __init__(self, D: int, d: int, rank: int, generator: torch.Generator | None = None) -> None:
        super().__init__(D, d)
        rank = check_int(rank, "rank of transition='lowrank'", minimum=1)
        self.rank = rank
        self.U = nn.Parameter(torch.zeros(D, rank))
        self.V = nn.Parameter(torch.randn(D, rank, generator=generator) / D**0.5)

    @property
    def n_coefficients(self) -> int:
        return self.rank + self.d

    def step(self, theta: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
        return theta + (theta @ self.V) @ self.U.T + dx @ self.B.T

    def basis(self) -> torch.Tensor:
        return torch.cat([self.U.T, self.B.T], dim=0)

    def recurrence(self) -> tuple[torch.Tensor, torch.Tensor]:
        """M = I + V^T U (r, r) and G = V^T B (r, d) of the coefficient recurrence
        c_t = M c_{t-1} + G (x_t - x_{t-1})."""
        M = torch.eye(self.rank, dtype=self.U.dtype, device=self.U.device) + self.V.T @ self.U
        return M, self.V.T @ self.B

    def coefficients(self, theta0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        M, G = self.recurrence()
        g = torch.cat([(theta0 @ self.V).unsqueeze(1), (x[:, 1:] - x[:, :-1]) @ G.T], dim=1)  # (B, T, r)
        c = linear_scan(g, M, lambda a, y: y @ a.T if y.dim() == 3 else a @ y)
        s = torch.cat([torch.zeros_like(c[:, :1]), torch.cumsum(c[:, :-1], dim=1)], dim=1)
        return torch.cat([s, x - x[:, :1]], dim=-1)

    def init_coefficient_state(self, theta0: torch.Tensor, x0: torch.Tensor) -> Any:
        M, G = self.recurrence()
        c = theta0 @ self.V
        return (c, torch.zeros_like(c), x0, x0, M, G)

    def step_coefficients(self, state: Any, x_new: torch.Tensor) -> tuple[Any, torch.Tensor]:
        c, s, x_prev, x0, M, G = state
        s = s + c
        c = c @ M.T + (x_new - x_prev) @ G.T
        return (c, s, x_new, x0, M, G), torch.cat([s, x_new - x0], dim=-1)


class DiagonalTransition(Transition):
    """A = diag(a), a learned (starts at ones); materialises theta_t."""

    kind = "diagonal"

    def __init__(self, D: int, d: int) -> None:
        super().__init__(D, d)
        self.a = nn.Parameter(torch.ones(D))

    def step(self, theta: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
        return self.a * theta + dx @ self.B.T

    def trajectory(self, theta0: torch.Tensor, x: torch.Tensor, method: str = "auto") -> torch.Tensor:
        """theta_t (B, T, D). ``method``: "scan" (log-depth parallel scan, O(B T D log T) memory
        for backward), "loop" (T sequential steps, O(B T D) memory), "auto": scan on CUDA, loop
        on CPU (where the loop does less work and the scan has no parallelism to exploit)."""
        if method == "auto":
            method = "scan" if theta0.is_cuda else "loop"
        if method == "scan":
            g = torch.cat([theta0.unsqueeze(1), (x[:, 1:] - x[:, :-1]) @ self.B.T], dim=1)
            return linear_scan(g, self.a, lambda a, y: a * y)
        if method != "loop":
            raise ValueError(f"unknown method {method!r}; use 'auto', 'scan' or 'loop'")
        # time-major and unbound once: slicing g[:, t] in the loop would make each slice's
        # backward allocate a full (B, T, D) gradient (quadratic in T)
        g = ((x[:, 1:] - x[:, :-1]).transpose(0, 1) @ self.B.T).unbind(0)
        thetas = [theta0]
        for g_t in g:
            thetas.append(torch.addcmul(g_t, self.a, thetas[-1]))
        return torch.stack(thetas, dim=1)


class DenseTransition(Transition):
    """A learned D x D (starts at I). Refused when D > ``max_dense_params`` (A alone would
    hold D^2 numbers, with O(D^2) work per step)."""

    kind = "dense"

    def __init__(self, D: int, d: int, max_dense_params: int = 4096) -> None:
        if D > max_dense_params:
            raise ValueError(
                f"transition='dense' needs a D x D matrix A with D={D} weights ({D * D:,} numbers, "
                f"O(D^2) work per step), above the limit max_dense_params={max_dense_params}. Use "
                f"transition='identity', 'lowrank' or 'diagonal', shrink the root network (width/depth), "
                f"or raise max_dense_params."
            )
        super().__init__(D, d)
        self.A = nn.Parameter(torch.eye(D))

    def step(self, theta: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
        return theta @ self.A.T + dx @ self.B.T


__all__ = ["DenseTransition", "DiagonalTransition", "IdentityTransition", "LowRankTransition"]
