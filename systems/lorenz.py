"""Lorenz-63 and Lorenz-96: the chaotic benchmarks (nondimensional time)."""
from __future__ import annotations

import torch

from .base import Parameter, System, TimeGrid, Variable

_POS = dict(minimum=0.0, strict=True)


class Lorenz63(System):
    """dx/dt = sigma (y - x), dy/dt = x (rho - z) - y, dz/dt = x y - beta z."""

    name = "lorenz63"
    aliases = ("lorenz", "l63", "lorenz-63")
    description = "Lorenz-63 convection model, chaotic at the classic parameters"
    time_units = "1"
    lyapunov_exponent = 0.906          # largest exponent at sigma=10, rho=28, beta=8/3
    lyapunov_exponent_stderr = 0.001
    lyapunov_method = ("two-trajectory Benettin (warp_phys.lyapunov.largest_exponent), RK4; measured "
                       "0.9054 +- 0.0009 over 64 starts x 500 time units (seed 0, benchmarks/lyapunov_claims.py), "
                       "in agreement with the literature value 0.906")
    chaotic = True
    recommended_prior = "grey_box"
    default_time_grid = TimeGrid((0.0, 10.0), 1000)
    variables = (
        Variable("x", "1", "convective intensity"),
        Variable("y", "1", "horizontal temperature difference"),
        Variable("z", "1", "vertical temperature difference"),
    )
    parameters = (
        Parameter("sigma", 10.0, (9.0, 11.0), (8.0, 12.0), "1", "Prandtl number", **_POS),
        Parameter("rho", 28.0, (25.0, 31.0), (22.0, 34.0), "1", "Rayleigh number ratio", **_POS),
        Parameter("beta", 8.0 / 3.0, (2.4, 2.9), (2.2, 3.1), "1", "geometric aspect factor", **_POS),
    )
    ic_train = {"x": (-10.0, 10.0), "y": (-10.0, 10.0), "z": (15.0, 35.0)}
    ic_test = {"x": (-15.0, 15.0), "y": (-15.0, 15.0), "z": (10.0, 40.0)}

    def rhs(self, t: torch.Tensor, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        X, Y, Z = x.unbind(-1)
        sigma, rho, beta = p.unbind(-1)
        return torch.stack((sigma * (Y - X), X * (rho - Z) - Y, X * Y - beta * Z), dim=-1)


class Lorenz96(System):
    """dx_i/dt = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F on a ring of N sites (structural option N)."""

    name = "lorenz96"
    aliases = ("l96", "lorenz-96")
    description = "Lorenz-96 ring of N sites with forcing F (chaotic for F >~ 6)"
    time_units = "1"
    lyapunov_exponent = 1.68           # at N=40, F=8 (literature value, ~1.7)
    lyapunov_exponent_stderr = 0.008
    lyapunov_method = ("two-trajectory Benettin (warp_phys.lyapunov.largest_exponent), RK4; measured "
                       "1.678 +- 0.008 over 32 starts x 200 time units at N=40, F=8 (seed 0, "
                       "benchmarks/lyapunov_claims.py)")
    chaotic = True
    recommended_prior = "grey_box"
    default_time_grid = TimeGrid((0.0, 10.0), 1000)
    parameters = (
        Parameter("F", 8.0, (6.0, 10.0), (4.0, 12.0), "1", "external forcing"),
    )

    def __init__(self, N: int = 40, **params: float) -> None:
        if isinstance(N, bool) or not isinstance(N, int) or N < 4:
            raise ValueError(f"lorenz96: N (number of sites) must be an integer >= 4, got {N!r}")
        self.N = N
        self.variables = tuple(Variable(f"x{i + 1}", "1", f"site {i + 1} amplitude") for i in range(N))
        self.ic_train = {f"x{i + 1}": (-1.0, 1.0) for i in range(N)}
        self.ic_test = {f"x{i + 1}": (-2.0, 2.0) for i in range(N)}
        super().__init__(**params)

    def _options_hint(self) -> str:
        return " and the structural option N (number of sites)"

    def options(self) -> dict[str, int]:
        return {"N": self.N}

    def rhs(self, t: torch.Tensor, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        F = p[..., 0:1]
        return (torch.roll(x, -1, -1) - torch.roll(x, 2, -1)) * torch.roll(x, 1, -1) - x + F


LORENZ_SYSTEMS = [Lorenz63, Lorenz96]
