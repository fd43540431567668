"""Lyapunov exponents of any ODE system by the Benettin / QR method.

The state is advanced with a fixed-step RK4 on the system's torch right-hand side. The
k tangent vectors follow the tangent map of each block of ``renorm_every`` RK4 steps,
obtained by reverse-mode autograd (d batched vector-Jacobian products). Differentiating
the RK4 map equals integrating dQ/dt = J(x) Q with the same RK4 scheme, and it is about
8x cheaper in eager PyTorch than forward-mode jvp at every stage (measured on CPU).
After each block Q is re-orthonormalised by QR and log|diag R| accumulated;
the exponents are the accumulated logs divided by the elapsed time (1/time_units).
"""
from __future__ import annotations

from typing import Any, Mapping

import torch

from warp_phys.device import resolve_device
from warp_phys.systems.integrators import rk4_step


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
    gen = torch.Generator().manual_seed(int(seed))
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
