"""The ODE solvers behind ``System.simulate``: torch (batched torchdiffeq or fixed-step RK4) and
scipy (per trajectory), each with a bounded amount of work.

The solvers see a right-hand side ``rhs(t, x, p) -> dx/dt`` (t a 0-d tensor, x (N, d), p (N, P),
all float64) and plain tensors; ``name``/``time_units`` label messages and progress bars and
``describe(i)`` describes trajectory i (its parameters) in error messages. ``budget`` (a
`systems.budget.Budget`) bounds the work: `SolverBudgetError` when it runs out, `SimulationError`
at the first non-finite state (blow-up). Both name the trajectory, the time and the parameters.

``backend="torch"``: ``torchdiffeq.odeint`` solves all trajectories in ONE batched solve in
float64 (default method "dopri5"), on CPU or GPU; the adaptive step and the step budget are
shared by the batch. ``method="rk4"`` is a lean fixed-step RK4 landing on the grid points.
``backend="scipy"``: one ``scipy.integrate`` ``OdeSolver`` per trajectory (default "DOP853"),
stepped here exactly as ``solve_ivp(t_eval=...)`` does (same numbers), counting its steps.
"""
from __future__ import annotations

import math
import warnings
from typing import Callable

import numpy as np
import torch

from warp_phys.validation import InputError

from .budget import Budget, BudgetHit, Describe, SimulationError, budget_error, stiffness_rate
from .integrators import rk4_grid

#: rhs(t, x, p) -> dx/dt: t 0-d, x (N, d), p (N, P); returns (N, d).
Rhs = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

SCIPY_METHODS = ("RK23", "RK45", "DOP853", "Radau", "BDF", "LSODA")


def _first_nonfinite(states: torch.Tensor) -> tuple[int, int] | None:
    """(trajectory, time index) of the earliest non-finite state in (N, T, d), or None."""
    bad = ~torch.isfinite(states).all(dim=-1)  # (N, T)
    if not bool(bad.any()):
        return None
    T = states.shape[1]
    first = torch.where(bad.any(dim=1), bad.float().argmax(dim=1), torch.full_like(bad[:, 0], T, dtype=torch.long))
    i = int(first.argmin())
    return i, int(first[i])


def blowup(name: str, time_units: str, i: int, time: float, n_bad: int | None = None,
           describe: Describe | None = None) -> SimulationError:
    """The SimulationError of trajectory ``i`` first non-finite at ``time``."""
    extra = f" ({n_bad} trajectories in all)" if n_bad and n_bad > 1 else ""
    units = "" if time_units in ("1", "") else f" {time_units}"
    about = f" with {describe(i)}" if describe is not None else ""
    return SimulationError(
        f"{name}: the solution of trajectory {i} became non-finite at time t = {time:g}"
        f"{units}{extra}{about}; check its parameters and initial condition (ds coordinates), "
        "shorten t_span, tighten rtol/atol, or (method='rk4') use more substeps",
        trajectory=i, time=time)


def _checked_states(out: torch.Tensor, t: torch.Tensor, *, name: str, time_units: str,
                    describe: Describe | None = None) -> torch.Tensor:
    """(T, N, d) solver output -> (N, T, d) on CPU; SimulationError at the first non-finite state."""
    states = out.permute(1, 0, 2).to("cpu")
    loc = _first_nonfinite(states)
    if loc is not None:
        n_bad = int((~torch.isfinite(states).all(dim=-1)).any(dim=1).sum())
        raise blowup(name, time_units, loc[0], float(t[loc[1]]), n_bad, describe)
    return states.contiguous()


def _torch_budget_error(hit: BudgetHit, rhs: Rhs, p: torch.Tensor, *, name: str, describe: Describe | None,
                        budget: Budget, method: str, time_units: str) -> Exception:
    """The batch shares its steps: blame the stiffest trajectory at the state reached."""
    try:
        rate = stiffness_rate(rhs, hit.t, hit.x, p)
        rate = torch.where(torch.isfinite(rate), rate, torch.full_like(rate, 1e308))
        i = int(rate.argmax())
        detail = f"it is the stiffest of the batch there (spectral radius {float(rate[i]):.3g} per time unit)"
    except Exception:  # noqa: BLE001  (a diagnosis only)
        i, detail = 0, ""
    return budget_error(name, i, hit.t, describe, budget, steps=hit.steps, which=hit.which, method=method,
                        backend="torch", detail=detail, time_units=time_units)


