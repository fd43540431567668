"""Bounded work for every simulation: a step budget, a wall-clock budget, a stiffness pre-check
and an output-size check.

``System.simulate(max_steps=, max_time=)`` builds one `Budget` per call. The solvers
(``systems/solvers.py``) charge it: the scipy backend once per ``OdeSolver.step()`` of each
trajectory, the torch backend once per right-hand-side evaluation (a batched solve shares its
steps, so its budget is per solve; evaluations are converted to steps with the method's
stages per step, `STAGES`). When a budget runs out the solver raises `SolverBudgetError`
naming the system, the trajectory, the time reached, its parameters and the fix.

Before an explicit adaptive solve, `stiffness_rate` estimates each trajectory's fastest rate
(the spectral radius of the right-hand side's Jacobian at the initial state, 1/time units, by
finite differences); a trajectory that needs more than ``max_steps`` steps by that estimate
fails at once (`precheck`). `check_output_size` refuses outputs that cannot fit in memory.
Imports the utility layer only.
"""
from __future__ import annotations

import math
import os
import time
from typing import Callable, Mapping, Sequence

import torch

from warp_phys.validation import InputError

#: Default ``max_steps``: solver steps per trajectory (scipy) or per batched solve (torch).
#: Every protocol of the library needs under about 2,000 (measured with dopri5 / DOP853).
DEFAULT_MAX_STEPS = 20_000

#: Right-hand-side evaluations per step of the torch methods (FSAL pairs reuse one).
STAGES: dict[str, int] = {"dopri5": 6, "dopri8": 13, "bosh3": 3, "fehlberg2": 3, "adaptive_heun": 2,
                          "euler": 1, "midpoint": 2, "heun2": 2, "heun3": 3, "rk4": 4,
                          "explicit_adams": 1, "implicit_adams": 4, "fixed_adams": 4}

#: Largest |h * lambda| an explicit adaptive method stays stable at (generous: a lower bound
#: on the steps needed). Methods not listed (implicit: Radau, BDF, LSODA; fixed-step) are not
#: pre-checked.
STABILITY: dict[str, float] = {"RK23": 2.6, "RK45": 3.5, "DOP853": 6.5, "dopri5": 3.5, "dopri8": 6.5,
                               "bosh3": 2.6, "fehlberg2": 2.0, "adaptive_heun": 2.0}

IMPLICIT_HINT = "an implicit method (backend='scipy' with method='Radau', 'BDF' or 'LSODA')"

Describe = Callable[[int], str]


class SimulationError(ValueError):
    """A solve produced a non-finite state (the solution blew up or the solver failed).

    ``trajectory``: index of the first failing trajectory (-1: unknown); ``time``: the time
    of its first non-finite state (or where the solver gave up)."""

    def __init__(self, message: str, trajectory: int, time: float) -> None:
        super().__init__(message)
        self.trajectory = trajectory
        self.time = time


class SolverBudgetError(SimulationError):
    """A solve ran out of its step budget (``max_steps``) or wall-clock budget (``max_time``),
    or the stiffness pre-check showed it would. A `SimulationError`, hence a ValueError: the
    cause is an input (a parameter, the method or the budget) and the fix is another input.

    ``trajectory``/``time``: the trajectory and the time it had reached; ``steps``: the solver
    steps taken (estimated before solving for the pre-check); ``params``: {name: value}."""

    def __init__(self, message: str, trajectory: int, time: float, steps: float,
                 params: Mapping[str, float]) -> None:
        super().__init__(message, trajectory, time)
        self.steps = steps
        self.params = dict(params)


class Budget:
    """The work one ``simulate`` call may do: ``max_steps`` solver steps per trajectory (per
    batched solve for torch) and ``max_time`` seconds of wall clock for the whole call (None:
    no limit). ``method``: the solver method (sets the torch stages per step)."""

    def __init__(self, max_steps: int = DEFAULT_MAX_STEPS, max_time: float | None = None,
                 method: str = "") -> None:
        self.max_steps, self.max_time, self.method = int(max_steps), max_time, method
        self.start = time.perf_counter()
        self.stages = STAGES.get(method, 1)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def over(self, steps: float) -> str | None:
        """Which budget ``steps`` (and the clock) exceed: "max_steps", "max_time" or None."""
        if steps > self.max_steps:
            return "max_steps"
        if self.max_time is not None and self.elapsed() > self.max_time:
            return "max_time"
        return None

    def counter(self) -> "EvalCounter":
        return EvalCounter(self)


class BudgetHit(Exception):
    """Internal: raised inside a torch right-hand side when the budget runs out."""

    def __init__(self, which: str, t: torch.Tensor, x: torch.Tensor, steps: float) -> None:
        super().__init__(which)
        self.which, self.x, self.steps = which, x, steps
        self.t = float(t)  # read only here: no device sync per evaluation


