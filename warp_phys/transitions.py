"""Weight-space transitions: theta_t = A theta_{t-1} + B (x_t - x_{t-1}).

``B`` (D, d) starts at zero in every transition. The matrix A is

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
* ``subspace``  (warp_phys/memory.py) theta_0 + B (x_t - x_0) + U s_t with a stable rotating/decaying
  memory s_t = Lambda s_{t-1} + G (x_t - x_{t-1}) of ``rank`` complex modes; factorable, K = 2 r + d.
  Its state is (theta, s), so it is listed in MEMORY_TRANSITIONS, not TRANSITIONS (whose A acts
  on theta alone), and the plain path steps it with `step_state`.

Shapes: theta0 (B, D); x (B, T, d); trajectories (B, T, D); coefficients (B, T, K).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

TRANSITIONS = ("identity", "lowrank", "diagonal", "dense")  # A acts on theta alone
MEMORY_TRANSITIONS = ("subspace",)  # theta plus a memory state (warp_phys/memory.py)


def linear_scan(g: torch.Tensor, a: torch.Tensor, apply: Any) -> torch.Tensor:
    """Solve y_t = A y_{t-1} + g_t (y_0 = g_0) along dim 1 of g (B, T, ...) in log2(T) steps.

    ``a`` represents A; ``apply(a, y)`` multiplies by it and ``apply(a, a)`` squares it
    (Hillis-Steele scan: after the step with offset s, y_t sums A^j g_{t-j} for j < 2s).
    """
    T = g.shape[1]
    y, power, s = g, a, 1
    while s < T:
        y = torch.cat([y[:, :s], y[:, s:] + apply(power, y[:, :-s])], dim=1)
        s *= 2
        if s < T:
            power = apply(power, power)
    return y


class Transition(nn.Module):
    """Base class: holds B (D, d). Subclasses define A."""

    kind: str = ""
    factorable: bool = False

    def __init__(self, D: int, d: int) -> None:
        super().__init__()
        self.D, self.d = D, d
        self.B = nn.Parameter(torch.zeros(D, d))

    def step(self, theta: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
        """One materialised step: theta (B, D), dx = x_t - x_{t-1} (B, d) -> theta_t (B, D)."""
        raise NotImplementedError

    def init_step_state(self, theta0: torch.Tensor) -> Any:
        """State of the plain path after reading x_0 (theta_0 itself unless the transition has memory)."""
        return theta0

    def step_state(self, state: Any, dx: torch.Tensor) -> tuple[Any, torch.Tensor]:
        """One plain step on the state; returns the new state and theta_t (B, D)."""
        theta = self.step(state, dx)
        return theta, theta

    def trajectory(self, theta0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """theta_t for t = 0..T-1 (theta_0 given; theta_t has read x_0..x_t): (B, T, D)."""
        if self.factorable:
            return theta0.unsqueeze(1) + self.coefficients(theta0, x) @ self.basis()
        thetas = [theta0]
        for t in range(1, x.shape[1]):
            thetas.append(self.step(thetas[-1], x[:, t] - x[:, t - 1]))
        return torch.stack(thetas, dim=1)

    # factored interface (identity and lowrank) -------------------------------------------
    @property
    def n_coefficients(self) -> int:
        raise NotImplementedError

    def basis(self) -> torch.Tensor:
        """(K, D) basis of the affine subspace theta_0 + span(basis)."""
        raise NotImplementedError

    def coefficients(self, theta0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(B, T, K) coefficients with theta_t = theta0 + coefficients[:, t] @ basis()."""
        raise NotImplementedError

    def init_coefficient_state(self, theta0: torch.Tensor, x0: torch.Tensor) -> Any:
        """State for `step_coefficients` after reading x_0 (coefficients are zero at t = 0)."""
        raise NotImplementedError

    def step_coefficients(self, state: Any, x_new: torch.Tensor) -> tuple[Any, torch.Tensor]:
        """Read x_t (B, d); return the new state and the coefficients of theta_t (B, K)."""
        raise NotImplementedError


