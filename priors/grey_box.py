"""Grey-box step: the root network emits the system's physical parameters, the system's own
right-hand side advances the previous state by one RK4 step of the sampling interval.

Works for every ODE system of the library through its generic interface only
(``system.rhs(t, x, p)``, ``system.parameters``, ``system.n_variables``).
"""
from __future__ import annotations

import math
from typing import Callable, Mapping

import torch

from warp_phys.systems.integrators import rk4_step

from .base import BindContext, Prior, require_ode_system


def parameter_bounds(system, margin: float = 0.1,
                     bounds: Mapping[str, tuple[float, float]] | None = None) -> dict[str, tuple[float, float]]:
    """Physical range of every parameter of ``system``: {name: (lo, hi)}.

    Default: the union of the parameter's train and test ranges, widened on each side by
    ``margin`` times its width, then clipped at the parameter's physical ``minimum``
    (kept strictly above it when the minimum is strict). ``bounds`` overrides by name.
    """
    bounds = dict(bounds or {})
    out: dict[str, tuple[float, float]] = {}
    for par in system.parameters:
        if par.name in bounds:
            lo, hi = (float(v) for v in bounds[par.name])
        else:
            lo = min(par.train[0], par.test[0], par.default)
            hi = max(par.train[1], par.test[1], par.default)
            width = hi - lo if hi > lo else max(abs(lo), 1.0)
            lo, hi = lo - margin * width, hi + margin * width
            if lo <= par.minimum:
                lo = par.minimum + (1e-3 * (hi - par.minimum) if par.strict else 0.0)
        if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
            raise ValueError(f"parameter {par.name!r} of {system.name!r} has an empty or invalid range "
                             f"({lo}, {hi}); pass bounds={{{par.name!r}: (lo, hi)}} with lo < hi, "
                             f"or fixed={{{par.name!r}: value}}")
        out[par.name] = (lo, hi)
    return out


def parameter_vector(system, overrides: Mapping[str, float] | None = None) -> torch.Tensor:
    """The system's current parameter values with ``overrides`` ({name: value}) applied, as a
    float64 tensor (P,) in ``parameter_names`` order."""
    names = list(system.parameter_names)
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for system {system.name!r}; valid: {names}")
    p = system.parameter_vector().clone()
    for name, value in overrides.items():
        p[names.index(name)] = float(value)
    return p


def constant_parameters(system) -> list[str]:
    """Parameters the system never varies (train and test ranges both a single point), e.g. the
    pendulum's damping and drive: held at the system's current value by default."""
    return [p.name for p in system.parameters if p.train[0] == p.train[1] and p.test[0] == p.test[1]]


