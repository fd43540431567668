"""The paper's sine toy: s(tau) = sin(2 pi tau + phi), as an ODE in time."""
from __future__ import annotations

import math

import torch

from .base import Parameter, Protocol, System, TimeGrid, Variable


class Sine(System):
    """ds/dt = 2 pi cos(2 pi t + phi) with s(0) = sin(phi), so s(t) = sin(2 pi t + phi).

    The phase phi is a parameter; the rhs reads t (no hidden state), so the 1-D state is the
    observed signal. When ``simulate`` gets no explicit ``ic``, s(0) = sin(phi) per trajectory.
    """

    name = "sine"
    aliases = ("sin", "sinusoid")
    description = "sinusoid sin(2 pi t + phi) with random phase (the paper's Sine toy)"
    time_units = "1"
    period = 1.0
    recommended_prior = "sinusoid"
    default_time_grid = TimeGrid((0.0, 1.0), 16, n_ctx=1)
    variables = (Variable("s", "1", "signal"),)
    parameters = (Parameter("phi", 0.0, (-math.pi / 6, math.pi / 6), (-math.pi / 3, math.pi / 3), "rad", "phase"),)
    ic_train = {"s": (-0.5, 0.5)}
    ic_test = {"s": (-math.sqrt(3) / 2, math.sqrt(3) / 2)}

    def _build_protocols(self) -> dict[str, Protocol]:
        rng = (-math.pi / 6, math.pi / 6)
        return {"paper": Protocol(
            name="paper", t_span=(0.0, 1.0), n_steps=16, n_train=10000, n_test=1000, n_ctx=1,
            train={"phi": rng}, test={"phi": rng},
            description="WARP paper Sine: T = 16, context 1, phi ~ U(-pi/6, pi/6); training subsets "
                        "of 1, 10, 100, 1000, 10000 samples (take the first n of n_train)")}

    def ic_from_params(self, p: torch.Tensor) -> torch.Tensor:
        return torch.sin(p[..., 0:1])

    def rhs(self, t: torch.Tensor, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        phi = p[..., 0]
        shape = torch.broadcast_shapes(x.shape[:-1], phi.shape)
        return (2 * math.pi * torch.cos(2 * math.pi * t + phi)).expand(shape).unsqueeze(-1)


SINE_SYSTEMS = [Sine]
