"""ODE solvers for many trajectories (torch batched, scipy reference) and simulate()'s inputs.

The solvers see a right-hand side ``rhs(t, x, p) -> dx/dt`` (t a 0-d tensor, x (N, d), p (N, P),
all float64) and plain tensors; ``name``/``time_units`` only label messages and progress bars.
``System.simulate`` (in ``base``) is the one caller: it resolves the inputs with
``resolve_params``/``resolve_ic`` (which read the system's samplers through its public
methods), calls a solver, and assembles the Dataset. This module imports neither ``base``
nor ``dataset``.

``backend="torch"``: ``torchdiffeq.odeint`` solves all trajectories in ONE batched solve in
float64 (default method "dopri5", the Dormand-Prince 5(4) pair also behind scipy's RK45), on
CPU or GPU. The adaptive step is shared by the batch and torchdiffeq controls the RMS error
over the whole batch, so at equal rtol the worst trajectory can be less accurate than a
per-trajectory scipy solve; tighten rtol for matched accuracy (benchmarks/datagen.py
measures the gap). ``method="rk4"`` (torch) is a lean fixed-step RK4 that lands exactly on
the grid points (``options={"substeps": k}`` or ``{"step_size": h}``).
``backend="scipy"``: ``scipy.integrate.solve_ivp`` per trajectory (default method "DOP853",
the 8th-order reference that stays accurate at tight tolerances; pass method="RK45" for the
paper's solver), calling the same torch right-hand side.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Mapping

import numpy as np
import torch

from .integrators import rk4_grid
from .spec import Protocol, check_n_steps, check_t_span

#: rhs(t, x, p) -> dx/dt: t 0-d, x (N, d), p (N, P); returns (N, d).
Rhs = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

DEFAULT_METHODS = {"torch": "dopri5", "scipy": "DOP853"}


class SimulationError(ValueError):
    """A solve produced a non-finite state (the solution blew up or the solver failed).

    ``trajectory``: index of the first failing trajectory; ``time``: the time of its first
    non-finite state (or where the solver gave up)."""

    def __init__(self, message: str, trajectory: int, time: float) -> None:
        super().__init__(message)
        self.trajectory = trajectory
        self.time = time


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
        raise ValueError(f"{what} must be numeric (a tensor or array), got {type(value).__name__}") from None


def _per_trajectory(value: Any, n: int, what: str, order: str, width: int) -> torch.Tensor:
    """An explicit (n, width) tensor from ``value`` of shape (n, width) or (width,) (broadcast)."""
    out = _as_tensor(value, what.split(": ")[-1])
    k = width
    if out.shape == (k,):
        out = out.expand(n, k).clone()
    if out.shape != (n, k):
        raise ValueError(f"{what} must have shape ({n}, {k}) or ({k},) {order}; got {tuple(out.shape)}")
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
            raise ValueError(f"params must be 'train', 'test', None, a dict or a tensor; got {params!r}")
        out, source = system.sample_params(n, params, generator, protocol), params
    elif isinstance(params, Mapping):
        unknown = sorted(set(params) - set(system.parameter_names))
        if unknown:
            raise ValueError(f"{system.name}: unknown parameter(s) {unknown}; valid parameters are "
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
                    raise ValueError(f"params[{name!r}] must be a scalar or have shape ({n},), got {tuple(v.shape)}")
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
            raise ValueError(f"ic must be None, 'train', 'test' or a tensor of shape ({n}, {d}); got {ic!r}")
        out, source = system.sample_ic(n, generator, ic, protocol), ic
    else:
        out = _per_trajectory(ic, n, f"{system.name}: ic", f"with variables {system.variable_names}",
                              width=d)
        source = "explicit"
    finite = torch.isfinite(out)
    if not bool(finite.all()):
        i, j = (~finite).nonzero()[0].tolist()
        raise ValueError(f"{system.name}: initial condition {system.variable_names[j]} of trajectory {i} is "
                         f"{out[i, j].item()} (NaN/inf); pass finite initial conditions")
    return out, source


# ---------------------------------------------------------------------------------------
# backends
# ---------------------------------------------------------------------------------------
def _first_nonfinite(states: torch.Tensor) -> tuple[int, int] | None:
    """(trajectory, time index) of the earliest non-finite state in (N, T, d), or None."""
    bad = ~torch.isfinite(states).all(dim=-1)  # (N, T)
    if not bool(bad.any()):
        return None
    T = states.shape[1]
    first = torch.where(bad.any(dim=1), bad.float().argmax(dim=1), torch.full_like(bad[:, 0], T, dtype=torch.long))
    i = int(first.argmin())
    return i, int(first[i])


def _blowup(name: str, time_units: str, i: int, time: float, n_bad: int | None = None) -> SimulationError:
    extra = f" ({n_bad} trajectories in all)" if n_bad and n_bad > 1 else ""
    units = "" if time_units in ("1", "") else f" {time_units}"
    return SimulationError(
        f"{name}: the solution of trajectory {i} became non-finite at time t = {time:g}"
        f"{units}{extra}; check its parameters and initial condition (ds coordinates), "
        "shorten t_span, tighten rtol/atol, or (method='rk4') use more substeps",
        trajectory=i, time=time)


def solve_torch(rhs: Rhs, t: torch.Tensor, x0: torch.Tensor, p: torch.Tensor, *, method: str,
                rtol: float, atol: float, device: torch.device, progress: bool = False,
                options: dict | None = None, name: str = "system", time_units: str = "") -> torch.Tensor:
    """Solve dx/dt = rhs(t, x, p) for all N trajectories at once on ``device``.

    t: (T,) grid; x0: (N, d) initial states; p: (N, P) parameters (held per trajectory).
    Returns (N, T, d) float64 on CPU. Raises SimulationError on blow-up."""
    from torchdiffeq import odeint

    t_d, x_d, p_d = (v.to(device=device, dtype=torch.float64) for v in (t, x0, p))

    def func(tt: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return rhs(tt, x, p_d)

    kw = dict(rtol=rtol, atol=atol, method=method, options=options)
    label = dict(name=name, time_units=time_units)
    if method == "rk4":  # our fixed-step RK4: lands exactly on the grid (see fixed_step_rk4)
        return fixed_step_rk4(func, t, t_d, x_d, options, progress, **label)
    try:
        with torch.no_grad():
            if not progress:
                out = odeint(func, x_d, t_d, **kw)
            else:
                from tqdm.auto import tqdm

                T = t_d.shape[0]
                n_chunks = min(T - 1, 50)
                bounds = sorted(set(np.linspace(0, T - 1, n_chunks + 1).round().astype(int).tolist()))
                pieces, x_cur = [x_d[None]], x_d
                bar = tqdm(total=float(t_d[-1] - t_d[0]), desc=f"{name} (torch, {x0.shape[0]} traj.)",
                           unit=time_units, bar_format="{l_bar}{bar}| {n:.3g}/{total:.3g} [{elapsed}<{remaining}]")
                for a, b in zip(bounds[:-1], bounds[1:]):
                    seg = odeint(func, x_cur, t_d[a:b + 1], **kw)
                    pieces.append(seg[1:])
                    x_cur = seg[-1]
                    bar.update(float(t_d[b] - t_d[a]))
                    if not bool(torch.isfinite(x_cur).all()):
                        break
                bar.close()
                out = torch.cat(pieces, dim=0)
                if out.shape[0] < T:  # stopped early on a blow-up: pad so the locator sees it
                    pad = torch.full((T - out.shape[0], *out.shape[1:]), float("nan"), dtype=out.dtype,
                                     device=out.device)
                    out = torch.cat([out, pad], dim=0)
    except (AssertionError, RuntimeError) as err:  # torchdiffeq: "underflow in dt nan", etc.
        # locate the culprit with the per-trajectory reference solver
        solve_scipy(rhs, t, x0, p, method="RK45", rtol=max(rtol, 1e-6), atol=max(atol, 1e-8), **label)
        raise SimulationError(f"{name}: the batched torch solve failed ({err}); solve with "
                              "backend='scipy' to locate the failing trajectory", trajectory=-1,
                              time=float("nan")) from err
    return _checked_states(out, t, **label)


def _checked_states(out: torch.Tensor, t: torch.Tensor, *, name: str, time_units: str) -> torch.Tensor:
    """(T, N, d) solver output -> (N, T, d) on CPU; SimulationError at the first non-finite state."""
    states = out.permute(1, 0, 2).to("cpu")
    loc = _first_nonfinite(states)
    if loc is not None:
        n_bad = int((~torch.isfinite(states).all(dim=-1)).any(dim=1).sum())
        raise _blowup(name, time_units, loc[0], float(t[loc[1]]), n_bad)
    return states.contiguous()


def fixed_step_rk4(func: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], t: torch.Tensor,
                   t_d: torch.Tensor, x_d: torch.Tensor, options: dict | None, progress: bool, *,
                   name: str = "system", time_units: str = "") -> torch.Tensor:
    """method="rk4" for dx/dt = func(t, x): ``options={"substeps": k}`` equal RK4 steps per grid
    interval (default 1), or ``{"step_size": h}`` (k = ceil(interval / h)); no interpolation
    error. t: (T,) on CPU, t_d/x_d: the grid and (N, d) initial states on the solve device.
    Returns (N, T, d) on CPU."""
    opts = dict(options or {})
    unknown = sorted(set(opts) - {"substeps", "step_size"})
    if unknown:
        raise ValueError(f"method='rk4' takes options 'substeps' or 'step_size', got {unknown}")
    k = opts.get("substeps", 1)
    if "step_size" in opts:
        h = float(opts["step_size"])
        if not h > 0:
            raise ValueError(f"step_size must be > 0, got {h}")
        k = max(1, math.ceil(float((t[1:] - t[:-1]).max()) / h - 1e-9))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=t.shape[0] - 1, desc=f"{name} (torch rk4, {x_d.shape[0]} traj.)", unit="step")
    with torch.inference_mode():
        out = rk4_grid(func, t_d, x_d, substeps=int(k), on_interval=(lambda i: bar.update(1)) if bar else None)
    if bar is not None:
        bar.close()
    return _checked_states(out, t, name=name, time_units=time_units)


def solve_scipy(rhs: Rhs, t: torch.Tensor, x0: torch.Tensor, p: torch.Tensor, *, method: str,
                rtol: float, atol: float, progress: bool = False, name: str = "system",
                time_units: str = "") -> torch.Tensor:
    """``solve_ivp`` per trajectory of dx/dt = rhs(t, x, p[i]) (x (d,), p[i] (P,) here).

    t: (T,) float64 CPU grid; x0: (N, d); p: (N, P). Returns (N, T, d) float64. Raises
    SimulationError on blow-up."""
    from scipy.integrate import solve_ivp

    t_np = t.numpy()
    n, d = x0.shape
    out = np.empty((n, t_np.shape[0], d), dtype=np.float64)
    it = range(n)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc=f"{name} (scipy {method})", unit="traj")
    for i in it:
        p_i = p[i]

        def fun(tt: float, y: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return rhs(torch.tensor(tt, dtype=torch.float64), torch.from_numpy(y), p_i).numpy()

        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            sol = solve_ivp(fun, (float(t_np[0]), float(t_np[-1])), x0[i].numpy(), method=method,
                            t_eval=t_np, rtol=rtol, atol=atol)
        y = np.asarray(sol.y, dtype=np.float64).reshape(d, -1).T  # (T_reached, d)
        ts = np.asarray(sol.t, dtype=np.float64).reshape(-1)
        finite_rows = np.isfinite(y).all(axis=1)
        if sol.status != 0 or y.shape[0] != t_np.shape[0] or not finite_rows.all():
            if y.shape[0] and not finite_rows.all():
                when = float(ts[int(np.argmin(finite_rows))])
            else:  # solver gave up: report where it stopped (first grid time it could not reach)
                when = float(t_np[min(y.shape[0], t_np.shape[0] - 1)])
            raise _blowup(name, time_units, i, when)
        out[i] = y
    return torch.from_numpy(out)
