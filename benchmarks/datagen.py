"""Data generation speed: one batched torch solve vs a per-trajectory solve_ivp loop.

Lorenz-63, N trajectories x S steps over t in [0, T] (default 1,024 x 1,000 over [0, 10]),
parameters and initial conditions from the training ranges (seed 0).

Accuracy is matched against a tight reference (scipy DOP853, rtol = atol = 1e-12) on the
first --n-ref trajectories. Lorenz-63 is chaotic (lambda ~ 0.9), so any solver's error grows
like e^{0.9 t} and the full-horizon difference saturates at the attractor size for every
solver; errors are therefore measured over t in [0, --err-t] (default 2, before divergence)
as the maximum absolute error divided by the attractor scale (max |state|).

The scipy loop uses a plain numpy right-hand side (the way research scripts do it; faster
than calling the torch rhs from scipy). Usage:
    python benchmarks/datagen.py                   # the full run
    python benchmarks/datagen.py --n 128 --n-scipy 64   # quick
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch
from scipy.integrate import solve_ivp

from warp_phys.systems import get
from warp_phys.systems.simulate import resolve_ic, resolve_params


def lorenz_np(t, u, sigma, rho, beta):
    x, y, z = u
    return [sigma * (y - x), x * (rho - z) - y, x * y - beta * z]


def scipy_loop(t, x0, p, method, rtol, atol):
    out = np.empty((x0.shape[0], t.shape[0], 3))
    for i in range(x0.shape[0]):
        sol = solve_ivp(lorenz_np, (t[0], t[-1]), x0[i], method=method, t_eval=t, rtol=rtol, atol=atol,
                        args=tuple(p[i]))
        out[i] = sol.y.T
    return out


def err(states, ref, t, t_max):
    k = t <= t_max + 1e-12
    n = ref.shape[0]
    return float(np.abs(states[:n, k] - ref[:, k]).max() / np.abs(ref).max())


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads){gpu}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1024, help="trajectories (default 1024)")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--t-end", type=float, default=10.0)
    ap.add_argument("--n-scipy", type=int, default=None,
                    help="time the scipy loop on this many trajectories and scale to --n (default: all)")
    ap.add_argument("--n-ref", type=int, default=16)
    ap.add_argument("--err-t", type=float, default=2.0)
    ap.add_argument("--scipy-method", default="RK45")
    ap.add_argument("--scipy-rtol", type=float, default=1e-6)
    ap.add_argument("--torch-rtol", type=float, default=1e-8)
    ap.add_argument("--rk4-substeps", type=int, default=2, help="fixed RK4 steps per grid interval")
    ap.add_argument("--device", default="cpu", help="torch device for the batched solves (cpu, cuda, auto)")
    args = ap.parse_args()

    s = get("lorenz")
    t = torch.linspace(0.0, args.t_end, args.steps, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    proto = s.protocol()
    p, src = resolve_params(s, "train", args.n, gen, proto)
    x0, _ = resolve_ic(s, None, args.n, gen, proto, p, src)
    t_np, p_np, x0_np = t.numpy(), p.numpy(), x0.numpy()
    dt = float(t[1] - t[0])

    ref = scipy_loop(t_np, x0_np[: args.n_ref], p_np[: args.n_ref], "DOP853", 1e-12, 1e-12)

    rows = []
    n_sc = args.n_scipy or args.n
    t0 = time.perf_counter()
    sc = scipy_loop(t_np, x0_np[:n_sc], p_np[:n_sc], args.scipy_method, args.scipy_rtol, args.scipy_rtol * 1e-2)
    t_sc = (time.perf_counter() - t0) * args.n / n_sc
    label = f"solve_ivp loop ({args.scipy_method}, rtol {args.scipy_rtol:g})"
    if n_sc != args.n:
        label += f" [timed on {n_sc}, scaled]"
    rows.append((label, t_sc, err(sc, ref, t_np, args.err_t)))

    common = dict(params=p, ic=x0, device=args.device)
    for name, kw in [(f"torch batched dopri5 (rtol {args.torch_rtol:g})",
                      dict(method="dopri5", rtol=args.torch_rtol, atol=args.torch_rtol * 1e-2)),
                     (f"torch batched rk4 (fixed step {dt / args.rk4_substeps:.2g})",
                      dict(method="rk4", options={"substeps": args.rk4_substeps}))]:
        s.simulate(min(args.n, 8), (0.0, 10 * dt), 11, params=p[:8], ic=x0[:8], device=args.device, **kw)  # warm-up
        t0 = time.perf_counter()
        ds = s.simulate(args.n, (0.0, args.t_end), args.steps, **common, **kw)
        if args.device != "cpu" and torch.cuda.is_available():
            torch.cuda.synchronize()
        rows.append((name, time.perf_counter() - t0, err(ds.state.values, ref, t_np, args.err_t)))

    print(f"\nLorenz-63 data generation: {args.n} trajectories x {args.steps} steps, t in [0, {args.t_end:g}]; "
          f"device {args.device}")
    print(f"machine: {machine()}")
    print(f"error: max |x - x_ref| / max |x_ref| over t in [0, {args.err_t:g}] on {args.n_ref} trajectories, "
          "reference DOP853 rtol=atol=1e-12\n")
    print("| solver | time (s) | speed-up vs solve_ivp loop | error |")
    print("|---|---|---|---|")
    for name, secs, e in rows:
        print(f"| {name} | {secs:.2f} | {rows[0][1] / secs:.1f}x | {e:.1e} |")


if __name__ == "__main__":
    main()