def solve_torch(rhs: Rhs, t: torch.Tensor, x0: torch.Tensor, p: torch.Tensor, *, method: str,
                rtol: float, atol: float, device: torch.device, progress: bool = False,
                options: dict | None = None, name: str = "system", time_units: str = "",
                budget: Budget | None = None, describe: Describe | None = None) -> torch.Tensor:
    """Solve dx/dt = rhs(t, x, p) for all N trajectories at once on ``device``.

    t: (T,) grid; x0: (N, d) initial states; p: (N, P) parameters (held per trajectory).
    Returns (N, T, d) float64 on CPU. Raises SimulationError on blow-up and SolverBudgetError
    when ``budget`` (default: `Budget()`) runs out."""
    from torchdiffeq import odeint

    budget = budget or Budget(method=method)
    counter = budget.counter()
    t_d, x_d, p_d = (v.to(device=device, dtype=torch.float64) for v in (t, x0, p))

    def func(tt: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        counter.charge(tt, x)
        return rhs(tt, x, p_d)

    kw = dict(rtol=rtol, atol=atol, method=method, options=options)
    label = dict(name=name, time_units=time_units, describe=describe)
    errors = dict(rhs=rhs, p=p, name=name, describe=describe, budget=budget, method=method, time_units=time_units)
    if method == "rk4":  # our fixed-step RK4: lands exactly on the grid (see fixed_step_rk4)
        try:
            return fixed_step_rk4(func, t, t_d, x_d, options, progress, budget=budget, **label)
        except BudgetHit as hit:
            raise _torch_budget_error(hit, **errors) from None
    try:
        with torch.no_grad():
            out = odeint(func, x_d, t_d, **kw) if not progress else _chunked(odeint, func, x_d, t_d, kw, name,
                                                                              time_units)
    except BudgetHit as hit:
        raise _torch_budget_error(hit, **errors) from None
    except (AssertionError, RuntimeError) as err:  # torchdiffeq: "underflow in dt nan", etc.
        # locate the culprit with the per-trajectory reference solver (under a fresh budget)
        solve_scipy(rhs, t, x0, p, method="RK45", rtol=max(rtol, 1e-6), atol=max(atol, 1e-8),
                    budget=Budget(budget.max_steps, budget.max_time, "RK45"), **label)
        raise SimulationError(f"{name}: the batched torch solve failed ({err}); solve with "
                              "backend='scipy' to locate the failing trajectory", trajectory=-1,
                              time=float("nan")) from err
    return _checked_states(out, t, **label)


def _chunked(odeint: Callable, func: Callable, x_d: torch.Tensor, t_d: torch.Tensor, kw: dict, name: str,
             time_units: str) -> torch.Tensor:
    """odeint over up to 50 chunks of the grid with a tqdm bar; (T, N, d), NaN-padded after a blow-up."""
    from tqdm.auto import tqdm

    T = t_d.shape[0]
    n_chunks = min(T - 1, 50)
    bounds = sorted(set(np.linspace(0, T - 1, n_chunks + 1).round().astype(int).tolist()))
    pieces, x_cur = [x_d[None]], x_d
    bar = tqdm(total=float(t_d[-1] - t_d[0]), desc=f"{name} (torch, {x_d.shape[0]} traj.)",
               unit=time_units, bar_format="{l_bar}{bar}| {n:.3g}/{total:.3g} [{elapsed}<{remaining}]")
    try:
        for a, b in zip(bounds[:-1], bounds[1:]):
            seg = odeint(func, x_cur, t_d[a:b + 1], **kw)
            pieces.append(seg[1:])
            x_cur = seg[-1]
            bar.update(float(t_d[b] - t_d[a]))
            if not bool(torch.isfinite(x_cur).all()):
                break
    finally:
        bar.close()
    out = torch.cat(pieces, dim=0)
    if out.shape[0] < T:  # stopped early on a blow-up: pad so the locator sees it
        pad = torch.full((T - out.shape[0], *out.shape[1:]), float("nan"), dtype=out.dtype, device=out.device)
        out = torch.cat([out, pad], dim=0)
    return out


def fixed_step_rk4(func: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], t: torch.Tensor,
                   t_d: torch.Tensor, x_d: torch.Tensor, options: dict | None, progress: bool, *,
                   name: str = "system", time_units: str = "", budget: Budget | None = None,
                   describe: Describe | None = None) -> torch.Tensor:
    """method="rk4" for dx/dt = func(t, x): ``options={"substeps": k}`` equal RK4 steps per grid
    interval (default 1), or ``{"step_size": h}`` (k = ceil(interval / h)); no interpolation
    error. t: (T,) on CPU, t_d/x_d: the grid and (N, d) initial states on the solve device.
    Returns (N, T, d) on CPU. The (T - 1) k steps are checked against ``budget.max_steps``
    before solving (SolverBudgetError)."""
    opts = dict(options or {})
    unknown = sorted(set(opts) - {"substeps", "step_size"})
    if unknown:
        raise InputError(f"method='rk4' takes options 'substeps' or 'step_size', got {unknown}")
    k = opts.get("substeps", 1)
    if "step_size" in opts:
        h = float(opts["step_size"])
        if not h > 0:
            raise InputError(f"step_size must be > 0, got {h}; pass a positive step in time units")
        k = max(1, math.ceil(float((t[1:] - t[:-1]).max()) / h - 1e-9))
    need = (t.shape[0] - 1) * int(k)
    if budget is not None and need > budget.max_steps:
        raise budget_error(name, -1, float(t[0]), None, budget, steps=need, which="fixed", method="rk4",
                           backend="torch", detail=f"{t.shape[0] - 1} grid intervals x {k} substeps")
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=t.shape[0] - 1, desc=f"{name} (torch rk4, {x_d.shape[0]} traj.)", unit="step")
    with torch.inference_mode():
        out = rk4_grid(func, t_d, x_d, substeps=int(k), on_interval=(lambda i: bar.update(1)) if bar else None)
    if bar is not None:
        bar.close()
    return _checked_states(out, t, name=name, time_units=time_units, describe=describe)


