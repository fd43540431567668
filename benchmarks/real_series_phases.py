"""Known phases as inputs on the seasonal real series: WARP and GRU with and without ``phases=``.

    python benchmarks/real_series_phases.py --out benchmarks/results/real_series_phases_2026-12-05.json

For CO2 (weekly, period 52.18 steps) and El Nino (monthly, period 12 steps), the settings of
`real_series.SERIES` and its `run_one` (same wall-clock budget per run, ``output_clip=5`` for
WARP): for each seed, model and variant (no phases / ``phases=(P,)``) every learning rate of
the grid is trained, the one with the best validation score is chosen (validation only), and
its test MSE is reported beside the best classical forecaster of the same run (AR, ETS,
seasonal naive, persistence; the best is picked on test, which flatters the classical side).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info  # noqa: E402
from real_series import LRS, SERIES, run_one  # noqa: E402

PERIODS = {"co2": 52.18, "elnino": 12}
CLASSICAL = ("ar_mse", "ets_mse", "seasonal_naive_mse", "mse_persistence")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=20.0)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--series", nargs="+", default=list(PERIODS), choices=list(PERIODS))
    p.add_argument("--models", nargs="+", default=["warp", "gru"])
    p.add_argument("--lrs", type=float, nargs="+", default=list(LRS))
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    rows, chosen = [], []
    for name in args.series:
        loader, settings = SERIES[name]
        y, t, about = loader()
        print(f"## {name}: {about}; period {PERIODS[name]} steps", flush=True)
        for seed in args.seeds:
            for model in args.models:
                for variant, extra in (("none", {}), ("phases", {"phases": (PERIODS[name],)})):
                    grid = []
                    for lr in args.lrs:
                        rec, row = run_one(y, t, dict(settings), model, lr, seed, args.budget, extra)
                        row.update(series=name, variant=variant)
                        if rec is not None:
                            row.update({k: float(rec.metrics[k]) for k in CLASSICAL})
                        grid.append(row)
                        rows.append(row)
                        print(f"  seed {seed} {model} {variant:<6} lr {lr:g}: val {row['val']:.4g} "
                              f"test {row['test_mse']:.4g} epochs {row['epochs']} (best {row['best_epoch']})",
                              flush=True)
                    best = dict(min(grid, key=lambda r: r["val"] if np.isfinite(r["val"]) else np.inf))
                    best["best_classical"] = min((best[k], k) for k in CLASSICAL if k in best)
                    chosen.append(best)
    print("\n| series | model | phases | seed | chosen lr | val | test MSE | best classical (test) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in chosen:
        c = r["best_classical"]
        print(f"| {r['series']} | {r['model']} | {r['variant']} | {r['seed']} | {r['lr']:g} | {r['val']:.4g} | "
              f"{r['test_mse']:.4g} | {c[0]:.4g} ({c[1]}) |")
    result = dict(machine=machine_info("cpu"), budget=args.budget, seeds=args.seeds, lrs=args.lrs, periods=PERIODS,
                  rows=rows, chosen=chosen)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1, default=str))
    return result


if __name__ == "__main__":
    main()
