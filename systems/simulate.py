"""simulate()'s inputs for many trajectories: the time grid, the parameters and the initial conditions.

``System.simulate`` (in ``base``, driven by ``driver.simulate_ode``) resolves its inputs with
``resolve_params``/``resolve_ic`` (which read the system's samplers through its public
methods), solves with ``solvers`` under a ``budget``, and assembles the Dataset. This module
imports neither ``base`` nor ``dataset``; it re-exports the solvers and the errors for the
callers that import them from here.

Backends (see ``solvers``): ``backend="torch"``: ``torchdiffeq.odeint`` solves all trajectories
in ONE batched solve in float64 (default method "dopri5", the Dormand-Prince 5(4) pair also
behind scipy's RK45), on CPU or GPU. The adaptive step is shared by the batch and torchdiffeq
controls the RMS error over the whole batch, so at equal rtol the worst trajectory can be less
accurate than a per-trajectory scipy solve; tighten rtol for matched accuracy
(benchmarks/datagen.py measures the gap). ``method="rk4"`` (torch) is a lean fixed-step RK4
that lands exactly on the grid points (``options={"substeps": k}`` or ``{"step_size": h}``).
``backend="scipy"``: a scipy ``OdeSolver`` per trajectory (default method "DOP853", the
8th-order reference that stays accurate at tight tolerances; "RK45" for the paper's solver;
"Radau", "BDF" or "LSODA" for stiff problems), calling the same torch right-hand side.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch

from warp_phys.validation import InputError

from .budget import SimulationError, SolverBudgetError
from .solvers import Rhs, fixed_step_rk4, solve_scipy, solve_torch
from .spec import Protocol, check_n_steps, check_t_span

DEFAULT_METHODS = {"torch": "dopri5", "scipy": "DOP853"}


# ---------------------------------------------------------------------------------------
# input checking
# ---------------------------------------------------------------------------------------
def time_grid(t_span: Any, n_steps: Any) -> torch.Tensor:
    """Validate ``t_span``/``n_steps`` and return the (n_steps,) float64 grid."""
    n = check_n_steps(n_steps)
    t0, t1 = check_t_span(t_span)
    return torch.linspace(t0, t1, n, dtype=torch.float64)


def _as_tensor(value: Any, what: str) -> torch.Tensor:
    try:
        return torch.as_tensor(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError):
        raise InputError(f"{what} must be numeric (a tensor or array), got {type(value).__name__}") from None


def _per_trajectory(value: Any, n: int, what: str, order: str, width: int) -> torch.Tensor:
    """An explicit (n, width) tensor from ``value`` of shape (n, width) or (width,) (broadcast)."""
    out = _as_tensor(value, what.split(": ")[-1])
    k = width
    if out.shape == (k,):
        out = out.expand(n, k).clone()
    if out.shape != (n, k):
        raise InputError(f"{what} must have shape ({n}, {k}) or ({k},) {order}; got {tuple(out.shape)}")
    return out


def resolve_params(system: Any, params: Any, n: int, generator: torch.Generator,
                   protocol: Protocol) -> tuple[torch.Tensor, str]:
    """(n, P) float64 parameters of ``system`` (a System) from params="train"|"test"|None|dict|Tensor,
    and its source ("train", "test", "default" or "explicit")."""
    P = system.n_parameters
    if params is None:
        out, source = system.parameter_vector().expand(n, P).clone(), "default"
    elif isinstance(params, str):
        if params not in ("train", "test"):
            raise InputError(f"params must be 'train', 'test', None, a dict or a tensor; got {params!r}")
        out, source = system.sample_params(n, params, generator, protocol), params
    elif isinstance(params, Mapping):
        unknown = sorted(set(params) - set(system.parameter_names))
        if unknown:
            raise InputError(f"{system.name}: unknown parameter(s) {unknown}; valid parameters are "
                             f"{system.parameter_names}")
        out = system.parameter_vector().expand(n, P).clone()
        for j, name in enumerate(system.parameter_names):
            if name in params:
                v = _as_tensor(params[name], f"params[{name!r}]")
                if v.ndim == 0 or v.numel() == 1:
                    out[:, j] = v.reshape(())
                elif v.shape == (n,):
                    out[:, j] = v
                else:
                    raise InputError(f"params[{name!r}] must be a scalar or have shape ({n},), got {tuple(v.shape)}")
        source = "explicit"
    else:
        out = _per_trajectory(params, n, f"{system.name}: params", f"in the order {system.parameter_names}",
                              width=P)
        source = "explicit"
    system.check_parameters(out)
    return out, source


def resolve_ic(system: Any, ic: Any, n: int, generator: torch.Generator, protocol: Protocol,
               p: torch.Tensor, params_source: str) -> tuple[torch.Tensor, str]:
    """(n, d) float64 initial conditions of ``system`` (a System) from ic=None|"train"|"test"|Tensor,
    and its source."""
    d = system.n_variables
    if ic is None:
        fixed = system.ic_from_params(p)
        if fixed is not None:
            out, source = fixed.to(torch.float64), "from_params"
        else:
            split = params_source if params_source in ("train", "test") else "train"
            out, source = system.sample_ic(n, generator, split, protocol), split
    elif isinstance(ic, str):
        if ic not in ("train", "test"):
            raise InputError(f"ic must be None, 'train', 'test' or a tensor of shape ({n}, {d}); got {ic!r}")
        out, source = system.sample_ic(n, generator, ic, protocol), ic
    else:
        out = _per_trajectory(ic, n, f"{system.name}: ic", f"with variables {system.variable_names}",
                              width=d)
        source = "explicit"
    finite = torch.isfinite(out)
    if not bool(finite.all()):
        i, j = (~finite).nonzero()[0].tolist()
        raise InputError(f"{system.name}: initial condition {system.variable_names[j]} of trajectory {i} is "
                         f"{out[i, j].item()} (NaN/inf); pass finite initial conditions")
    return out, source


__all__ = ["DEFAULT_METHODS", "Rhs", "SimulationError", "SolverBudgetError", "fixed_step_rk4",
           "resolve_ic", "resolve_params", "solve_scipy", "solve_torch", "time_grid"]
