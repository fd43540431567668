"""The transition contract and the log-depth parallel scan the transitions share.

A transition advances the weight vector theta (size D) of the root network as it reads the
inputs x_t (d variables): theta_t = A theta_{t-1} + B (x_t - x_{t-1}), with B (D, d) starting
at zero (so an untrained model keeps theta_0). Subclasses define A.

Shapes: theta0 (B, D); x (B, T, d); trajectories (B, T, D); coefficients (B, T, K).
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar

import torch
from torch import nn


def linear_scan(g: torch.Tensor, a: torch.Tensor, apply: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
                ) -> torch.Tensor:
    """Solve y_t = A y_{t-1} + g_t (y_0 = g_0) along dim 1 of g (B, T, ...) in log2(T) steps.

    ``a`` represents A; ``apply(a, y)`` multiplies by it and ``apply(a, a)`` squares it
    (Hillis-Steele scan: after the step with offset s, y_t sums A^j g_{t-j} for j < 2s).
    Returns y with the shape of g.
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
    """Base class: holds B (D, d). Subclasses set ``kind`` and define A.

    ``factorable``: theta_t stays in an affine subspace theta_0 + span(basis()), so the root
    network can be evaluated in factored form from (B, T, K) coefficients.
    ``has_memory``: the state carries more than theta (a memory of the history), so a step
    from theta alone (`step`) is undefined and the plain path uses `step_state`.
    """

    kind: ClassVar[str] = ""
    factorable: ClassVar[bool] = False
    has_memory: ClassVar[bool] = False

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
        """One plain step on the state, dx (B, d); returns the new state and theta_t (B, D)."""
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

    # factored interface (factorable transitions only) ---------------------------------------
    @property
    def n_coefficients(self) -> int:
        """K, the number of coefficients (rows of `basis`)."""
        raise NotImplementedError

    def basis(self) -> torch.Tensor:
        """(K, D) basis of the affine subspace theta_0 + span(basis)."""
        raise NotImplementedError

    def coefficients(self, theta0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(B, T, K) coefficients with theta_t = theta0 + coefficients[:, t] @ basis()."""
        raise NotImplementedError

    def init_coefficient_state(self, theta0: torch.Tensor, x0: torch.Tensor) -> Any:
        """State for `step_coefficients` after reading x_0 (B, d) (coefficients are zero at t = 0)."""
        raise NotImplementedError

    def step_coefficients(self, state: Any, x_new: torch.Tensor) -> tuple[Any, torch.Tensor]:
        """Read x_t (B, d); return the new state and the coefficients of theta_t (B, K)."""
        raise NotImplementedError


__all__ = ["Transition", "linear_scan"]
