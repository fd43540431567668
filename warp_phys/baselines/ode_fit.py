"""The classical reference: the system's own ODE with its physical parameters fitted to
each trajectory's context by least squares.

Not a learned model. For every trajectory, the parameters of the grey-box step (the same
parametrisation and ranges as the ``grey_box`` prior: one RK4 step of ``system.rhs`` per
sampling interval) are fitted to the observed context by batched Levenberg-Marquardt on the
one-step residuals, then held for the forecast. It tells how well the known equations can
do given only the context: the scale against which WARP + grey box's learned, gradient-free
parameter inference is measured. Needs a system (user data without one cannot use it).

Shapes (normalised units, like every `SequenceModel`): x (B, T, d), tau (T,).
"""
from __future__ import annotations

from typing import Mapping

import torch

from warp_phys.priors.base import BindContext, roll_out
from warp_phys.priors.grey_box import GreyBox
from warp_phys.priors.parameter_fit import fit_raw, one_step_predictions
from warp_phys.sequence import Prediction, SequenceModel
from warp_phys.validation import check_int


class ODEFit(SequenceModel):
    """Least-squares fit of the grey-box parameters on each context, then the ODE forecast.

    Args:
        n_variables: d.
        bind_context: the problem (system, dt, duration, scaler), as for a prior.
        iterations: Levenberg-Marquardt iterations per fit.
        output: "mean" only (a point forecast).
        seed: unused (deterministic); accepted for a uniform interface.
        margin, bounds, fixed, substeps, fix_constant: the `GreyBox` parametrisation (same
            meaning and defaults as the ``grey_box`` prior's options).

    ``forecast`` fits on the context only (causal). ``forward`` fits on the whole ``x`` it
    is given and returns the in-sample one-step predictions: a diagnostic, not causal. The
    model has no trainable parameters (`warp_phys.Trainer` returns at once).
    """

    name = "ode_fit"

    def __init__(self, n_variables: int, *, bind_context: BindContext, iterations: int = 30,
                 output: str = "mean", seed: int = 0, margin: float = 0.1,
                 bounds: Mapping[str, tuple[float, float]] | None = None, fixed: Mapping[str, float] | None = None,
                 substeps: int = 1, fix_constant: bool = True) -> None:
        super().__init__()
        if output != "mean":
            raise ValueError(f"ode_fit gives a point forecast: output must be 'mean', got {output!r}")
        iterations = check_int(iterations, "iterations", minimum=1)
        self.n_variables = int(n_variables)
        self.prior = GreyBox(margin=margin, bounds=bounds, fixed=fixed, substeps=substeps, fix_constant=fix_constant)
        self.prior.bind(bind_context)
        self.iterations = iterations

    # ------------------------------------------------------------------ the fit
    def fit_raw(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """Raw grey-box outputs (B, P) minimising each trajectory's one-step squared error on
        x (B, T >= 2, d): Levenberg-Marquardt from the middle of the ranges, in float64
        (`warp_phys.priors.parameter_fit.fit_raw`)."""
        if x.shape[1] < 2:
            raise ValueError("ode_fit needs a context of at least 2 steps to fit the parameters")
        return fit_raw(self.prior, x, tau, self.iterations)

    def interpret(self, x: torch.Tensor, tau: torch.Tensor) -> dict[str, torch.Tensor]:
        """{parameter name: (B,) fitted value} on x (B, T, d)."""
        return self.prior.interpret(self.fit_raw(x, tau))

    # ------------------------------------------------------------------ SequenceModel
    def forward(self, x: torch.Tensor, tau: torch.Tensor, *, p_force: float = 1.0,
                generator: torch.Generator | None = None) -> Prediction:
        raw = self.fit_raw(x, tau)
        return Prediction(self._one_step(raw, x, tau).to(x.dtype))

    def _one_step(self, raw: torch.Tensor, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """Teacher-forced one-step predictions (B, T, d) in float64; step 0 is x_0."""
        x = x.double()
        return torch.cat([x[:, :1], one_step_predictions(self.prior, raw, x, tau.double())], dim=1)

    @torch.no_grad()
    def forecast(self, x_ctx: torch.Tensor, tau: torch.Tensor) -> Prediction:
        B, n_ctx, d = x_ctx.shape
        tau = torch.as_tensor(tau, device=x_ctx.device)
        if not 2 <= n_ctx <= tau.shape[0]:
            raise ValueError(f"ode_fit needs a context of at least 2 steps and at most len(tau)={tau.shape[0]}, "
                             f"got {n_ctx}")
        raw = self.fit_raw(x_ctx, tau[:n_ctx])
        ctx = self._one_step(raw, x_ctx, tau[:n_ctx])
        ahead = roll_out(self.prior.decode, raw.unsqueeze(1), tau[n_ctx:].double(), x_ctx[:, -1:].double())
        return Prediction(torch.cat([ctx, ahead], dim=1).to(x_ctx.dtype))


__all__ = ["ODEFit"]
