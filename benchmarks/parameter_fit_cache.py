"""Training WARP's grey box with ``parameter_fit``: the fit of every context at every step
against the fits kept in ``model.fit_cache`` (all training contexts fitted once, in large
batches, before the first step), side by side in one run.

    python benchmarks/parameter_fit_cache.py                 # about 1 minute on one core
    python benchmarks/parameter_fit_cache.py --n-train 8192 --steps 60

The model and training settings are the medium paper table's grey box on MSD (root network 32 x 2,
subspace memory of rank 8, the running least-squares input, forecast loss over 50 steps after a
100-step context, batch 16). Each arm trains the same seeded model for ``--steps`` optimiser steps
(``Trainer(batches_per_epoch=steps, epochs=1)``, no validation) and is timed from the call to the
return, the cached arm's fitting of all ``--n-train`` contexts included (that fitting is also timed
alone, on a fresh model, and subtracted for the per-step figure). Printed: seconds per run,
per step, the steps that fit in the medium table's 150 s budget, and the ratios; and the check that
both arms end with the same weights (the cached fit is the fresh one).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import format_machine, machine_info, markdown_table  # noqa: E402

from warp_phys import priors, systems  # noqa: E402
from warp_phys.data import fit_scaler, normalised_time  # noqa: E402
from warp_phys.model import WARP  # noqa: E402
from warp_phys.training import Trainer  # noqa: E402

N_CTX, HORIZON, BATCH, BUDGET_S = 100, 50, 16, 150.0


def data(n_train: int, seed: int):
    msd = systems.get("msd")
    ds = msd.simulate(n_train, params="train", protocol="paper", seed=seed)
    x, t = systems.trajectories_to_tensor(ds, dtype=torch.float32)
    scaler = fit_scaler(x)
    ctx = priors.BindContext(n_variables=2, dt=float(t[1] - t[0]), duration=float(t[-1] - t[0]), scaler=scaler,
                             system=msd)
    return scaler.normalise(x), normalised_time(t.numpy()), ctx


def build(ctx, seed: int) -> WARP:
    return WARP(2, width=32, depth=2, transition="subspace", rank=8, prior=priors.get("grey_box", margin=0.0),
                bind_context=ctx, parameter_fit=True, transition_input="lstsq", seed=seed)


def run(arm: str, z: torch.Tensor, tau: torch.Tensor, ctx, steps: int, seed: int) -> tuple[float, torch.nn.Module]:
    model = build(ctx, seed)
    if arm == "fit every step":
        model.fit_cache = None  # what training did before the cache
    trainer = Trainer(epochs=1, batches_per_epoch=steps, batch_size=BATCH, lr=1e-3, forecast_weight=1.0,
                      forecast_context=N_CTX, forecast_horizon=HORIZON, seed=seed, device="cpu", progress=False)
    t0 = time.perf_counter()
    trainer.fit(model, z, tau)
    return time.perf_counter() - t0, model


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-train", type=int, default=2048, help="training trajectories (the cached arm fits them all)")
    p.add_argument("--steps", type=int, default=40, help="optimiser steps per arm")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print("# Grey box with parameter_fit: fit at every step vs the fit cache (benchmarks/parameter_fit_cache.py)\n")
    print(format_machine(machine_info("cpu")))
    z, tau, ctx = data(args.n_train, args.seed)
    print(f"- MSD (paper protocol), {args.n_train} training trajectories, {args.steps} steps of batch {BATCH}, "
          f"context {N_CTX}, forecast loss over {HORIZON} steps\n")
    run("fit every step", z[:BATCH], tau, ctx, 1, args.seed)  # warm-up (first-call costs), not timed
    model = build(ctx, args.seed)  # the cached arm's fixed cost: fitting every training context, timed alone
    t0 = time.perf_counter()
    model.prefit_contexts(z[:, :N_CTX], tau[:N_CTX])
    fitting = time.perf_counter() - t0
    rows, models = [], {}
    for arm in ("fit every step", "cache"):
        wall, models[arm] = run(arm, z, tau, ctx, args.steps, args.seed)
        fixed = 0.0 if arm == "fit every step" else fitting
        per_step = (wall - fixed) / args.steps
        rows.append(dict(arm=arm, wall=wall, per_step=per_step, fixed=fixed,
                         in_budget=int(max(BUDGET_S - fixed, 0.0) / per_step)))
    same = all(torch.equal(a, b) for a, b in zip(models["fit every step"].state_dict().values(),
                                                 models["cache"].state_dict().values()))
    base = rows[0]
    table = [[r["arm"], f"{r['wall']:.1f}", f"{r['fixed']:.1f}", f"{r['per_step'] * 1e3:.0f}", r["in_budget"],
              f"{base['per_step'] / r['per_step']:.1f}x", f"{r['in_budget'] / base['in_budget']:.1f}x"] for r in rows]
    print(markdown_table(["arm", f"{args.steps} steps [s]", "fitting all contexts first [s]", "per step [ms]",
                          f"steps in {BUDGET_S:.0f} s", "per-step speed-up", "steps in budget, ratio"], table))
    print(f"\nSame weights after {args.steps} steps in both arms: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