class IdentityTransition(Transition):
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
    kind = "lowrank"
    factorable = True

    def __init__(self, D: int, d: int, rank: int, generator: torch.Generator | None = None) -> None:
        super().__init__(D, d)
        if rank < 1:
            raise ValueError(f"rank must be >= 1 for transition='lowrank', got {rank}")
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

    def _small(self) -> tuple[torch.Tensor, torch.Tensor]:
        """M = I + V^T U (r, r) and G = V^T B (r, d) of the coefficient recurrence."""
        M = torch.eye(self.rank, dtype=self.U.dtype, device=self.U.device) + self.V.T @ self.U
        return M, self.V.T @ self.B

    def coefficients(self, theta0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        M, G = self._small()
        g = torch.cat([(theta0 @ self.V).unsqueeze(1), (x[:, 1:] - x[:, :-1]) @ G.T], dim=1)  # (B, T, r)
        c = linear_scan(g, M, lambda a, y: y @ a.T if y.dim() == 3 else a @ y)
        s = torch.cat([torch.zeros_like(c[:, :1]), torch.cumsum(c[:, :-1], dim=1)], dim=1)
        return torch.cat([s, x - x[:, :1]], dim=-1)

    def init_coefficient_state(self, theta0: torch.Tensor, x0: torch.Tensor) -> Any:
        M, G = self._small()
        c = theta0 @ self.V
        return (c, torch.zeros_like(c), x0, x0, M, G)

    def step_coefficients(self, state: Any, x_new: torch.Tensor) -> tuple[Any, torch.Tensor]:
        c, s, x_prev, x0, M, G = state
        s = s + c
        c = c @ M.T + (x_new - x_prev) @ G.T
        return (c, s, x_new, x0, M, G), torch.cat([s, x_new - x0], dim=-1)


class DiagonalTransition(Transition):
    kind = "diagonal"

    def __init__(self, D: int, d: int) -> None:
        super().__init__(D, d)
        self.a = nn.Parameter(torch.ones(D))

    def step(self, theta: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
        return self.a * theta + dx @ self.B.T

    def trajectory(self, theta0: torch.Tensor, x: torch.Tensor, method: str = "auto") -> torch.Tensor:
        """``method``: "scan" (log-depth parallel scan, O(B T D log T) memory for backward),
        "loop" (T sequential steps, O(B T D) memory), "auto": scan on CUDA, loop on CPU
        (where the loop does less work and the scan has no parallelism to exploit)."""
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
    kind = "dense"

    def __init__(self, D: int, d: int) -> None:
        super().__init__(D, d)
        self.A = nn.Parameter(torch.eye(D))

    def step(self, theta: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
        return theta @ self.A.T + dx @ self.B.T


def make_transition(
    kind: str, D: int, d: int, *, rank: int = 4, max_dense_params: int = 4096,
    generator: torch.Generator | None = None, options: dict | None = None,
) -> Transition:
    """Build the transition named ``kind`` for weight size D and d variables (``rank``: of
    ``lowrank``, or the number of memory modes of ``subspace``).

    ``options``: extra keyword arguments of the transition's class; only ``subspace`` takes any
    (``input_scale``, ``min_decay``, ``max_decay``, ``min_period``, ``max_period``: see
    `warp_phys.memory.SubspaceTransition`). ``dense`` is refused when D > max_dense_params
    (A alone would hold D^2 numbers).
    """
    options = dict(options or {})
    if options and kind != "subspace":
        raise ValueError(f"transition {kind!r} takes no transition_options, got {sorted(options)}; "
                         f"only 'subspace' has options")
    if kind == "identity":
        return IdentityTransition(D, d)
    if kind == "lowrank":
        return LowRankTransition(D, d, rank, generator=generator)
    if kind == "diagonal":
        return DiagonalTransition(D, d)
    if kind == "dense":
        if D > max_dense_params:
            raise ValueError(
                f"transition='dense' needs a D x D matrix A with D={D} weights ({D * D:,} numbers, "
                f"O(D^2) work per step), above the limit max_dense_params={max_dense_params}. Use "
                f"transition='identity', 'lowrank' or 'diagonal', shrink the root network (width/depth), "
                f"or raise max_dense_params."
            )
        return DenseTransition(D, d)
    if kind == "subspace":
        from warp_phys.memory import SubspaceTransition

        valid = ("input_scale", "min_decay", "max_decay", "min_period", "max_period")
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise ValueError(f"unknown transition_options {unknown} for 'subspace'; valid: {list(valid)}")
        return SubspaceTransition(D, d, rank, generator=generator, **options)
    raise ValueError(f"unknown transition {kind!r}; choose one of {list(TRANSITIONS + MEMORY_TRANSITIONS)}")
