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
    """Base class of every dynamical system. ODE subclasses set the class attributes and ``rhs``.

    Construct through ``warp_phys.systems.get(name, **params)``; keyword arguments
    override parameter defaults (and structural options such as Lorenz-96's ``N``).
    Field systems (``kind == "field"``) override ``simulate``.

    Sampling conventions:
      * a parameter whose range is degenerate (lo == hi) is *not sampled*: it is held at
        the instance's current value (e.g. the pendulum's damping, 0 unless overridden);
      * ``ic_train``/``ic_test`` (class attributes) map variable names to a uniform range
        or a fixed value; ``ic_test`` defaults to ``ic_train``.
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

    # defaults of the "default" protocol
    default_t_span: ClassVar[tuple[float, float]] = (0.0, 10.0)
    default_n_steps: ClassVar[int] = 1000
    ic_train: ClassVar[Mapping[str, Range | float]] = {}
    ic_test: ClassVar[Mapping[str, Range | float] | None] = None

    variables: tuple[Variable, ...]
    parameters: tuple[Parameter, ...]
    protocols: dict[str, Protocol]

    def __init__(self, **params: float) -> None:
        known = {p.name: p for p in self.parameters}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ValueError(
                f"{self.name}: unknown parameter(s) {unknown}; valid parameters are "
                f"{sorted(known)}{self._options_hint()}"
            )
        values = {p.name: float(p.default) for p in self.parameters}
        for key, val in params.items():
            try:
                values[key] = float(val)
            except (TypeError, ValueError):
                raise ValueError(f"{self.name}: parameter {key!r} must be a real number, got {val!r}") from None
        self._check_values(values)
        self.params: dict[str, float] = values
        self.protocols = {"default": self._default_protocol(), **self._build_protocols()}

    # ---- hooks for subclasses ---------------------------------------------
    def _options_hint(self) -> str:
        """Extra text for the unknown-parameter error (structural options)."""
        return ""

    def _build_protocols(self) -> dict[str, Protocol]:
        """Named presets besides "default" (e.g. the paper's)."""
        return {}

    def options(self) -> dict[str, int | float | str]:
        """Structural (non-sampled) options, e.g. {"N": 40} for Lorenz-96."""
        return {}

    def ic_from_params(self, p: torch.Tensor) -> torch.Tensor | None:
        """Initial conditions fixed by the parameters (n, d), or None (the default).
        Used by ``simulate`` when no explicit ``ic`` is given (e.g. the sine's s0 = sin(phi))."""
        return None

    def _default_protocol(self) -> Protocol:
        return Protocol(
            name="default",
            t_span=tuple(float(v) for v in self.default_t_span),
            n_steps=int(self.default_n_steps),
            n_train=1024,
            n_test=256,
            n_ctx=max(1, int(self.default_n_steps) // 4),
            train={p.name: tuple(p.train) for p in self.parameters},
            test={p.name: tuple(p.test) for p in self.parameters},
            ic_train=None,
            ic_test=None,
            description="the system's own parameter ranges and initial-condition sampler",
        )

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

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        pars = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        return f"{type(self).__name__}({', '.join(s for s in (opts, pars) if s)})"

    def describe(self) -> str:
        """A human-readable multi-line summary: variables, parameters, time scale, protocols."""
        lines = [f"{self.name} ({self.kind}): {self.description}".rstrip(": ")]
        if self.aliases:
            lines.append(f"  aliases: {', '.join(self.aliases)}")
        if self.options():
            lines.append("  options: " + ", ".join(f"{k}={v}" for k, v in self.options().items()))
        lines.append(f"  time units: {self.time_units}")
        for v in self.variables:
            lines.append(f"  variable  {v.name:<8} [{v.units}] {v.long_name}")
        for p in self.parameters:
            lines.append(
                f"  parameter {p.name:<8} = {self.params[p.name]:<10g} [{p.units}] {p.long_name}; "
                f"train U{tuple(p.train)}, test U{tuple(p.test)}"
            )
        if self.time_scale:
            lines.append(f"  time scale: {self.time_scale_kind} = {self.time_scale:.4g} {self.time_units}")
        if self.recommended_prior:
            lines.append(f"  recommended prior: {self.recommended_prior}")
        lines.append(f"  protocols: {', '.join(self.protocols)}")
        if self.has_invariant:
            lines.append("  has an invariant (see .invariant)")
        return "\n".join(lines)

    # ---- parameters ---------------------------------------------------------
    def _check_values(self, values: Mapping[str, float]) -> None:
        for p in self.parameters:
            v = values[p.name]
            if not math.isfinite(v):
                raise ValueError(f"{self.name}: parameter {p.name} = {v} is not finite; pass a finite value")
            bad = v <= p.minimum if p.strict else v < p.minimum
            if bad:
                op = ">" if p.strict else ">="
                raise ValueError(
                    f"{self.name}: parameter {p.name} = {v:g} is outside physical sense; "
                    f"it must be {op} {p.minimum:g} ({p.long_name})"
                )

    def check_parameters(self, p: torch.Tensor) -> None:
        """Validate a (n, P) parameter tensor: finite and above each Parameter.minimum.
        Raises ValueError naming the trajectory, parameter and fix."""
        if p.ndim != 2 or p.shape[1] != self.n_parameters:
            raise ValueError(
                f"{self.name}: parameters must have shape (n, {self.n_parameters}) in the order "
                f"{self.parameter_names}; got {tuple(p.shape)}"
            )
        finite = torch.isfinite(p)
        if not bool(finite.all()):
            i, j = (~finite).nonzero()[0].tolist()
            raise ValueError(
                f"{self.name}: parameter {self.parameter_names[j]} of trajectory {i} is {p[i, j].item()} "
                "(NaN/inf); pass finite parameter values"
            )
        for j, par in enumerate(self.parameters):
            col = p[:, j]
            bad = col <= par.minimum if par.strict else col < par.minimum
            if bool(bad.any()):
                i = int(bad.nonzero()[0])
                op = ">" if par.strict else ">="
                raise ValueError(
                    f"{self.name}: parameter {par.name} = {col[i].item():g} (trajectory {i}) is outside "
                    f"physical sense; it must be {op} {par.minimum:g} ({par.long_name})"
                )

    def parameter_vector(self, device: torch.device | str | None = None,
                         dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """Current parameter values, shape (P,), in the order of ``parameter_names``."""
        return torch.tensor([self.params[n] for n in self.parameter_names], dtype=dtype, device=device)

    def protocol(self, name: str | Protocol = "default") -> Protocol:
        """The named data-generation preset; ValueError listing the available ones."""
        if isinstance(name, Protocol):
            return name
        if name not in self.protocols:
            raise ValueError(
                f"{self.name} has no protocol {name!r}; available protocols: {sorted(self.protocols)}"
            )
        return self.protocols[name]

    def parameter_ranges(self, split: str = "train", protocol: str | Protocol | None = None) -> dict[str, Range]:
        """Uniform sampling range per parameter for ``split`` (degenerate: held at current value)."""
        _check_split(split)
        proto = self.protocol(protocol) if protocol is not None else None
        out: dict[str, Range] = {}
        for p in self.parameters:
            if proto is not None:
                rng = (proto.train if split == "train" else proto.test).get(p.name)
            else:
                rng = p.train if split == "train" else p.test
            if rng is None or float(rng[0]) == float(rng[1]):
                v = self.params[p.name]
                out[p.name] = (v, v)
            else:
                out[p.name] = (float(rng[0]), float(rng[1]))
        return out

    def sample_params(self, n: int, split: str = "train", generator: torch.Generator | None = None,
                      protocol: str | Protocol | None = None) -> torch.Tensor:
        """Sample (n, P) float64 parameters uniformly from the protocol's ranges (if given) or
        each Parameter's train/test range. Degenerate ranges hold the current value."""
        _check_n(n)
        ranges = self.parameter_ranges(split, protocol)
        u = torch.rand(n, self.n_parameters, generator=generator, dtype=torch.float64)
        lo = torch.tensor([ranges[k][0] for k in self.parameter_names], dtype=torch.float64)
        hi = torch.tensor([ranges[k][1] for k in self.parameter_names], dtype=torch.float64)
        return lo + (hi - lo) * u

    # ---- initial conditions -------------------------------------------------
    def ic_ranges(self, split: str = "train") -> dict[str, Range | float]:
        """The system's own initial-condition ranges (or fixed values) per variable."""
        _check_split(split)
        spec = self.ic_train if split == "train" or self.ic_test is None else self.ic_test
        return dict(spec)

    def sample_ic(self, n: int, generator: torch.Generator | None = None, split: str = "train",
                  protocol: str | Protocol | None = None) -> torch.Tensor:
        """Sample (n, d) float64 initial conditions from the protocol's ic spec (if it has
        one) or the system's own ``ic_ranges``; each variable is a uniform range or a value."""
        _check_n(n)
        _check_split(split)
        spec = None
        if protocol is not None:
            proto = self.protocol(protocol)
            spec = proto.ic_train if split == "train" else proto.ic_test
        if spec is None:
            spec = self.ic_ranges(split)
        missing = [v for v in self.variable_names if v not in spec]
        if missing:
            raise ValueError(f"{self.name}: initial-condition spec lacks variables {missing}")
        u = torch.rand(n, self.n_variables, generator=generator, dtype=torch.float64)
        cols = []
        for j, name in enumerate(self.variable_names):
            s = spec[name]
            if isinstance(s, (int, float)):
                cols.append(torch.full((n,), float(s), dtype=torch.float64))
            else:
                lo, hi = float(s[0]), float(s[1])
                cols.append(lo + (hi - lo) * u[:, j])
        return torch.stack(cols, dim=1)

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

    # ---- simulation ---------------------------------------------------------
    def simulate(self, n_trajectories: int, t_span: tuple[float, float] | None = None,
                 n_steps: int | None = None, **kwargs):
        """Solve ``n_trajectories`` trajectories and return an ``xarray.Dataset`` (DESIGN §4).

        See ``warp_phys.systems.simulate.simulate`` for the keyword arguments
        (params, ic, seed, backend, method, rtol, atol, device, protocol, progress).
        """
        from .simulate import simulate

        return simulate(self, n_trajectories, t_span, n_steps, **kwargs)


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of samples must be an integer >= 1, got {n!r}")
