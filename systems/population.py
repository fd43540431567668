"""Lotka-Volterra predator-prey dynamics (with the paper's protocol)."""
from __future__ import annotations

import math

import torch

from .base import Parameter, Protocol, System, TimeGrid, Variable

_POS = dict(minimum=0.0, strict=True)


class LotkaVolterra(System):
    """dx/dt = a x - b x y (prey), dy/dt = c x y - d y (predator)."""

    name = "lotka_volterra"
    aliases = ("lv", "lotka-volterra", "predator_prey")
    description = "Lotka-Volterra predator-prey model (the paper's LV benchmark)"
    time_units = "1"
    period = 2 * math.pi / 35.0    # small-oscillation period 2 pi / sqrt(a d) at the defaults
    recommended_prior = "grey_box"
    default_time_grid = TimeGrid((0.0, 1.0), 256)
    time_rescaling = (0, 0)  # x(a t), y(a t) solve a a, a b, a c, a d (all rates times a)
    variables = (Variable("x", "1", "prey population"), Variable("y", "1", "predator population"))
    parameters = (
        Parameter("a", 35.0, (20.0, 50.0), (10.0, 60.0), "1", "prey growth rate", **_POS),
        Parameter("b", 100.0, (80.0, 120.0), (70.0, 130.0), "1", "predation rate", **_POS),
        Parameter("c", 100.0, (80.0, 120.0), (70.0, 130.0), "1", "predator growth per prey", **_POS),
        Parameter("d", 35.0, (20.0, 50.0), (10.0, 60.0), "1", "predator death rate", **_POS),
    )
    ic_train = {"x": (0.5, 1.5), "y": (0.5, 1.5)}
    ic_test = {"x": (0.25, 2.0), "y": (0.25, 2.0)}

    def _build_protocols(self) -> dict[str, Protocol]:
        paper = dict(t_span=(0.0, 1.0), n_steps=256, n_train=15000, n_test=3000,
                     train={"a": (20.0, 50.0), "b": (80.0, 120.0), "c": (80.0, 120.0), "d": (20.0, 50.0)},
                     test={"a": (10.0, 60.0), "b": (70.0, 130.0), "c": (70.0, 130.0), "d": (10.0, 60.0)},
                     ic_train={"x": 1.0, "y": 1.0}, ic_test={"x": 1.0, "y": 1.0})
        return {
            "paper": Protocol(name="paper", n_ctx=100, **paper,
                              description="our LV forecasting benchmark on the paper's data: x0 = y0 = 1; "
                                          "context 100 of 256 as for MSD"),
            "paper_segment": Protocol(
                name="paper_segment", n_ctx=1, task="segment_repeat", **paper,
                description="the WARP paper's LV task on the same trajectories: a segment of 32-63 steps "
                            "then zeros as input, the segment repeated every L + 50 steps as target, "
                            "min-max normalised (systems.tasks.segment_repeat); scored on every step"),
        }

    def rhs(self, t: torch.Tensor, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        X, Y = x[..., 0], x[..., 1]
        a, b, c, d = p.unbind(-1)
        return torch.stack((a * X - b * X * Y, c * X * Y - d * Y), dim=-1)

    def invariant(self, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """First integral V = c x - d ln x + b y - a ln y (for x, y > 0)."""
        X, Y = x[..., 0], x[..., 1]
        a, b, c, d = p.unbind(-1)
        return c * X - d * torch.log(X) + b * Y - a * torch.log(Y)


POPULATION_SYSTEMS = [LotkaVolterra]
