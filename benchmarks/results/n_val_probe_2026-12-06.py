"""Probe (2026-12-06): the default number of validation trajectories of the system recipes (16).

Each system at its default recipe, model and prior, as `reconstruct(system=S)` gives a user, seeds 0-3 on one
data set (data_seed=0: the same training and test trajectories for both settings), once with the default
validation split and once with n_val=64. Prints per run the validation-chosen epoch's test MSE and the wall time.

    taskset -c 0 env OMP_NUM_THREADS=1 python benchmarks/results/n_val_probe_2026-12-06.py lorenz63 mass_spring_damper lotka_volterra
"""
import json
import sys
import time
import warnings

import numpy as np

import warp_phys

rows = []
for system in sys.argv[1:]:
    for n_val in (None, 64):
        for seed in range(4):
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                extra = {} if n_val is None else {"n_val": n_val}
                rec = warp_phys.reconstruct(system=system, seed=seed, data_seed=0, device="cpu", progress=False, **extra)
            wall = time.perf_counter() - t0
            row = dict(system=system, n_val=int(rec.datasets["val"].sizes["trajectory"]), seed=seed,
                       test_mse=float(rec.metrics["mse"]), val_mse=float(rec.all_metrics["val"]["mse"]),
                       test_id_mse=float(rec.all_metrics.get("test_id", {}).get("mse", float("nan"))),
                       epochs=int(rec.history.epochs_run), best_epoch=int(rec.history.best_epoch), wall=wall,
                       model=rec.model_name, prior=rec.prior_name)
            rows.append(row)
            print(json.dumps(row), flush=True)
    a = [r for r in rows if r["system"] == system]
    for n in sorted({r["n_val"] for r in a}):
        b = [r for r in a if r["n_val"] == n]
        each = " / ".join(f"{r['test_mse']:.4g}" for r in b)
        print(f"{system} n_val {n}: mean test MSE {np.mean([r['test_mse'] for r in b]):.4g} (seeds {each}), "
              f"mean wall {np.mean([r['wall'] for r in b]):.1f} s", flush=True)
