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

import difflib
import math
from typing import Any, ClassVar, Mapping

import torch

from warp_phys.validation import check_int

from .budget import DEFAULT_MAX_STEPS
from .driver import simulate_ode
from .spec import Parameter, Protocol, Range, TimeGrid, Variable

_LEGACY_GRID = ("default_t_span", "default_n_steps")


class System:
    """Base class of every dynamical system. ODE subclasses set the class attributes and ``rhs``.

    Construct through ``warp_phys.systems.get(name, **params)``; keyword arguments
    override parameter defaults (and structural options such as Lorenz-96's ``N``).
    Field systems (``kind == "field"``) override ``simulate``.

    Sampling conventions:
      * a parameter given to the constructor (``get("msd", m=5.0)``; recorded in
        ``overrides``) is *not sampled*: every trajectory gets that value, whatever the
        protocol's range (explicit ``simulate(params=...)`` values still win over it);
      * a parameter whose range is degenerate (lo == hi) is *not sampled*: it is held at
        the instance's current value (e.g. the pendulum's damping, 0 unless overridden);
      * ``ic_train``/``ic_test`` (class attributes) map variable names to a uniform range
        or a fixed value; ``ic_test`` defaults to ``ic_train``.

    Time grid: a subclass declares its default grid once, as ``default_time_grid``; the
    "default" protocol is built from it and owns it from then on (``protocol("default")``;
    ``default_t_span``/``default_n_steps`` read it back). The older class-attribute spelling
    ``default_t_span = ...; default_n_steps = ...`` is still accepted and folded into
    ``default_time_grid`` when the subclass is created.
    """

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""
    kind: ClassVar[str] = "ode"          # "ode" or "field"
    time_units: ClassVar[str] = "s"
    lyapunov_exponent: ClassVar[float | None] = None   # largest exponent, 1/time_units
    lyapunov_exponent_stderr: ClassVar[float | None] = None   # its standard error (measured)
    lyapunov_method: ClassVar[str | None] = None       # how it was measured
    period: ClassVar[float | None] = None              # natural period at the defaults
    recommended_prior: ClassVar[str | None] = None     # name in warp_phys.priors
    chaotic: ClassVar[bool] = False
    # time rescaling t -> a t maps the family onto itself: x_j(t) -> a**p_j x_j(a t) is the
    # trajectory of other parameter values (`systems.symmetries`); p_j per variable, None: no such symmetry
    time_rescaling: ClassVar[tuple[int, ...] | None] = None

    # the "default" protocol's time grid (instances may set their own before __init__)
    default_time_grid: TimeGrid = TimeGrid((0.0, 10.0), 1000)
    ic_train: ClassVar[Mapping[str, Range | float]] = {}
    ic_test: ClassVar[Mapping[str, Range | float] | None] = None

    variables: tuple[Variable, ...]
    parameters: tuple[Parameter, ...]
    protocols: dict[str, Protocol]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        legacy = {k: cls.__dict__[k] for k in _LEGACY_GRID if k in cls.__dict__}
        if legacy:  # the older spelling: fold it into the one declaration
            grid = cls.default_time_grid
            cls.default_time_grid = TimeGrid(legacy.get("default_t_span", grid.t_span),
                                             legacy.get("default_n_steps", grid.n_steps), grid.n_ctx)
            for key in legacy:
                delattr(cls, key)

    def __init__(self, **params: float) -> None:
        known = {p.name: p for p in self.parameters}
        unknown = sorted(set(params) - set(known))
        if unknown:
            close = [c for u in unknown for c in difflib.get_close_matches(u, list(known), n=1, cutoff=0.6)]
            hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
            raise ValueError(
                f"{self.name}: unknown parameter(s) {unknown}; valid parameters are "
                f"{sorted(known)}{self._options_hint()}{hint}"
            )
        values = {p.name: float(p.default) for p in self.parameters}
        for key, val in params.items():
            try:
                values[key] = float(val)
            except (TypeError, ValueError):
                raise ValueError(f"{self.name}: parameter {key!r} must be a real number, got {val!r}") from None
        self._check_values(values)
        self.params: dict[str, float] = values
        #: the parameters given to the constructor: held at these values, never sampled
        self.overrides: dict[str, float] = {k: values[k] for k in params}
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
        grid = TimeGrid(*self.default_time_grid)
        return Protocol(
            name="default", t_span=grid.t_span, n_steps=grid.n_steps, n_train=1024, n_test=256,
            n_ctx=grid.context(), train={p.name: tuple(p.train) for p in self.parameters},
            test={p.name: tuple(p.test) for p in self.parameters}, ic_train=None, ic_test=None,
            description="the system's own parameter ranges and initial-condition sampler",
        )

    # ---- derived metadata -------------------------------------------------
    @property
    def default_t_span(self) -> Range:
        """The "default" protocol's t_span (read-only: use ``protocol("default").replace``)."""
        return self.protocol("default").t_span

    @property
    def default_n_steps(self) -> int:
        """The "default" protocol's n_steps (read-only)."""
        return self.protocol("default").n_steps

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
            if not p.admits(v):
                raise ValueError(f"{self.name}: parameter {p.name} = {v:g} is outside physical sense; "
                                 f"it must be {p.bound}")

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
            bad = ~par.admits(p[:, j])
            if bool(bad.any()):
                i = int(bad.nonzero()[0])
                raise ValueError(f"{self.name}: parameter {par.name} = {p[i, j].item():g} (trajectory {i}) is "
                                 f"outside physical sense; it must be {par.bound}")

    def parameter_vector(self, device: torch.device | str | None = None,
                         dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """Current parameter values, shape (P,), in the order of ``parameter_names``."""
        return torch.tensor([self.params[n] for n in self.parameter_names], dtype=dtype, device=device)

    def protocol(self, name: str | Protocol = "default") -> Protocol:
        """The named data-generation preset (a Protocol passed in is returned as is);
        ValueError listing the available ones."""
        if isinstance(name, Protocol):
            return name
        if not isinstance(name, str) or name not in self.protocols:
            raise ValueError(
                f"{self.name} has no protocol {name!r}; available protocols: {sorted(self.protocols)}"
            )
        return self.protocols[name]

    def parameter_ranges(self, split: str = "train", protocol: str | Protocol | None = None) -> dict[str, Range]:
        """Uniform sampling range per parameter for ``split``: the protocol's (if given) or the
        Parameter's own; (v, v), held at the current value v, for a degenerate range and for a
        constructor override (``overrides``)."""
        _check_split(split)
        proto = self.protocol(protocol) if protocol is not None else None
        out: dict[str, Range] = {}
        for p in self.parameters:
            if proto is not None:
                rng = (proto.train if split == "train" else proto.test).get(p.name)
            else:
                rng = p.train if split == "train" else p.test
            if p.name in self.overrides or rng is None or float(rng[0]) == float(rng[1]):
                v = self.params[p.name]
                out[p.name] = (v, v)
            else:
                out[p.name] = (float(rng[0]), float(rng[1]))
        return out

    def sample_params(self, n: int, split: str = "train", generator: torch.Generator | None = None,
                      protocol: str | Protocol | None = None) -> torch.Tensor:
        """Sample (n, P) float64 parameters uniformly from ``parameter_ranges`` (the protocol's
        ranges if given, else each Parameter's train/test range). Degenerate ranges and
        constructor overrides hold the current value (the draws of the others do not change)."""
        check_int(n, "n", minimum=1)
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
        check_int(n, "n", minimum=1)
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
                 n_steps: int | None = None, *, params: Any = "train", ic: Any = None, seed: int = 0,
                 backend: str = "torch", method: str | None = None, rtol: float = 1e-7, atol: float = 1e-9,
                 device: str | torch.device = "auto", protocol: str | Protocol | None = None,
                 progress: bool = False, options: dict | None = None, max_steps: int = DEFAULT_MAX_STEPS,
                 max_time: float | None = None):
        """Simulate ``n_trajectories`` trajectories on an evenly spaced time grid.

        t_span: (t_start, t_end) in ``time_units``; n_steps: grid points (>= 2). None takes the
            protocol's (``protocol``: a name, a Protocol, or None for "default").
        params: "train"/"test" (sampled from the protocol's ranges; parameters given to the
            constructor, ``overrides``, are held at their values), None (current values for
            all), a dict {name: scalar or (n,) values} (others at current values), or a (n, P)/(P,)
            tensor. The Dataset's parameter coordinates hold the values used.
        ic: None (the protocol's sampler, same split as params; or fixed by the parameters for
            systems such as ``sine``), "train"/"test", or a (n, d)/(d,) tensor.
        seed: an integer in [0, 2**63 - 1]; seeds one torch.Generator that draws the parameters,
            then the initial conditions.
        backend: "torch" (one batched torchdiffeq solve; default method "dopri5") or "scipy"
            (a scipy OdeSolver per trajectory; default "DOP853"; "Radau", "BDF" or "LSODA" for
            stiff problems). ``options`` go to torchdiffeq; with method="rk4", {"substeps": k}
            or {"step_size": h} for the fixed-step RK4.
        max_steps: solver steps allowed per trajectory (scipy) or per batched solve (torch,
            counted as right-hand-side evaluations / stages per step); default 20,000, far above
            what the library's protocols need. An explicit method is pre-checked: a trajectory
            whose Jacobian at its initial state needs more steps than this fails before solving.
        max_time: wall-clock seconds for the whole call (None: no limit).
        progress: a tqdm bar (per trajectory for scipy; per time chunk for torch).

        Returns an ``xarray.Dataset`` with ``state(trajectory, time, variable)`` float64, the
        parameters and initial conditions as per-trajectory coordinates, and the provenance
        (solver, seed, protocol, ranges, overrides, budget) as attributes. Raises InputError (a
        ValueError) for bad input, including an output too large for the available memory
        (checked before allocating), SimulationError (a ValueError) when a solution blows up,
        and SolverBudgetError (a SimulationError) when ``max_steps`` or ``max_time`` runs out;
        the last two name the trajectory, the time, its parameters and the fix.
        """
        return simulate_ode(self, n_trajectories, t_span, n_steps, params=params, ic=ic, seed=seed,
                            backend=backend, method=method, rtol=rtol, atol=atol, device=device,
                            protocol=protocol, progress=progress, options=options, max_steps=max_steps,
                            max_time=max_time)


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


__all__ = ["Parameter", "Protocol", "Range", "System", "TimeGrid", "Variable"]
