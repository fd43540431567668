"""Oscillators: mass-spring-damper (with the paper's MSD protocols), van der Pol, Duffing."""
from __future__ import annotations

import math

import torch

from .base import Parameter, Protocol, System, Variable

_POS = dict(minimum=0.0, strict=True)
_NONNEG = dict(minimum=0.0, strict=False)


class MassSpringDamper(System):
    """m x'' + c x' + k x = 0 as dx/dt = v, dv/dt = -(k x + c v) / m."""

    name = "mass_spring_damper"
    aliases = ("msd", "mass-spring-damper", "spring", "damped_oscillator")
    description = "damped harmonic oscillator (the paper's MSD benchmark)"
    time_units = "s"
    period = 2 * math.pi * math.sqrt(0.03 / 10.0)   # undamped period at the defaults
    recommended_prior = "grey_box"
    default_t_span = (0.0, 1.0)
    default_n_steps = 256
    time_rescaling = (0, 1)  # x(a t) solves m/a^2, c/a, k; the velocity picks up a factor a
    variables = (
        Variable("x", "m", "displacement"),
        Variable("v", "m s-1", "velocity"),
    )
    parameters = (
        Parameter("m", 0.03, (0.02, 0.04), (0.01, 0.05), "kg", "mass", **_POS),
        Parameter("k", 10.0, (4.0, 16.0), (2.0, 18.0), "N m-1", "spring constant", **_POS),
        Parameter("c", 0.1, (0.01, 0.2), (0.01, 0.3), "kg s-1", "damping coefficient", **_NONNEG),
    )
    ic_train = {"x": (0.5, 1.5), "v": (-0.5, 0.5)}
    ic_test = {"x": (0.0, 2.0), "v": (-1.0, 1.0)}

    def _build_protocols(self) -> dict[str, Protocol]:
        train = {"m": (0.02, 0.04), "k": (4.0, 16.0), "c": (0.01, 0.2)}
        test = {"m": (0.01, 0.05), "k": (2.0, 18.0), "c": (0.01, 0.3)}
        return {
            "paper": Protocol(
                name="paper", t_span=(0.0, 1.0), n_steps=256, n_train=20480, n_test=4096, n_ctx=100,
                train=train, test=test, ic_train={"x": 1.0, "v": 0.0}, ic_test={"x": 1.0, "v": 0.0},
                description="WARP paper MSD: x0=1, v0=0; test ranges wider (out of distribution)"),
            "paper_zero": Protocol(
                name="paper_zero", t_span=(0.0, 1.0), n_steps=256, n_train=8192, n_test=2048, n_ctx=100,
                train=train, test=test,
                ic_train={"x": (0.5, 1.5), "v": (-0.5, 0.5)}, ic_test={"x": (0.5, 1.5), "v": (-0.5, 0.5)},
                description="WARP paper MSD-Zero: as MSD with x0, v0 each shifted by U(-0.5, 0.5)"),
        }

    def rhs(self, t: torch.Tensor, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        pos, vel = x[..., 0], x[..., 1]
        m, k, c = p[..., 0], p[..., 1], p[..., 2]
        return torch.stack((vel, -(k * pos + c * vel) / m), dim=-1)

    def invariant(self, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """Mechanical energy 0.5 m v^2 + 0.5 k x^2 (J); conserved only when c = 0."""
        return 0.5 * p[..., 0] * x[..., 1] ** 2 + 0.5 * p[..., 1] * x[..., 0] ** 2

    @staticmethod
    def analytic(t: torch.Tensor, x0: float, v0: float, m: float, k: float, c: float) -> torch.Tensor:
        """Closed-form (T, 2) solution (x, v) of the underdamped case (c^2 < 4 m k)."""
        w0 = math.sqrt(k / m)
        zeta = c / (2 * math.sqrt(m * k))
        if zeta >= 1:
            raise ValueError("analytic() covers the underdamped case c^2 < 4 m k only")
        wd = w0 * math.sqrt(1 - zeta ** 2)
        a, b = x0, (v0 + zeta * w0 * x0) / wd
        e = torch.exp(-zeta * w0 * t)
        cos, sin = torch.cos(wd * t), torch.sin(wd * t)
        pos = e * (a * cos + b * sin)
        vel = e * ((-zeta * w0) * (a * cos + b * sin) + wd * (-a * sin + b * cos))
        return torch.stack((pos, vel), dim=-1)


class VanDerPol(System):
    """x'' - mu (1 - x^2) x' + x = 0 as dx/dt = v, dv/dt = mu (1 - x^2) v - x."""

    name = "van_der_pol"
    aliases = ("vdp", "vanderpol", "van-der-pol")
    description = "van der Pol relaxation oscillator (limit cycle)"
    time_units = "1"
    period = 6.663     # limit-cycle period at mu = 1
    recommended_prior = "grey_box"
    default_t_span = (0.0, 20.0)
    default_n_steps = 1000
    variables = (Variable("x", "1", "position"), Variable("v", "1", "velocity"))
    parameters = (Parameter("mu", 1.0, (0.5, 2.0), (0.2, 3.0), "1", "nonlinear damping strength", **_NONNEG),)
    ic_train = {"x": (-2.0, 2.0), "v": (-2.0, 2.0)}
    ic_test = {"x": (-3.0, 3.0), "v": (-3.0, 3.0)}

    def rhs(self, t: torch.Tensor, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        pos, vel, mu = x[..., 0], x[..., 1], p[..., 0]
        return torch.stack((vel, mu * (1 - pos ** 2) * vel - pos), dim=-1)


class Duffing(System):
    """x'' + delta x' + alpha x + beta x^3 = gamma cos(omega t) (forced, damped).

    The defaults alpha=-1, beta=1, delta=0.3, gamma=0.5, omega=1.2 are the classic double-well
    strange attractor: largest Lyapunov exponent ``lyapunov_exponent`` (measured, see
    ``lyapunov_method``). Periodic and chaotic windows interleave along gamma at this delta and
    omega: at gamma=0.37 the motion settles on a period-5 orbit (largest exponent -0.053), so the
    stored exponent holds at the defaults only and an instance with other parameters has none.
    """

    name = "duffing"
    aliases = ("duffing_oscillator",)
    description = "forced Duffing oscillator (double well; chaotic at the defaults, gamma = 0.5)"
    time_units = "1"
    period = 2 * math.pi / 1.2     # forcing period at the defaults
    chaotic = True
    lyapunov_exponent = 0.1057
    lyapunov_exponent_stderr = 0.0008
    lyapunov_method = ("two-trajectory Benettin (warp_phys.lyapunov.largest_exponent), RK4 dt=0.02; mean and "
                       "standard error over 128 starts from sample_ic (seed 0), 100 transient + 50 alignment "
                       "+ 4000 averaged time units each (benchmarks/lyapunov_claims.py)")
    recommended_prior = "grey_box"
    default_t_span = (0.0, 50.0)
    default_n_steps = 1000
    variables = (Variable("x", "1", "position"), Variable("v", "1", "velocity"))
    parameters = (
        Parameter("alpha", -1.0, (-1.2, -0.8), (-1.5, -0.5), "1", "linear stiffness"),
        Parameter("beta", 1.0, (0.8, 1.2), (0.5, 1.5), "1", "cubic stiffness", **_POS),
        Parameter("delta", 0.3, (0.2, 0.4), (0.1, 0.5), "1", "damping", **_NONNEG),
        Parameter("gamma", 0.5, (0.25, 0.5), (0.1, 0.6), "1", "forcing amplitude", **_NONNEG),
        Parameter("omega", 1.2, (1.0, 1.4), (0.8, 1.6), "1", "forcing angular frequency", **_NONNEG),
    )
    ic_train = {"x": (-1.5, 1.5), "v": (-1.0, 1.0)}
    ic_test = {"x": (-2.0, 2.0), "v": (-1.5, 1.5)}

    def __init__(self, **params: float) -> None:
        super().__init__(**params)
        if any(self.params[p.name] != p.default for p in self.parameters):
            self.lyapunov_exponent = self.lyapunov_exponent_stderr = self.lyapunov_method = None

    def rhs(self, t: torch.Tensor, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        pos, vel = x[..., 0], x[..., 1]
        alpha, beta, delta, gamma, omega = p.unbind(-1)
        acc = -delta * vel - alpha * pos - beta * pos ** 3 + gamma * torch.cos(omega * t)
        return torch.stack((vel, acc), dim=-1)

    def invariant(self, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """Energy 0.5 v^2 + 0.5 alpha x^2 + 0.25 beta x^4; conserved when delta = gamma = 0."""
        pos, vel = x[..., 0], x[..., 1]
        return 0.5 * vel ** 2 + 0.5 * p[..., 0] * pos ** 2 + 0.25 * p[..., 1] * pos ** 4


OSCILLATOR_SYSTEMS = [MassSpringDamper, VanDerPol, Duffing]
