"""Lyapunov exponents: the Benettin / QR spectrum of ODE systems, and the largest exponent
of any registered system (ODE or field) with its standard error over starts.

The state is advanced with a fixed-step RK4 on the system's torch right-hand side. The
k tangent vectors follow the tangent map of each block of ``renorm_every`` RK4 steps,
obtained by reverse-mode autograd (d batched vector-Jacobian products). Differentiating
the RK4 map equals integrating dQ/dt = J(x) Q with the same RK4 scheme, and it is cheaper
in eager PyTorch than forward-mode jvp at every stage (benchmarks/README.md).
After each block Q is re-orthonormalised by QR and log|diag R| accumulated;
the exponents are the accumulated logs divided by the elapsed time (1/time_units).

``largest_exponent`` estimates the largest exponent alone from ``n_starts`` independent
starts and quotes the standard error of the mean over them (``LyapunovEstimate``), by the
two-trajectory (Benettin) method: a partner trajectory a tiny distance away is advanced with
the same solver and pulled back to that distance at fixed intervals, accumulating the log of
its growth. It needs no autograd, so it is several times cheaper than the tangent method
for ODEs, and for field systems it uses the system's own pseudo-spectral stepper and step rule
(those of ``simulate``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch

from warp_phys.device import resolve_device
from warp_phys.systems.integrators import rk4_step
from warp_phys.validation import check_seed


def _params(system: Any, params: Any, batch: int) -> torch.Tensor:
    P = system.n_parameters
    if params is None:
        p = system.parameter_vector()
    elif isinstance(params, Mapping):
        unknown = sorted(set(params) - set(system.parameter_names))
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown}; valid parameters are {system.parameter_names}")
        p = torch.tensor([float(params.get(n, system.params[n])) for n in system.parameter_names],
                         dtype=torch.float64)
    else:
        p = torch.as_tensor(params, dtype=torch.float64)
    if p.shape == (P,):
        p = p.expand(batch, P)
    if p.shape != (batch, P):
        raise ValueError(f"params must have shape ({P},) or ({batch}, {P}) in the order "
                         f"{system.parameter_names}; got {tuple(p.shape)}")
    system.check_parameters(p)
    return p.clone()


def lyapunov_exponents(system: Any, x0: Any = None, params: Any = None, *, n_exponents: int = 1,
                       dt: float = 0.01, n_steps: int = 5_000, n_transient: int = 1_000, n_ensemble: int = 16,
                       renorm_every: int = 10, seed: int = 0, device: str | torch.device = "cpu"
                       ) -> torch.Tensor:
    """The ``n_exponents`` largest Lyapunov exponents (1/time_units), sorted descending.

    x0: (d,) or (B, d) starting states. None: ``n_ensemble`` starts drawn by
        ``system.sample_ic`` with ``seed``, and the ensemble mean (n_exponents,) is returned
        (finite-time exponents fluctuate from start to start; the mean is far steadier).
    params: None (current values), a dict of overrides, or a (P,)/(B, P) tensor.
    dt: RK4 step; n_transient steps are discarded before averaging over n_steps steps
    (total averaging time n_steps * dt). Returns (n_exponents,) for a (d,) x0, else
    (B, n_exponents). Average a batch over several starts for a lower-variance estimate.
    """
    if getattr(system, "kind", "ode") != "ode":
        raise ValueError(f"{system.name} is a {system.kind} system; Lyapunov exponents need an ODE system")
    d = system.n_variables
    for name, v in (("n_steps", n_steps), ("renorm_every", renorm_every)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    if not isinstance(n_transient, int) or n_transient < 0:
        raise ValueError(f"n_transient must be an integer >= 0, got {n_transient!r}")
    if not isinstance(n_exponents, int) or not 1 <= n_exponents <= d:
        raise ValueError(f"n_exponents must be an integer in [1, {d}] for {system.name}, got {n_exponents!r}")
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt!r}")
    dev = resolve_device(device)
    gen = torch.Generator().manual_seed(check_seed(seed))
    mean_out = x0 is None
    if x0 is None:
        if not isinstance(n_ensemble, int) or n_ensemble < 1:
            raise ValueError(f"n_ensemble must be an integer >= 1, got {n_ensemble!r}")
        x = system.sample_ic(n_ensemble, gen)
        single = False
    else:
        x = torch.as_tensor(x0, dtype=torch.float64)
        single = x.ndim == 1
        x = x.reshape(-1, d) if x.shape[-1] == d and x.ndim in (1, 2) else None
        if x is None:
            raise ValueError(f"x0 must have shape ({d},) or (B, {d}); got {tuple(torch.as_tensor(x0).shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x0 contains NaN/inf; pass a finite starting state")
    B = x.shape[0]
    p = _params(system, params, B).to(dev)
    x = x.to(dev)
    q = torch.linalg.qr(torch.randn(B, d, n_exponents, generator=gen, dtype=torch.float64))[0].to(dev)

    def f(tt: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
        return system.rhs(tt, xs, p)

    def rk4_state(t: float, xs: torch.Tensor) -> torch.Tensor:
        return rk4_step(f, torch.tensor(t, dtype=torch.float64, device=dev), xs, dt)

    t = 0.0
    with torch.no_grad():
        for _ in range(n_transient):
            x = rk4_state(t, x)
            t += dt
        eye = torch.eye(d, dtype=torch.float64, device=dev).unsqueeze(1).expand(d, B, d)
        logs = torch.zeros(B, n_exponents, dtype=torch.float64, device=dev)
        n_blocks = max(1, round(n_steps / renorm_every))
        n_align = max(1, n_transient // (4 * renorm_every))   # tangent transient: align Q, don't count
        for blk in range(n_align + n_blocks):
            # the tangent map of `renorm_every` RK4 steps by reverse-mode autograd: d batched
            # vector-Jacobian products give J (B, d, d). Differentiating the RK4 map is the same
            # as integrating the variational equation dQ/dt = J(x) Q with the same RK4 scheme.
            with torch.enable_grad():
                xr = x.detach().requires_grad_(True)
                y, t_end = xr, t
                for _ in range(renorm_every):
                    y = rk4_state(t_end, y)
                    t_end += dt
                rows = torch.autograd.grad(y, xr, eye, is_grads_batched=True)[0]   # (d, B, d)
            x, t = y.detach(), t_end
            if not bool(torch.isfinite(x).all()):
                raise ValueError(f"{system.name}: the trajectory became non-finite at t = {t:g} while "
                                 "computing Lyapunov exponents; reduce dt or check x0/params")
            q, r = torch.linalg.qr(rows.permute(1, 0, 2) @ q)
            if blk >= n_align:
                logs += torch.log(torch.diagonal(r, dim1=-2, dim2=-1).abs())
        lam = logs / (n_blocks * renorm_every * dt)
    lam = lam.sort(dim=-1, descending=True).values.cpu()
    if mean_out:
        return lam.mean(dim=0)
    return lam[0] if single else lam


@dataclass(frozen=True)
class LyapunovEstimate:
    """The largest Lyapunov exponent from ``n_starts`` independent starts.

    mean: the mean of the finite-time exponents (1/time_units); stderr: their sample standard
    deviation / sqrt(n_starts) (ddof 1); per_start: (n_starts,) the finite-time exponents,
    each averaged over ``horizon`` time units after ``transient`` and ``align`` were
    discarded; dt: the step used; method: a one-line description of the measurement.
    """

    mean: float
    stderr: float
    per_start: torch.Tensor
    n_starts: int
    horizon: float
    transient: float
    align: float
    dt: float
    method: str

    def zero_allowance(self, power: float = 2.0) -> float:
        """The finite-time value a zero exponent can show here: q ln((align + horizon) / align) /
        horizon for separations growing like t^q (q = ``power``; linear phase drift on a cycle or
        torus is q = 1) since the perturbation; inf when ``align`` is 0."""
        if self.align <= 0:
            return math.inf
        return power * math.log1p(self.horizon / self.align) / self.horizon

    def __str__(self) -> str:
        return f"{self.mean:.4g} +- {self.stderr:.2g} ({self.method})"


def _check_positive(name: str, v: Any, integer: bool = False) -> None:
    ok = (isinstance(v, int) and not isinstance(v, bool)) if integer else \
        (isinstance(v, (int, float)) and not isinstance(v, bool))
    if not ok or not math.isfinite(v) or v <= 0:
        kind = "an integer >= 1" if integer else "a positive number"
        raise ValueError(f"{name} must be {kind}, got {v!r}")


def largest_exponent(system: Any, *, n_starts: int = 16, horizon: float = 500.0,
                     transient: float | None = None, dt: float | None = None, seed: int = 0,
                     renorm_interval: float | None = None, grid: int | None = None,
                     eps: float = 1e-8, align: float | None = None, split: str = "train",
                     device: str | torch.device = "cpu") -> LyapunovEstimate:
    """The largest Lyapunov exponent of ``system`` at its current parameters: the mean over
    ``n_starts`` starts drawn with ``seed`` from the system's own initial-condition sampler
    (``sample_ic(split=split)`` for ODEs, the random initial field for field systems), with
    its standard error, by the two-trajectory method.

    horizon: averaging time per start (time_units). transient: time integrated first and
        discarded (None: 50 time units for ODEs, the system's ``default_spinup`` for fields);
        then a partner is placed at relative distance ``eps`` in a random direction, and
        ``align`` time units (None: min(transient / 4, horizon / 10)) let it align with the most
        unstable direction before the log-growth is accumulated. A zero exponent (regular
        motion, where separations grow like a power t^q of the time since the perturbation)
        shows a finite-time value up to about q ln((align + horizon) / align) / horizon.
    ODE systems: RK4 (as ``lyapunov_exponents``) with step ``dt`` (None: 0.01), Euclidean
        distance in the state variables, renormalised every ``renorm_interval`` (None: 10 steps).
    Field systems: the system's own stepper (``system.method``) on ``grid`` (None:
        ``default_grid``) with the step rule of ``simulate`` (Courant number 1 from the system's
        speed bound, capped by ``dt_cap``; ``dt`` replaces that target), the rms of the field
        difference as the distance, renormalised every ``renorm_interval`` (None: 1 time unit).
    """
    _check_positive("n_starts", n_starts, integer=True)
    if n_starts < 2:
        raise ValueError(f"n_starts must be >= 2 to quote a standard error, got {n_starts!r}")
    _check_positive("horizon", horizon)
    _check_positive("eps", eps)
    if transient is not None and not (isinstance(transient, (int, float)) and math.isfinite(transient)
                                      and transient >= 0):
        raise ValueError(f"transient must be a finite number >= 0, got {transient!r}")
    for name, v in (("dt", dt), ("renorm_interval", renorm_interval)):
        if v is not None:
            _check_positive(name, v)
    if align is not None and not (isinstance(align, (int, float)) and math.isfinite(align) and align >= 0):
        raise ValueError(f"align must be a finite number >= 0, got {align!r}")
    if getattr(system, "kind", "ode") == "field":
        return _field_largest_exponent(system, n_starts, float(horizon), transient, dt, check_seed(seed),
                                       renorm_interval, grid, float(eps), align, device)
    return _ode_largest_exponent(system, n_starts, float(horizon), transient, dt, check_seed(seed),
                                 renorm_interval, float(eps), align, split, device)


def _estimate(lam: torch.Tensor, horizon: float, transient: float, align: float, dt: float,
              method: str) -> LyapunovEstimate:
    lam = lam.detach().to(torch.float64).cpu()
    return LyapunovEstimate(mean=float(lam.mean()), stderr=float(lam.std() / math.sqrt(lam.numel())),
                            per_start=lam, n_starts=int(lam.numel()), horizon=float(horizon),
                            transient=float(transient), align=float(align), dt=float(dt), method=method)


def _blocks(transient: float, horizon: float, align: float | None, interval: float) -> tuple[int, int, int]:
    """(transient, alignment, averaging) numbers of renormalisation intervals."""
    n_trans = math.ceil(transient / interval - 1e-9)
    align = min(transient / 4, horizon / 10) if align is None else float(align)
    n_align = math.ceil(align / interval - 1e-9)
    return n_trans, n_align, max(1, round(horizon / interval))


def _two_trajectory(advance: Any, base: torch.Tensor, delta: torch.Tensor, distance: Any,
                    n_align: int, n_blocks: int) -> torch.Tensor:
    """Per-start sum of log(d / d0) over ``n_blocks`` intervals after ``n_align`` unscored ones.

    advance(pair, b): the stacked (2B, ...) states one renormalisation interval later;
    base (B, ...): the reference states; delta (B, ...): the initial separation;
    distance(sep) -> (B,) a norm of a separation."""
    B = base.shape[0]
    d0 = distance(delta)
    shape = (-1,) + (1,) * (base.ndim - 1)
    pair = torch.cat([base, base + delta])
    logs = torch.zeros(B, dtype=torch.float64, device=base.device)
    for b in range(n_align + n_blocks):
        pair = advance(pair, b)
        ref, sep = pair[:B], pair[B:] - pair[:B]
        d = distance(sep)
        if b >= n_align:
            logs += torch.log(d / d0).to(torch.float64)
        pair = torch.cat([ref, ref + sep * (d0 / d).reshape(shape)])
    return logs


def _nonfinite(system: Any, t: float) -> ValueError:
    return ValueError(f"{system.name}: the run became non-finite at t = {t:g} while estimating the "
                      "Lyapunov exponent; pass a smaller dt (or a finer grid for a field system)")


def _ode_largest_exponent(system: Any, n_starts: int, horizon: float, transient: float | None,
                          dt: float | None, seed: int, renorm_interval: float | None, eps: float,
                          align: float | None, split: str, device: Any) -> LyapunovEstimate:
    dev = resolve_device(device)
    dt = 0.01 if dt is None else float(dt)
    transient = 50.0 if transient is None else float(transient)
    per = 10 if renorm_interval is None else max(1, round(renorm_interval / dt))
    interval = per * dt
    n_trans, n_align, n_blocks = _blocks(transient, horizon, align, interval)
    gen = torch.Generator().manual_seed(seed)
    x = system.sample_ic(n_starts, gen, split=split).to(dev)
    p = _params(system, None, n_starts).to(dev)
    p2 = torch.cat([p, p])

    def run(xs: torch.Tensor, pp: torch.Tensor, t0: float) -> torch.Tensor:
        t = t0
        for _ in range(per):
            xs = rk4_step(lambda tt, xx: system.rhs(tt, xx, pp), torch.tensor(t, dtype=torch.float64, device=dev),
                          xs, dt)
            t += dt
        if not bool(torch.isfinite(xs).all()):
            raise _nonfinite(system, t)
        return xs

    with torch.no_grad():
        for b in range(n_trans):
            x = run(x, p, b * interval)
        direction = torch.randn(x.shape, generator=gen, dtype=torch.float64).to(dev)
        scale = eps * x.norm(dim=-1).clamp(min=1.0)
        delta = direction * (scale / direction.norm(dim=-1))[:, None]
        logs = _two_trajectory(lambda pair, b: run(pair, p2, (n_trans + b) * interval), x, delta,
                               lambda sep: sep.norm(dim=-1), n_align, n_blocks)
    lam = logs / (n_blocks * interval)
    method = (f"two-trajectory Benettin, RK4 dt={dt:g}, separation {eps:g} x max(|x|, 1) renormalised every "
              f"{interval:g}; {n_starts} starts from sample_ic({split!r}) (seed {seed}), {n_trans * interval:g} "
              f"transient + {n_align * interval:g} alignment + {n_blocks * interval:g} averaged "
              f"({system.time_units})")
    return _estimate(lam, n_blocks * interval, n_trans * interval, n_align * interval, dt, method)


def _field_largest_exponent(system: Any, n_starts: int, horizon: float, transient: float | None,
                            dt: float | None, seed: int, renorm_interval: float | None, grid: int | None,
                            eps: float, align: float | None, device: Any) -> LyapunovEstimate:
    from warp_phys.systems.fluids._field import COURANT_TARGET
    from warp_phys.systems.fluids.spectral import check_grid
    from warp_phys.systems.fluids.timestepping import STEPPERS

    dev = resolve_device(device)
    dtype = torch.float64
    grid = check_grid(int(system.default_grid if grid is None else grid))
    transient = float(system.default_spinup) if transient is None else float(transient)
    interval = 1.0 if renorm_interval is None else float(renorm_interval)
    gen = torch.Generator().manual_seed(seed)
    p = _params(system, None, n_starts)

    def problem_for(batch_p: torch.Tensor):
        pd = {name: batch_p[:, j].to(device=dev, dtype=dtype) for j, name in enumerate(system.parameter_names)}
        return pd, system._problem(grid, pd, dtype, dev)

    pd, problem = problem_for(p)
    u = problem.to_spectral(system._sample_initial(grid, n_starts, p, gen).to(device=dev, dtype=dtype)) * problem.mask
    system._check_resolution(grid, u, pd, problem)
    # the step rule of FieldSystem.simulate (Courant number COURANT_TARGET with the system's
    # a-priori speed bound, capped by dt_cap), shortened to divide the interval exactly
    speed = float(system._speed_bound(u, pd, problem).max())
    target = float(dt) if dt is not None else min(
        COURANT_TARGET / (speed * problem.k_max) if speed > 0 else math.inf, system.dt_cap(grid))
    per = max(1, math.ceil(interval / target - 1e-9))
    h = interval / per
    n_trans, n_align, n_blocks = _blocks(transient, horizon, align, interval)
    dims = tuple(range(1, 1 + len(system.grid_shape(grid))))

    def rms(field: torch.Tensor) -> torch.Tensor:
        return field.pow(2).mean(dim=dims).sqrt()

    def run(stepper: Any, state: torch.Tensor, t_end: float) -> torch.Tensor:
        for _ in range(per):
            state = stepper.step(state)
        if not bool(torch.isfinite(state).all()):
            raise _nonfinite(system, t_end)
        return state

    with torch.no_grad():
        stepper = STEPPERS[system.method](problem.lin, problem.nonlinear, h)
        for b in range(n_trans):
            u = run(stepper, u, (b + 1) * interval)
        # the partner: a zero-mean random perturbation of rms eps x rms(u), on the retained modes
        phys = problem.to_physical(u)
        noise = torch.randn(phys.shape, generator=gen, dtype=dtype).to(dev)
        delta = problem.to_spectral(noise - noise.mean(dim=dims, keepdim=True)) * problem.mask
        shape = (-1,) + (1,) * (u.ndim - 1)
        delta = delta * (eps * rms(phys) / rms(problem.to_physical(delta))).reshape(shape)
        _, problem2 = problem_for(torch.cat([p, p]))
        stepper2 = STEPPERS[system.method](problem2.lin, problem2.nonlinear, h)
        logs = _two_trajectory(lambda pair, b: run(stepper2, pair, (n_trans + n_align + b + 1) * interval),
                               u, delta, lambda sep: rms(problem.to_physical(sep)), n_align, n_blocks)
    lam = logs / (n_blocks * interval)
    method = (f"two-trajectory Benettin, {system.method} dt={h:.4g} on a {grid}-point grid, relative rms "
              f"separation {eps:g} renormalised every {interval:g}; {n_starts} random initial fields "
              f"(seed {seed}), {n_trans * interval:g} spin-up + {n_align * interval:g} alignment + "
              f"{n_blocks * interval:g} averaged ({system.time_units})")
    return _estimate(lam, n_blocks * interval, n_trans * interval, n_align * interval, h, method)


def settings_in_natural_time(system: Any, *, n_starts: int = 16, horizon: float = 40.0, transient: float = 10.0,
                             align: float = 10.0, steps_per_time: int = 200) -> dict[str, Any]:
    """Keyword arguments of `largest_exponent` in units of the system's natural time tau (its
    period or Lyapunov time, else a tenth of its default window): ``horizon``, ``transient``
    and ``align`` in tau, and for ODE systems dt = tau / ``steps_per_time``."""
    if system.time_scale:
        tau = float(system.time_scale)
    else:
        t0, t1 = system.default_t_span
        tau = (float(t1) - float(t0)) / 10
    out: dict[str, Any] = dict(n_starts=n_starts, horizon=horizon * tau, transient=transient * tau,
                               align=align * tau)
    if system.kind == "ode":
        out["dt"] = tau / steps_per_time
    return out

