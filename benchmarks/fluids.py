"""Fluid toys (issue 5): solver throughput, measured side by side in one run.

Section "solver": 2-D Navier-Stokes (Kolmogorov forcing, nu = 0.02, drag = 0.1, k_f = 4),
IF-RK4 steps of the torch solver (``warp_phys.systems.fluids.navier_stokes.ns_problem``)
against a straightforward single-threaded numpy rfft2 implementation of the same scheme
(``warp_phys.systems.fluids.reference_numpy.NumpyNS2D``), on 64^2 and 128^2 grids at
batch 1 and 16. Throughput is sample-steps per second (batch x steps / wall time; best of
--repeats timing blocks after a warm-up). The torch solver evaluates the nonlinear term in
Basdevant's form with 1-D passes that skip the 2/3-rule-truncated columns (4 transforms per
stage, vs 5 full rfft2/irfft2 in the numpy reference); both compute the same discrete operator,
and the "agree" column gives the max relative difference after one step in float64.

Usage:
    python benchmarks/fluids.py                  # every section
    python benchmarks/fluids.py --section solver --repeats 3
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import time
from typing import Callable

import numpy as np
import torch

from warp_phys.systems.fluids.navier_stokes import ns_problem, random_vorticity
from warp_phys.systems.fluids.reference_numpy import NumpyNS2D
from warp_phys.systems.fluids.timestepping import IFRK4

NU, DRAG, KF, DT = 0.02, 0.1, 4, 0.005


def _best_time(step: Callable[[], None], n_steps: int, repeats: int) -> float:
    """Seconds per step: best of ``repeats`` blocks of ``n_steps`` after one warm-up step."""
    step()
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n_steps):
            step()
        best = min(best, (time.perf_counter() - t0) / n_steps)
    return best


def _setup(n: int, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    w0 = random_vorticity(n, batch, torch.full((batch,), 0.5, dtype=torch.float64), 4.0,
                          torch.Generator().manual_seed(0))
    y = torch.arange(n, dtype=torch.float64) * 2 * math.pi / n
    forcing = (-KF * torch.cos(KF * y))[:, None].expand(batch, n, n).contiguous()
    return w0, forcing


def _torch_stepper(w0, forcing, dtype, device, threads: int | None):
    batch, n = w0.shape[0], w0.shape[-1]
    full = lambda v: torch.full((batch,), v, dtype=dtype, device=device)  # noqa: E731
    pr = ns_problem(n, full(NU), full(DRAG), forcing.to(device=device, dtype=dtype), dtype, device)
    stepper = IFRK4(pr.lin, pr.nonlinear, DT)
    state = [pr.to_spectral(w0.to(device=device, dtype=dtype)) * pr.mask]

    def step() -> None:
        if threads is not None:
            torch.set_num_threads(threads)
        state[0] = stepper.step(state[0])
        if device.type == "cuda":
            torch.cuda.synchronize()

    return step, pr, stepper, state


def solver_rows(grids=(64, 128), batches=(1, 16), repeats: int = 3, threads: int = 1) -> list[dict]:
    """One row per (grid, batch): sample-steps/s of numpy and of each torch variant.

    Torch runs on ``threads`` CPU threads (default 1, the numpy baseline's resources); with
    threads > 1 a multi-threaded float64 column is added."""
    default_threads = torch.get_num_threads()
    rows = []
    for n in grids:
        for batch in batches:
            w0, forcing = _setup(n, batch)
            n_steps = max(3, int(2e6 / (batch * n * n)))
            ref = NumpyNS2D(n, NU, DRAG, forcing.numpy(), DT)
            ref_state = [ref.to_spectral(w0.numpy())]

            def np_step() -> None:
                ref_state[0] = ref.step(ref_state[0])

            one_ref = ref.to_physical(ref.step(ref.to_spectral(w0.numpy())))
            row = {"grid": n, "batch": batch, "numpy": batch / _best_time(np_step, n_steps, repeats)}
            variants = [("torch f64", torch.float64, "cpu", 1), ("torch f32", torch.float32, "cpu", 1)]
            if threads > 1:
                variants.append((f"torch f64 {threads} threads", torch.float64, "cpu", threads))
            if torch.cuda.is_available():
                variants += [("cuda f64", torch.float64, "cuda", None), ("cuda f32", torch.float32, "cuda", None)]
            for label, dtype, dev, threads in variants:
                step, pr, stepper, _ = _torch_stepper(w0, forcing, dtype, torch.device(dev), threads)
                row[label] = batch / _best_time(step, n_steps * (20 if dev == "cuda" else 1), repeats)
                torch.set_num_threads(default_threads)
                if label == "torch f64":
                    one = pr.to_physical(stepper.step(pr.to_spectral(w0) * pr.mask)).numpy()
                    row["agree"] = float(np.abs(one - one_ref).max() / np.abs(one_ref).max())
            rows.append(row)
    return rows


def print_solver_table(rows: list[dict]) -> None:
    labels = [k for k in rows[0] if k.startswith(("torch", "cuda"))]
    print("\n### Navier-Stokes IF-RK4 throughput (sample-steps/s); numpy float64 and torch on 1 CPU "
          "thread unless labelled\n")
    head = ["grid", "batch", "numpy"] + labels + [f"{lab} / numpy" for lab in labels] + ["agree (f64, 1 step)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        cells = [f"{r['grid']}^2", str(r["batch"]), f"{r['numpy']:.0f}"]
        cells += [f"{r[lab]:.0f}" for lab in labels]
        cells += [f"**{r[lab] / r['numpy']:.2f}x**" for lab in labels]
        cells += [f"{r['agree']:.1e}"]
        print("| " + " | ".join(cells) + " |")


def run_solver(args: argparse.Namespace) -> None:
    print_solver_table(solver_rows(repeats=args.repeats, threads=args.threads))


# ---- sections --------------------------------------------------------------------------------
# The reconstruction benchmark of issue 5 (relative L2 vorticity error vs horizon for WARP,
# persistence, DMD and GRU on Kolmogorov flow) belongs here as its own section: add a
# ``run_reconstruction(args)`` beside ``run_solver`` and register it in SECTIONS.
# ---- reconstruction (fields engineer): WARP vs baselines on Kolmogorov flow ----------------------
def run_reconstruction(args: argparse.Namespace) -> None:
    """Relative L2 vorticity error vs forecast lead time for WARP, persistence, DMD and GRU on
    Kolmogorov flow (the ``navier_stokes_2d`` field recipe: 32^2, k_f = 3, nu = 0.05), all on
    the same simulated runs and the same POD basis; lead times also in Lyapunov times. Also
    compares POD with Fourier truncation (energy captured, projection error) at several r."""
    import warp_phys
    from warp_phys.fields import POD, FourierTruncation, relative_l2
    from warp_phys.fields.recipes import resolve_field_system
    from warp_phys.pipeline import field_splits

    sys_obj, recipe = resolve_field_system("kolmogorov")
    if args.recon_epochs is not None:
        recipe = recipe.replace(epochs=args.recon_epochs)
    t0 = time.perf_counter()
    splits = field_splits(sys_obj, recipe, args.recon_seed)
    t_sim = time.perf_counter() - t0
    train, test = splits.basis_data["vorticity"].values, splits.tests["test"]["vorticity"].values
    print(f"\n## Reconstruction: Kolmogorov flow {recipe.grid}^2, {sys_obj.options()}, params {sys_obj.params}")
    print(f"data: {splits.train.sizes['trajectory']} train / {splits.val.sizes['trajectory']} val / "
          f"{splits.tests['test'].sizes['trajectory']} test windows of {recipe.window} steps (dt = {recipe.dt} s), "
          f"context {recipe.context}; simulated in {t_sim:.0f} s")
    print("\n### Representation: energy captured on the test windows and projection error (no forecast)")
    print("| r | POD energy (train) | POD energy (test) | POD rel. L2 | Fourier energy (test) | Fourier rel. L2 |")
    print("|---|---|---|---|---|---|")
    pod_all = POD.fit(train, max(args.recon_ranks), n_grid_dims=2)
    for r in args.recon_ranks:
        pod = POD(pod_all.mean, pod_all.modes[:, :r], pod_all.grid_shape, pod_all.energy)
        four = FourierTruncation.fit(train, r, n_grid_dims=2)
        e_p = relative_l2(test, pod.decode(pod.encode(test)).numpy()).mean()
        e_f = relative_l2(test, four.decode(four.encode(test)).numpy()).mean()
        print(f"| {r} | {1 - pod.discarded_energy():.4f} | {pod.captured_energy(test):.4f} | {e_p:.3f} | "
              f"{four.captured_energy(test):.4f} | {e_f:.3f} |")

    curves, rows = {}, []
    for model in ("persistence", "dmd", "gru", "warp"):
        t0 = time.perf_counter()
        rec = warp_phys.reconstruct("kolmogorov", model=model, splits=splits, seed=args.recon_seed, progress=False,
                                    epochs=recipe.epochs)
        curves[model] = rec.error_curve.values
        h = rec.history
        rows.append((model, time.perf_counter() - t0, getattr(h, "epochs_run", 0), rec.metrics))
    m0 = rows[0][3]
    ctx, dt, ts = recipe.context, recipe.dt, recipe.time_scale
    h50 = m0["horizon_persistence_50"]
    k50 = int(round(h50 / dt)) - 1 + ctx
    T = len(curves["warp"])
    leads = sorted({ctx, ctx + 4, ctx + 9, k50, min(T - 1, ctx + 24), T - 1})
    print(f"\n### Mean relative L2 vorticity error vs lead time ({rows[0][3].get('rel_l2_projection', 0):.3f} = "
          f"POD r={recipe.rank} projection floor, for WARP/DMD/GRU); Lyapunov time {ts:.2f} s")
    print("| lead (s) | lead (Lyapunov times) | " + " | ".join(m for m, *_ in rows) + " |")
    print("|---|---|" + "---|" * len(rows))
    for k in leads:
        lead = (k - ctx + 1) * dt
        mark = " (persistence 50 %)" if k == k50 else ""
        print(f"| {lead:.1f}{mark} | {lead / ts:.2f} | " + " | ".join(f"{curves[m][k]:.3f}" for m, *_ in rows) + " |")
    print("| mean over the window | | " + " | ".join(f"{r[3]['rel_l2']:.3f}" for r in rows) + " |")
    best = min((curves[m][k50], m) for m in ("persistence", "dmd", "gru"))
    ratio = best[0] / curves["warp"][k50]
    print(f"\nAt the persistence-50 % horizon ({h50:.1f} s = {h50 / ts:.2f} Lyapunov times): WARP {curves['warp'][k50]:.3f}, "
          f"best baseline {best[1]} {best[0]:.3f}: ratio best-baseline / WARP = {ratio:.2f} (target >= 2)")
    print("\n| model | wall time (s) | epochs |")
    print("|---|---|---|")
    for model, wall, ep, _ in rows:
        print(f"| {model} | {wall:.0f} | {ep} |")


SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {"solver": run_solver,
                                                             "reconstruction": run_reconstruction}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--section", choices=sorted(SECTIONS), action="append",
                        help="run only these sections (default: all)")
    parser.add_argument("--repeats", type=int, default=3, help="timing blocks per measurement (best is kept)")
    parser.add_argument("--threads", type=int, default=1,
                        help="also time torch float64 on this many CPU threads (default 1: same as numpy)")
    parser.add_argument("--recon-epochs", type=int, default=None, help="reconstruction: training epochs "
                        "(default: the field recipe's)")
    parser.add_argument("--recon-seed", type=int, default=0, help="reconstruction: seed of data and models")
    parser.add_argument("--recon-ranks", type=int, nargs="+", default=[16, 32, 48, 64],
                        help="reconstruction: ranks of the POD / Fourier comparison")
    args = parser.parse_args()
    print(f"# benchmarks/fluids.py  ({platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, numpy {np.__version__}, cuda={torch.cuda.is_available()})")
    for name in args.section or list(SECTIONS):
        SECTIONS[name](args)


if __name__ == "__main__":
    main()