class GreyBox(Prior):
    """raw (..., P_free) -> parameters clamped into [lo, hi] by a sigmoid -> one RK4 step.

    Options: ``margin`` (widening of the default ranges, fraction of their width),
    ``bounds`` ({name: (lo, hi)} overriding ranges), ``fixed`` ({name: value}: parameters
    held fixed and not emitted), ``substeps`` (RK4 sub-steps per sampling interval),
    ``fix_constant`` (default True: parameters the system never varies, see
    `constant_parameters`, are held at the system's current value unless named in ``bounds``).

    Time: the step starts at the physical time of ``z_prev``, passed to ``system.rhs`` as
    ``t = tau * duration - dt`` (time since the first sample t_0; systems that depend on
    time must therefore be simulated from t_0 = 0, which ``simulate`` does by default).
    """

    name = "grey_box"
    description = "root network emits the physical parameters; the system's RHS takes one RK4 step"
    uses_previous_state = True
    time_invariant = True  # one trajectory, one set of physical parameters
    fittable = True

    def __init__(self, margin: float = 0.1, bounds: Mapping[str, tuple[float, float]] | None = None,
                 fixed: Mapping[str, float] | None = None, substeps: int = 1,
                 fix_constant: bool = True) -> None:
        super().__init__()
        if not (isinstance(margin, (int, float)) and margin >= 0):
            raise ValueError(f"margin must be a number >= 0, got {margin!r}")
        if not (isinstance(substeps, int) and substeps >= 1):
            raise ValueError(f"substeps must be an integer >= 1, got {substeps!r}")
        bounds = {str(k): [float(v[0]), float(v[1])] for k, v in (bounds or {}).items()}
        fixed = {str(k): float(v) for k, v in (fixed or {}).items()}
        both = sorted(set(bounds) & set(fixed))
        if both:
            raise ValueError(f"parameter(s) {both} are both fixed and bounded; give each in one option only")
        self.margin, self.bounds, self.substeps = float(margin), bounds, substeps
        self.fixed_option, self.fix_constant = fixed, bool(fix_constant)
        self.fixed: dict[str, float] = dict(fixed)  # effective fixed values, completed at bind
        self.options = {"margin": self.margin, "bounds": bounds, "fixed": fixed, "substeps": substeps,
                        "fix_constant": self.fix_constant}

    # ---- binding ---------------------------------------------------------------
    def bind(self, ctx: BindContext) -> None:
        system = require_ode_system(ctx, self.name)
        names = list(system.parameter_names)
        unknown = sorted((set(self.bounds) | set(self.fixed_option)) - set(names))
        if unknown:
            raise ValueError(f"prior {self.name!r}: unknown parameter(s) {unknown} in bounds/fixed for "
                             f"system {system.name!r}; valid: {names}")
        self.fixed = dict(self.fixed_option)
        if self.fix_constant:
            for n in constant_parameters(system):
                if n not in self.bounds and n not in self.fixed:
                    self.fixed[n] = float(system.params[n])
        self.parameter_names: list[str] = names
        self.free_names: list[str] = [n for n in names if n not in self.fixed]
        rng = parameter_bounds(system, self.margin, self.bounds)
        self._lo = torch.tensor([rng[n][0] for n in self.free_names], dtype=torch.float64)
        self._hi = torch.tensor([rng[n][1] for n in self.free_names], dtype=torch.float64)
        self.system = system
        self.ctx = ctx

    @property
    def n_outputs(self) -> int:
        self._bound()
        return len(self.free_names)

    @property
    def bounds_of(self) -> dict[str, tuple[float, float]]:
        """The physical range {name: (lo, hi)} of each emitted parameter (after bind)."""
        self._bound()
        return {n: (float(a), float(b)) for n, a, b in zip(self.free_names, self._lo, self._hi)}

    # ---- raw <-> physical parameters -------------------------------------------
    def physical_parameters(self, raw: torch.Tensor) -> torch.Tensor:
        """raw (..., P_free) -> all parameters (..., P) in ``parameter_names`` order."""
        self._bound()
        if raw.shape[-1] != len(self.free_names):
            raise ValueError(f"prior {self.name!r} expects {len(self.free_names)} raw outputs "
                             f"({self.free_names}), got {raw.shape[-1]}")
        lo, hi = self._lo.to(raw), self._hi.to(raw)
        free = lo + (hi - lo) * torch.sigmoid(raw)
        if not self.fixed:
            return free
        cols, j = [], 0
        for n in self.parameter_names:
            if n in self.fixed:
                cols.append(torch.full(raw.shape[:-1], self.fixed[n], dtype=raw.dtype, device=raw.device))
            else:
                cols.append(free[..., j])
                j += 1
        return torch.stack(cols, dim=-1)

    def encode(self, values: Mapping[str, float | torch.Tensor] | torch.Tensor) -> torch.Tensor:
        """Inverse of the clamp: the raw outputs (..., P_free) that decode to ``values``.

        ``values``: {name: value or tensor} for every emitted parameter, or a tensor
        (..., P_free). Raises ValueError for values outside the open range (lo, hi).
        """
        self._bound()
        if isinstance(values, Mapping):
            missing = [n for n in self.free_names if n not in values]
            if missing:
                raise ValueError(f"encode needs values for {missing}")
            values = torch.stack([torch.as_tensor(values[n], dtype=torch.float64) for n in self.free_names], -1)
        lo, hi = self._lo.to(values), self._hi.to(values)
        u = (values - lo) / (hi - lo)
        if not bool(((u > 0) & (u < 1)).all()):
            raise ValueError(f"parameter values outside the prior's ranges {self.bounds_of}")
        return torch.logit(u)

    def interpret(self, raw: torch.Tensor) -> dict[str, torch.Tensor]:
        """{parameter name: (...,) value}, fixed parameters included (broadcast)."""
        p = self.physical_parameters(raw)
        return {n: p[..., i] for i, n in enumerate(self.parameter_names)}

    # ---- the step --------------------------------------------------------------
    def vector_field(self, p: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """f(t, x) -> dx/dt in physical units for parameters ``p`` (..., P)."""
        return lambda t, x: self.system.rhs(t, x, p)

    def decode(self, raw: torch.Tensor, tau: torch.Tensor, z_prev: torch.Tensor) -> torch.Tensor:
        ctx = self._bound()
        p = self.physical_parameters(raw)
        x_prev = ctx.scaler.denormalise(z_prev)
        t_prev = tau[..., 0] * ctx.duration - ctx.dt
        x_next = rk4_step(self.vector_field(p), t_prev, x_prev, ctx.dt, self.substeps)
        return ctx.scaler.normalise(x_next)
