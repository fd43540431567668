"""Linear DMD baseline: x_t = A x_{t-1} + b on reduced coordinates, fit by least squares.

A `SequenceModel` with no trainable parameters (fit in closed form; the Trainer returns
``stop_reason="no_parameters"``). On POD coefficients this is "exact DMD" at the POD rank:
the best linear one-step propagator of the reduced state in the least-squares sense,

    [A | b] = argmin sum_{n,t} ||x_t - A x_{t-1} - b||^2 + ridge ||A||_F^2,

solved through the normal equations in float64. Alignment (warp_phys/sequence.py):
mean[:, t] = A x_{t-1} + b for t >= 1 and mean[:, 0] = x_0.
"""
from __future__ import annotations

import torch

from warp_phys.sequence import Prediction, SequenceModel


class DMD(SequenceModel):
    """Affine (``affine=True``) or linear one-step propagator on d coordinates."""

    name = "dmd"

    def __init__(self, n_variables: int, *, affine: bool = True, ridge: float = 1e-6) -> None:
        super().__init__()
        if n_variables < 1:
            raise ValueError(f"n_variables must be >= 1, got {n_variables}")
        if ridge < 0:
            raise ValueError(f"ridge must be >= 0, got {ridge}")
        self.n_variables = int(n_variables)
        self.affine, self.ridge = bool(affine), float(ridge)
        self.register_buffer("A", torch.eye(self.n_variables))
        self.register_buffer("b", torch.zeros(self.n_variables))
        self.config = {"n_variables": self.n_variables, "affine": self.affine, "ridge": self.ridge}

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> "DMD":
        """Least-squares fit on trajectories x (N, T, d), T >= 2; returns self."""
        if x.dim() != 3 or x.shape[-1] != self.n_variables or x.shape[1] < 2:
            raise ValueError(f"x must have shape (trajectories, time >= 2, {self.n_variables}), got {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError("x contains NaN or inf; remove those trajectories first")
        d = self.n_variables
        prev = x[:, :-1].reshape(-1, d).double()
        nxt = x[:, 1:].reshape(-1, d).double()
        if self.affine:
            prev = torch.cat([prev, torch.ones_like(prev[:, :1])], 1)
        gram = prev.T @ prev
        reg = torch.eye(gram.shape[0], dtype=gram.dtype) * self.ridge * gram.diagonal().mean()
        if self.affine:
            reg[-1, -1] = 0.0  # do not shrink the offset
        coef = torch.linalg.solve(gram + reg, prev.T @ nxt)   # (d[+1], d)
        self.A.copy_(coef[:d].T.to(self.A))
        self.b.copy_((coef[d] if self.affine else torch.zeros(d, dtype=coef.dtype)).to(self.b))
        return self

    def eigenvalues(self) -> torch.Tensor:
        """Complex eigenvalues of A (per step); |lambda| > 1 grows, < 1 decays."""
        return torch.linalg.eigvals(self.A.double())

    def _step(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.A.to(x).T + self.b.to(x)

    def forward(self, x: torch.Tensor, tau: torch.Tensor, *, p_force: float = 1.0,
                generator: torch.Generator | None = None) -> Prediction:
        """One-step predictions (B, T, d); DMD is linear, so p_force is ignored (teacher forced)."""
        if x.dim() != 3 or x.shape[-1] != self.n_variables:
            raise ValueError(f"x must have shape (batch, time, {self.n_variables}), got {tuple(x.shape)}")
        return Prediction(torch.cat([x[:, :1], self._step(x[:, :-1])], 1))

    @torch.no_grad()
    def forecast(self, x_ctx: torch.Tensor, tau: torch.Tensor) -> Prediction:
        """Read x_ctx (B, n_ctx, d), then iterate x <- A x + b to len(tau) steps (O(T))."""
        B, n_ctx, d = x_ctx.shape
        T = int(torch.as_tensor(tau).shape[0])
        if not 1 <= n_ctx <= T:
            raise ValueError(f"context length {n_ctx} must be in [1, {T}]")
        out = [self.forward(x_ctx, tau[:n_ctx]).mean]
        x = x_ctx[:, -1]
        for _ in range(n_ctx, T):
            x = self._step(x)
            out.append(x[:, None])
        return Prediction(torch.cat(out, 1))


__all__ = ["DMD"]
