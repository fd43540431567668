"""``System.simulate`` for ODE systems: check the arguments (sizes before any allocation), resolve
parameters and initial conditions, pre-check stiffness, solve under a budget, build the Dataset.

Reads the system through its public attributes only (no import of ``base``).
"""
from __future__ import annotations

import json
import math
from typing import Any

import torch

from warp_phys._version import __version__
from warp_phys.device import resolve_device
from warp_phys.validation import InputError, check_int, check_seed, is_integer

from .budget import DEFAULT_MAX_STEPS, Budget, check_output_size, describer, precheck
from .dataset import build_dataset, parameter_ranges_json
from .simulate import DEFAULT_METHODS, resolve_ic, resolve_params, time_grid
from .solvers import scipy_solver_class, solve_scipy, solve_torch
from .spec import check_n_steps


def check_count(value: Any, name: str, example: int = 8) -> int:
    """A count >= 1 (n_trajectories, max_steps); InputError naming the value and the fix."""
    if not is_integer(value):
        whole = max(1, int(value)) if isinstance(value, float) and math.isfinite(value) else example
        raise InputError(f"{name} must be an integer, got {value!r} ({type(value).__name__}); "
                         f"pass a whole number such as {name}={whole}")
    return check_int(value, name, minimum=1)


def check_max_time(max_time: Any) -> float | None:
    """None or a positive finite number of seconds."""
    if max_time is None:
        return None
    if isinstance(max_time, bool) or not isinstance(max_time, (int, float)) or not (
            math.isfinite(max_time) and max_time > 0):
        raise InputError(f"max_time must be None (no wall-clock limit) or a positive number of seconds, "
                         f"got {max_time!r}; pass e.g. max_time=60")
    return float(max_time)


def nominal_ranges(system: Any, proto: Any) -> dict[str, tuple[float, float]]:
    """Union of the protocol's train and test range per parameter (the Parameter's own where the
    protocol names none); only non-degenerate ranges (used to name a suspicious parameter)."""
    out = {}
    for par in system.parameters:
        pairs = [r for r in (proto.train.get(par.name), proto.test.get(par.name)) if r is not None]
        pairs = pairs or [par.train, par.test]
        lo, hi = min(float(r[0]) for r in pairs), max(float(r[1]) for r in pairs)
        if hi > lo:
            out[par.name] = (lo, hi)
    return out


def simulate_ode(system: Any, n_trajectories: Any, t_span: Any, n_steps: Any, *, params: Any, ic: Any,
                 seed: Any, backend: str, method: str | None, rtol: float, atol: float,
                 device: str | torch.device, protocol: Any, progress: bool, options: dict | None,
                 max_steps: Any, max_time: Any) -> Any:
    """The body of ``System.simulate`` for ``system.kind == "ode"`` (arguments as documented
    there). Returns the xarray.Dataset."""
    import xarray  # noqa: F401  (fail early if missing)

    if system.kind != "ode":
        raise InputError(f"{system.name} is a {system.kind} system; call its own simulate()")
    n = check_count(n_trajectories, "n_trajectories")
    if backend not in DEFAULT_METHODS:
        raise InputError(f"backend must be one of {sorted(DEFAULT_METHODS)}, got {backend!r}")
    for name, tol in (("rtol", rtol), ("atol", atol)):
        if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol > 0):
            raise InputError(f"{name} must be a positive finite number, got {tol!r}; pass e.g. {name}=1e-7")
    seed = check_seed(seed)
    max_steps = check_count(max_steps, "max_steps", example=DEFAULT_MAX_STEPS)
    max_time = check_max_time(max_time)
    proto = system.protocol(protocol if protocol is not None else "default")
    steps = check_n_steps(proto.n_steps if n_steps is None else n_steps)
    check_output_size(system.name, n, steps, (system.n_variables,))
    t = time_grid(proto.t_span if t_span is None else t_span, steps)
    method = method or DEFAULT_METHODS[backend]
    if backend == "scipy":
        scipy_solver_class(method)

    gen = torch.Generator().manual_seed(seed)
    p, params_source = resolve_params(system, params, n, gen, proto)
    x0, ic_source = resolve_ic(system, ic, n, gen, proto, p, params_source)

    describe = describer(system.parameter_names, p, nominal_ranges(system, proto))
    budget = Budget(max_steps, max_time, method)
    label = dict(name=system.name, time_units=system.time_units, describe=describe, budget=budget)
    if not (backend == "torch" and method == "rk4"):
        precheck(system.rhs, t, x0, p, method=method, budget=budget, name=system.name, describe=describe,
                 backend=backend, time_units=system.time_units)
    if backend == "torch":
        dev = resolve_device(device)
        states = solve_torch(system.rhs, t, x0, p, method=method, rtol=rtol, atol=atol, device=dev,
                             progress=progress, options=options, **label)
        solver, dev_name = "torchdiffeq.odeint", str(dev)
    else:
        states = solve_scipy(system.rhs, t, x0, p, method=method, rtol=rtol, atol=atol, progress=progress,
                             **label)
        solver, dev_name = "scipy.integrate.solve_ivp", "cpu"

    overrides = {k: float(v) for k, v in getattr(system, "overrides", {}).items()}
    attrs = {
        "system": system.name, "system_options": json.dumps(system.options(), sort_keys=True),
        "backend": backend, "solver": solver, "method": method, "rtol": float(rtol), "atol": float(atol),
        "seed": seed, "device": dev_name, "protocol": proto.name, "params_source": params_source,
        "ic_source": ic_source, "parameter_ranges": parameter_ranges_json(system, proto),
        "parameter_overrides": json.dumps(overrides, sort_keys=True), "max_steps": max_steps,
        "warp_phys_version": __version__,
    }
    if max_time is not None:
        attrs["max_time"] = max_time
    return build_dataset(system, t.numpy(), states.numpy(), p.numpy(), x0.numpy(), attrs)


__all__ = ["check_count", "check_max_time", "nominal_ranges", "simulate_ode"]
