"""The simple (optionally damped and driven) pendulum and the double pendulum."""
from __future__ import annotations

import math

import torch

from .base import Parameter, System, TimeGrid, Variable

_POS = dict(minimum=0.0, strict=True)
_NONNEG = dict(minimum=0.0, strict=False)


class Pendulum(System):
    """theta'' = -(g/L) sin(theta) - gamma theta' + A cos(omega_d t).

    Damping ``gamma`` and drive ``A``/``omega_d`` default to 0 and are not sampled
    (degenerate ranges: held at the values given to ``get``)."""

    name = "pendulum"
    aliases = ("simple_pendulum",)
    description = "simple pendulum, optionally damped and driven"
    time_units = "s"
    period = 2 * math.pi * math.sqrt(1.0 / 9.81)   # small-angle period at the defaults
    recommended_prior = "grey_box"
    default_time_grid = TimeGrid((0.0, 10.0), 1000)
    variables = (Variable("theta", "rad", "angle from the downward vertical"),
                 Variable("omega", "rad s-1", "angular velocity"))
    parameters = (
        Parameter("g", 9.81, (9.5, 10.1), (9.0, 10.6), "m s-2", "gravitational acceleration", **_POS),
        Parameter("L", 1.0, (0.5, 1.5), (0.25, 2.0), "m", "length", **_POS),
        Parameter("gamma", 0.0, (0.0, 0.0), (0.0, 0.0), "s-1", "damping rate", **_NONNEG),
        Parameter("A", 0.0, (0.0, 0.0), (0.0, 0.0), "rad s-2", "drive amplitude"),
        Parameter("omega_d", 0.0, (0.0, 0.0), (0.0, 0.0), "rad s-1", "drive angular frequency", **_NONNEG),
    )
    ic_train = {"theta": (-math.pi / 2, math.pi / 2), "omega": (-1.0, 1.0)}
    ic_test = {"theta": (-2.5, 2.5), "omega": (-2.0, 2.0)}

    def rhs(self, t: torch.Tensor, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        th, om = x[..., 0], x[..., 1]
        g, L, gamma, A, wd = p.unbind(-1)
        return torch.stack((om, -(g / L) * torch.sin(th) - gamma * om + A * torch.cos(wd * t)), dim=-1)

    def invariant(self, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """Energy per unit mass 0.5 L^2 omega^2 - g L cos(theta) (J kg-1); conserved when
        gamma = A = 0."""
        g, L = p[..., 0], p[..., 1]
        return 0.5 * L ** 2 * x[..., 1] ** 2 - g * L * torch.cos(x[..., 0])


class DoublePendulum(System):
    """Two point masses on rigid massless rods; angles from the downward vertical."""

    name = "double_pendulum"
    aliases = ("double-pendulum", "dp")
    description = ("planar double pendulum (mixed phase space: about a quarter of the default starts are "
                   "chaotic, more at large amplitude)")
    time_units = "s"
    period = 2 * math.pi / math.sqrt(9.81 * (2 - math.sqrt(2)))   # slow small-angle mode, defaults
    chaotic = True
    recommended_prior = "grey_box"
    default_time_grid = TimeGrid((0.0, 10.0), 1000)
    variables = (
        Variable("theta1", "rad", "angle of the upper rod"),
        Variable("theta2", "rad", "angle of the lower rod"),
        Variable("omega1", "rad s-1", "angular velocity of the upper rod"),
        Variable("omega2", "rad s-1", "angular velocity of the lower rod"),
    )
    parameters = (
        Parameter("m1", 1.0, (0.8, 1.2), (0.5, 1.5), "kg", "upper mass", **_POS),
        Parameter("m2", 1.0, (0.8, 1.2), (0.5, 1.5), "kg", "lower mass", **_POS),
        Parameter("L1", 1.0, (0.8, 1.2), (0.5, 1.5), "m", "upper rod length", **_POS),
        Parameter("L2", 1.0, (0.8, 1.2), (0.5, 1.5), "m", "lower rod length", **_POS),
        Parameter("g", 9.81, (9.81, 9.81), (9.81, 9.81), "m s-2", "gravitational acceleration", **_POS),
    )
    ic_train = {"theta1": (-math.pi / 2, math.pi / 2), "theta2": (-math.pi / 2, math.pi / 2),
                "omega1": (-0.5, 0.5), "omega2": (-0.5, 0.5)}
    ic_test = {"theta1": (-2.0, 2.0), "theta2": (-2.0, 2.0), "omega1": (-1.0, 1.0), "omega2": (-1.0, 1.0)}

    def rhs(self, t: torch.Tensor, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        t1, t2, w1, w2 = x.unbind(-1)
        m1, m2, L1, L2, g = p.unbind(-1)
        dl = t1 - t2
        den = 2 * m1 + m2 - m2 * torch.cos(2 * dl)
        a1 = (-g * (2 * m1 + m2) * torch.sin(t1) - m2 * g * torch.sin(t1 - 2 * t2)
              - 2 * torch.sin(dl) * m2 * (w2 ** 2 * L2 + w1 ** 2 * L1 * torch.cos(dl))) / (L1 * den)
        a2 = (2 * torch.sin(dl) * (w1 ** 2 * L1 * (m1 + m2) + g * (m1 + m2) * torch.cos(t1)
                                   + w2 ** 2 * L2 * m2 * torch.cos(dl))) / (L2 * den)
        return torch.stack((w1, w2, a1, a2), dim=-1)

    def invariant(self, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """Total energy (J): kinetic plus potential (zero at the pivot height)."""
        t1, t2, w1, w2 = x.unbind(-1)
        m1, m2, L1, L2, g = p.unbind(-1)
        kin = 0.5 * m1 * (L1 * w1) ** 2 + 0.5 * m2 * ((L1 * w1) ** 2 + (L2 * w2) ** 2
                                                      + 2 * L1 * L2 * w1 * w2 * torch.cos(t1 - t2))
        pot = -(m1 + m2) * g * L1 * torch.cos(t1) - m2 * g * L2 * torch.cos(t2)
        return kin + pot


PENDULUM_SYSTEMS = [Pendulum, DoublePendulum]
