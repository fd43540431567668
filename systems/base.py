"""The `System` contract: what every dynamical system in the library knows about itself.

A system carries its state variables, its physical parameters (defaults, a training
range and a wider out-of-distribution test range), an initial-condition sampler, a
batched torch right-hand side, and, where they exist, an invariant and a time scale.

Shapes used throughout:
    x : (..., d)   state, d = n_variables, in the system's own units
    p : (..., P)   physical parameters in the order of ``parameter_names``; broadcasts against x
    t : scalar tensor or (...,) time in ``time_units``
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Mapping

import torch

Range = tuple[float, float]


@dataclass(frozen=True)
class Variable:
    """One state variable: its name (a valid identifier), units and long name."""

    name: str
    units: str
    long_name: str


@dataclass(frozen=True)
class Parameter:
    """One physical parameter.

    ``train``/``test`` are uniform sampling ranges (test is wider: out of distribution).
    ``minimum`` is the physical lower bound (exclusive when ``strict``), e.g. mass > 0.
    """

    name: str
    default: float
    train: Range
    test: Range
    units: str
    long_name: str
    minimum: float = -math.inf
    strict: bool = True


@dataclass(frozen=True)
class Protocol:
    """A named data-generation preset (e.g. the paper's MSD protocol, DESIGN.md §5).

    ``train``/``test`` map parameter names to uniform ranges; parameters not named are
    held at the system's current values. ``ic_train``/``ic_test`` map variable names to
    uniform ranges or fixed values for the initial condition (None: the system's sampler).
    ``n_ctx`` is the context length used for scoring (metrics on steps >= n_ctx).
    """

    name: str
    t_span: tuple[float, float]
    n_steps: int
    n_train: int
    n_test: int
    n_ctx: int
    train: Mapping[str, Range] = field(default_factory=dict)
    test: Mapping[str, Range] = field(default_factory=dict)
    ic_train: Mapping[str, Range | float] | None = None
    ic_test: Mapping[str, Range | float] | None = None
    description: str = ""


class System:
    """Base class of every ODE system. Subclasses set the class attributes and ``rhs``.

    Construct through ``warp_phys.systems.get(name, **params)``; keyword arguments
    override parameter defaults (and structural options such as Lorenz-96's ``N``).
    """

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""
    kind: ClassVar[str] = "ode"          # "ode" or "field"
    time_units: ClassVar[str] = "s"
    lyapunov_exponent: ClassVar[float | None] = None   # largest exponent, 1/time_units
    period: ClassVar[float | None] = None              # natural period at the defaults
    recommended_prior: ClassVar[str | None] = None     # name in warp_phys.priors
    chaotic: ClassVar[bool] = False

    variables: tuple[Variable, ...]
    parameters: tuple[Parameter, ...]
    protocols: dict[str, Protocol]

    # ---- derived metadata -------------------------------------------------
    @property
    def variable_names(self) -> list[str]:
        return [v.name for v in self.variables]

    @property
    def parameter_names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def n_variables(self) -> int:
        return len(self.variables)

    @property
    def n_parameters(self) -> int:
        return len(self.parameters)

    @property
    def time_scale(self) -> float | None:
        """Lyapunov time 1/lambda_max for chaotic systems, else the period (time_units)."""
        if self.lyapunov_exponent:
            return 1.0 / self.lyapunov_exponent
        return self.period

    @property
    def time_scale_kind(self) -> str | None:
        if self.lyapunov_exponent:
            return "lyapunov_time"
        return "period" if self.period else None

    # ---- physics: subclasses implement ------------------------------------
    def rhs(self, t: torch.Tensor, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """dx/dt, shape (..., d). Batched, differentiable, device-agnostic."""
        raise NotImplementedError

    def invariant(self, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """A conserved quantity, shape (...). Raises NotImplementedError if the system has none."""
        raise NotImplementedError(f"{self.name} has no invariant")

    @property
    def has_invariant(self) -> bool:
        return type(self).invariant is not System.invariant