def scipy_solver_class(method: str) -> type:
    """The public ``scipy.integrate`` OdeSolver class named ``method`` (InputError otherwise)."""
    import scipy.integrate as si

    if method not in SCIPY_METHODS:
        raise InputError(f"method {method!r} is not a scipy solver; with backend='scipy' choose one of "
                         f"{list(SCIPY_METHODS)} (Radau, BDF and LSODA are implicit: for stiff problems)")
    return getattr(si, method)


def _solve_one(fun: Callable, t_np: np.ndarray, y0: np.ndarray, cls: type, rtol: float, atol: float,
               budget: Budget) -> tuple[np.ndarray, np.ndarray, str | None, int, float]:
    """Step one OdeSolver over the grid as solve_ivp(t_eval=t_np) does. Returns (ts, ys (T', d),
    the budget that ran out ("max_steps"/"max_time"), "error: <message>" when a step raised, or
    None; steps taken; time reached); T' < T when it failed or stopped."""
    solver = cls(fun, float(t_np[0]), y0, float(t_np[-1]), vectorized=False, rtol=rtol, atol=atol)
    ts, ys, i_eval, steps = [], [], 0, 0
    while True:
        which = budget.over(steps + 1)
        if which is not None:
            break
        try:
            solver.step()
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as err:  # e.g. an inf Jacobian in Radau/BDF
            which = f"error: {err}"
            break
        steps += 1
        if solver.status == "failed":
            break
        i_new = int(np.searchsorted(t_np, solver.t, side="right"))
        if i_new > i_eval:
            sol = solver.dense_output()
            ts.append(t_np[i_eval:i_new])
            ys.append(sol(t_np[i_eval:i_new]))
            i_eval = i_new
        if solver.status == "finished":
            break
    d = y0.shape[0]
    t_out = np.hstack(ts) if ts else np.empty(0)
    y_out = np.hstack(ys).T if ys else np.empty((0, d))
    return t_out, y_out.reshape(-1, d), which, steps, float(solver.t)


def solve_scipy(rhs: Rhs, t: torch.Tensor, x0: torch.Tensor, p: torch.Tensor, *, method: str,
                rtol: float, atol: float, progress: bool = False, name: str = "system",
                time_units: str = "", budget: Budget | None = None,
                describe: Describe | None = None) -> torch.Tensor:
    """One scipy OdeSolver per trajectory of dx/dt = rhs(t, x, p[i]) (x (d,), p[i] (P,) here).

    t: (T,) float64 CPU grid; x0: (N, d); p: (N, P). Returns (N, T, d) float64. Raises
    SimulationError on blow-up and SolverBudgetError when ``budget`` runs out (``max_steps``
    per trajectory, ``max_time`` for the whole call)."""
    cls = scipy_solver_class(method)
    budget = budget or Budget(method=method)
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
            ts, y, which, steps, reached = _solve_one(fun, t_np, x0[i].numpy().astype(np.float64), cls, rtol, atol,
                                                      budget)
        finite_rows = np.isfinite(y).all(axis=1)
        if y.shape[0] and not finite_rows.all():
            raise blowup(name, time_units, i, float(ts[int(np.argmin(finite_rows))]), describe=describe)
        if which is not None and which.startswith("error: "):
            raise SimulationError(
                f"{name}: the scipy solver {method} failed on trajectory {i} at t = {reached:g} ({which[7:]}); "
                f"{describe(i) if describe is not None else ''}. Fix: change the parameter values or initial "
                "condition, or try another method (e.g. 'LSODA')", trajectory=i, time=reached)
        if which is not None:
            raise budget_error(name, i, reached, describe, budget, steps=steps, which=which, method=method,
                               backend="scipy", time_units=time_units)
        if y.shape[0] != t_np.shape[0]:  # solver gave up: report the first grid time it could not reach
            raise blowup(name, time_units, i, float(t_np[min(y.shape[0], t_np.shape[0] - 1)]), describe=describe)
        out[i] = y
    return torch.from_numpy(out)


__all__ = ["Rhs", "SCIPY_METHODS", "blowup", "fixed_step_rk4", "scipy_solver_class", "solve_scipy",
           "solve_torch"]
