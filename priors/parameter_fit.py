"""Least-squares fit of a fittable prior's raw outputs to observed steps.

For every trajectory, the raw outputs of a bound prior with ``fittable`` set (a `GreyBox`: one
RK4 step of ``system.rhs`` per sampling interval, parameters clamped into their ranges by a
sigmoid; a `QuadraticField`: one RK4 step of a quadratic field with free coefficients) that
minimise the squared one-step error on the given steps, by batched Levenberg-Marquardt in
float64. Used by the ``ode_fit`` baseline (the fit is the model) and by WARP's
``parameter_fit`` option (the fit is where the held outputs of a forecast start).

Shapes: x (B, T, d) in normalised units, tau (T,) normalised times, raw (B, P).
"""
from __future__ import annotations

import hashlib

import torch

from .base import Prior


def one_step_predictions(prior: Prior, raw: torch.Tensor, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """One-step predictions (B, T-1, d) of steps 1..T-1 from x (B, T, d), parameters raw (B, P)."""
    B, T, _ = x.shape
    r = raw.unsqueeze(1).expand(B, T - 1, raw.shape[-1])
    return prior.decode(r, tau[1:].view(1, -1, 1).expand(B, -1, 1), x[:, :-1])


def _residuals(prior: Prior, raw: torch.Tensor, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """One-step residuals (B, (T-1) d)."""
    return (one_step_predictions(prior, raw, x, tau) - x[:, 1:]).reshape(x.shape[0], -1)


@torch.no_grad()
def _cost(prior: Prior, raw: torch.Tensor, x: torch.Tensor, tau: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    res = _residuals(prior, raw, x, tau)
    return res, (res ** 2).sum(-1)


def fit_raw(prior: Prior, x: torch.Tensor, tau: torch.Tensor, iterations: int | None = None) -> torch.Tensor:
    """Raw outputs (B, P) minimising each trajectory's one-step squared error on x (B, T >= 2, d),
    by ``iterations`` Levenberg-Marquardt steps (default: the prior's ``fit_iterations``) from the
    prior's ``initial_raw(x, tau)`` (the grey box: raw = 0, the middle of the ranges), in float64.
    Detached: no gradient flows through the fit."""
    if x.shape[1] < 2:
        raise ValueError("a parameter fit needs at least 2 observed steps")
    x, tau = x.detach().double(), tau.detach().double()
    B, P = x.shape[0], prior.n_outputs
    iterations = prior.fit_iterations if iterations is None else iterations
    raw = prior.initial_raw(x, tau).detach().double()
    damping = x.new_full((B, 1, 1), 1e-3)
    eye = torch.eye(P, dtype=x.dtype, device=x.device)
    res, cost = _cost(prior, raw, x, tau)
    for _ in range(iterations):
        # Jacobian (B, n, P) by forward mode, one column per parameter (batch-separable)
        cols = [torch.func.jvp(lambda r: _residuals(prior, r, x, tau), (raw,), (eye[j].expand(B, P),))[1]
                for j in range(P)]
        J = torch.stack(cols, dim=-1).detach()
        JtJ = J.transpose(1, 2) @ J
        g = J.transpose(1, 2) @ res.unsqueeze(-1)
        diag = torch.diagonal(JtJ, dim1=1, dim2=2).clamp_min(1e-12)
        step = torch.linalg.solve(JtJ + damping * torch.diag_embed(diag), -g).squeeze(-1)
        new_raw = raw + step
        new_res, new_cost = _cost(prior, new_raw, x, tau)
        better = torch.isfinite(new_cost) & (new_cost < cost)
        raw = torch.where(better.unsqueeze(-1), new_raw, raw)
        res = torch.where(better.unsqueeze(-1), new_res, res)
        cost = torch.where(better, new_cost, cost)
        damping = torch.where(better.view(B, 1, 1), damping / 3, damping * 4).clamp(1e-9, 1e9)
    return raw.detach()


class FitCache:
    """The fits of contexts seen before, keyed by each trajectory's context values and times
    (one cache per bound prior: a model's own).

    A fit depends only on the bound prior and the data, never on network weights, and each
    trajectory's fit is independent of the others in its batch, so a fit computed once (e.g.
    for the whole training set in large batches, where it costs a small fraction per
    trajectory) is returned unchanged later. At most ``max_entries`` fits are kept; past that
    the cache starts again empty (contexts that change every step, e.g. noised, only miss)."""

    def __init__(self, max_entries: int = 1_000_000, chunk: int = 2048) -> None:
        self.max_entries, self.chunk = int(max_entries), int(chunk)
        self._fits: dict[bytes, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self._fits)

    @staticmethod
    def _keys(x: torch.Tensor, tau: torch.Tensor) -> list[bytes]:
        rows = x.detach().cpu().contiguous().numpy()
        times = tau.detach().cpu().contiguous().numpy().tobytes()
        return [hashlib.blake2b(r.tobytes() + times, digest_size=16).digest() for r in rows]

    def fit(self, prior: Prior, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """`fit_raw` of x (B, T, d) at times tau (T,): raw (B, P) float64 on x's device, the
        missing fits computed in chunks of ``chunk`` trajectories and kept."""
        keys = self._keys(x, tau)
        first = {}  # key -> the first row holding it
        for i, k in enumerate(keys):
            first.setdefault(k, i)
        missing = [i for k, i in first.items() if k not in self._fits]
        if len(self._fits) + len(missing) > self.max_entries:
            self._fits.clear()
            missing = list(first.values())
        for lo in range(0, len(missing), self.chunk):
            idx = missing[lo:lo + self.chunk]
            raw = fit_raw(prior, x[idx], tau).cpu()
            self._fits.update((keys[i], r) for i, r in zip(idx, raw))
        return torch.stack([self._fits[k] for k in keys]).to(x.device)


__all__ = ["FitCache", "fit_raw", "one_step_predictions"]