class EvalCounter:
    """Counts right-hand-side evaluations of a batched torch solve against a `Budget`
    (steps = evaluations / stages, after one step's allowance for the start-up evaluations)."""

    def __init__(self, budget: Budget) -> None:
        self.budget, self.evals = budget, 0

    @property
    def steps(self) -> float:
        return max(0.0, (self.evals - 2) / self.budget.stages)

    def charge(self, t: torch.Tensor, x: torch.Tensor) -> None:
        self.evals += 1
        which = self.budget.over(self.steps)
        if which is not None:
            raise BudgetHit(which, t, x.detach(), self.steps)


# ---- stiffness ------------------------------------------------------------------------
def stiffness_rate(rhs: Callable, t0: float, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """(N,) spectral radius of d rhs / d x at the states x (N, d) (1/time units), by forward
    differences; inf where the right-hand side or its Jacobian is not finite."""
    x, p = x.detach().to("cpu", torch.float64), p.detach().to("cpu", torch.float64)
    t = torch.tensor(float(t0), dtype=torch.float64)
    with torch.no_grad():
        f0 = rhs(t, x, p)
        n, d = x.shape
        jac = torch.empty(n, d, d, dtype=torch.float64)
        h = 1e-7 * x.abs().clamp(min=1.0)
        for j in range(d):
            xj = x.clone()
            xj[:, j] = x[:, j] + h[:, j]
            jac[:, :, j] = (rhs(t, xj, p) - f0) / (xj[:, j] - x[:, j])[:, None]
        ok = torch.isfinite(jac).all(dim=(1, 2)) & torch.isfinite(f0).all(dim=1)
        rate = torch.full((n,), math.inf, dtype=torch.float64)
        if bool(ok.any()):
            rate[ok] = torch.linalg.eigvals(jac[ok]).abs().max(dim=1).values
    return rate


def precheck(rhs: Callable, t: torch.Tensor, x0: torch.Tensor, p: torch.Tensor, *, method: str,
             budget: Budget, name: str, describe: Describe, backend: str, time_units: str = "") -> None:
    """SolverBudgetError before any solving when an explicit adaptive ``method`` needs, by the
    stiffness estimate at the initial states, more than ``budget.max_steps`` steps for some
    trajectory. t: (T,) grid; x0: (N, d); p: (N, P). Non-finite right-hand sides are left to
    the solver (reported as a blow-up)."""
    bound = STABILITY.get(method)
    if bound is None:
        return
    try:
        rate = stiffness_rate(rhs, float(t[0]), x0, p)
    except Exception:  # noqa: BLE001  (an estimate only: never block a solve on it)
        return
    span = float(t[-1] - t[0])
    need = rate * span / bound
    finite_rhs = torch.isfinite(need)
    if not bool(finite_rhs.any()):
        return
    need = torch.where(finite_rhs, need, torch.zeros_like(need))
    i = int(need.argmax())
    if float(need[i]) <= budget.max_steps:
        return
    detail = (f"the Jacobian at its initial state has spectral radius {float(rate[i]):.3g} per time unit, so an "
              f"explicit method ({method}) needs at least about {float(need[i]):.3g} steps to cover t_span "
              f"({float(t[0]):g}, {float(t[-1]):g})")
    raise budget_error(name, i, float(t[0]), describe, budget, steps=float(need[i]), which="precheck", method=method,
                       backend=backend, time_units=time_units, detail=detail)


# ---- messages -------------------------------------------------------------------------
class Describer:
    """describe(i) -> "parameters m=0.03, k=10 (m = 1e-300 lies outside its protocol range [0.01,
    0.05]: the likely cause)" for trajectory i of p (N, P); ``values(i)`` -> {name: value}.
    ``ranges``: the protocol's (non-degenerate) range per parameter, to name the likely culprit."""

    def __init__(self, names: Sequence[str], p: torch.Tensor,
                 ranges: Mapping[str, tuple[float, float]] | None = None) -> None:
        self.names, self.p, self.ranges = list(names), p, dict(ranges or {})

    def values(self, i: int) -> dict[str, float]:
        return {k: float(v) for k, v in zip(self.names, self.p[i].tolist())} if i >= 0 else {}

    def __call__(self, i: int) -> str:
        vals = self.values(i)
        text = "parameters " + (", ".join(f"{k}={v:g}" for k, v in vals.items()) or "(none)")
        worst, far = None, 0.0
        for k, v in vals.items():
            if k not in self.ranges:
                continue
            lo, hi = self.ranges[k]
            dist = max(lo - v, v - hi, 0.0) / (hi - lo)
            if lo > 0 and v > 0:   # positive quantities: distance in decades counts too
                dist = max(dist, abs(math.log10(v / min(max(v, lo), hi))))
            if dist > far:
                worst, far = (k, v, lo, hi), dist
        if worst is not None:
            k, v, lo, hi = worst
            text += f" ({k} = {v:g} lies outside its protocol range [{lo:g}, {hi:g}]: the likely cause)"
        return text


def describer(names: Sequence[str], p: torch.Tensor,
              ranges: Mapping[str, tuple[float, float]] | None = None) -> Describer:
    """A `Describer` of the trajectories with parameters p (N, P) named ``names``."""
    return Describer(names, p, ranges)


def budget_error(name: str, i: int, t_reached: float, describe: Describe | None, budget: Budget, *,
                 steps: float, which: str, method: str, backend: str, detail: str = "",
                 time_units: str = "") -> SolverBudgetError:
    """The `SolverBudgetError` for trajectory ``i`` (which: "max_steps", "max_time", "precheck"
    or "fixed": a fixed-step method over budget) reached at time ``t_reached``."""
    about = describe(i) if describe is not None else ""
    params = describe.values(i) if isinstance(describe, Describer) else {}
    unit = "" if time_units in ("", "1") else f" {time_units}"
    if which == "fixed":
        msg = (f"{name}: method='{method}' would take {steps:.0f} fixed steps ({detail}), more than "
               f"max_steps={budget.max_steps}. Fix: pass max_steps >= {steps:.0f}, fewer substeps or a "
               "larger step_size, or an adaptive method (method=None)")
        return SolverBudgetError(msg, trajectory=i, time=t_reached, steps=steps, params=params)
    shared = "; the batch shares its steps" if backend == "torch" else ""
    if which == "max_time":
        head = (f"{name}: the wall-clock budget max_time={budget.max_time:g} s ran out on trajectory {i} "
                f"at t = {t_reached:g}{unit} after {steps:.0f} solver steps ({backend} {method})")
        fixes = ["pass a larger max_time (or max_time=None)"]
    elif which == "precheck":
        head = (f"{name}: trajectory {i} is too stiff for max_steps={budget.max_steps} (checked before "
                f"solving, at t = {t_reached:g}{unit}): {detail}")
        fixes = [f"pass max_steps above {steps:.3g}"] if steps <= 1e9 else []  # else: no budget is practical
    else:
        head = (f"{name}: the solver used up its budget of max_steps={budget.max_steps} steps on trajectory {i} "
                f"at t = {t_reached:g}{unit} ({backend} {method}{shared}){': ' + detail if detail else ''}")
        fixes = ["pass a larger max_steps"]
    if method not in ("Radau", "BDF", "LSODA"):
        fixes.append(f"use {IMPLICIT_HINT}")
    fixes.append("change the parameter values (the problem is stiff or fast there)")
    fix = ", ".join(fixes[:-1]) + (", or " if len(fixes) > 1 else "") + fixes[-1]
    msg = f"{head}; {about}. Fix: {fix}"
    return SolverBudgetError(msg, trajectory=i, time=t_reached, steps=steps, params=params)


# ---- sizes ----------------------------------------------------------------------------
def available_memory() -> int:
    """Bytes of memory available now: MemAvailable of /proc/meminfo, else os.sysconf's free
    pages, else a fixed 16 GiB."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 16 * 2**30


def check_output_size(name: str, n: int, n_steps: int, per_step: Sequence[int], bytes_per_value: int = 8,
                      copies: int = 2, what: str = "variables") -> None:
    """InputError before allocating when the output, n x n_steps x prod(per_step) values of
    ``bytes_per_value`` bytes, times ``copies`` (the peak while assembling it) exceeds the
    available memory; the message gives the size in GB and the largest batch that fits."""
    per_traj = int(n_steps) * math.prod(int(v) for v in per_step) * int(bytes_per_value)
    need = int(n) * per_traj
    avail = available_memory()
    limit = avail // copies
    if need <= limit:
        return
    shape = " x ".join(str(int(v)) for v in per_step)
    fit = max(0, limit // max(per_traj, 1))
    batch = (f"simulate at most {fit} trajectories per call and concatenate (xarray.concat(..., 'trajectory'))"
             if fit >= 1 else "use fewer time steps (n_steps) or a shorter t_span")
    raise InputError(
        f"{name}: n_trajectories={n} x n_steps={n_steps} x {shape} {what} x {bytes_per_value} bytes "
        f"needs {need / 1e9:.4g} GB, more than the {limit / 1e9:.3g} GB allowed (1/{copies} of the "
        f"{avail / 1e9:.3g} GB of memory available); {batch}")


__all__ = ["Budget", "DEFAULT_MAX_STEPS", "SimulationError", "SolverBudgetError", "available_memory",
           "Describer", "budget_error", "check_output_size", "describer", "precheck", "stiffness_rate"]
