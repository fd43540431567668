"""Rolling-origin scoring (--split-by forecast) with and without context scaling: "WARP, chosen on
val" (the default rule) per seed and its mean against the best classical forecaster, per series.
Without: the 2026-12-05 23:38 runs; with: the 2026-12-06 04:46 runs (same seeds 0-3, rows, budget, grid).
Run from the repository root: python benchmarks/results/real_series_2026-12-06_forecast_split_context_scaling_compare.py"""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, "benchmarks")
from real_series import choose_warp_row  # noqa: E402

HERE = Path(__file__).resolve().parent
runs = {"with": {}, "without": {}}
for tag in ("a", "b"):
    run = json.loads((HERE / f"real_series_2026-12-06_forecast_split_context_scaling_{tag}.json").read_text())
    runs["with"].update({s["series"]: (run, s) for s in run["summary"]})
for name in ("sunspots", "co2", "nile", "elnino"):
    run = json.loads((HERE / f"real_series_2026-12-05_forecast_split_{name}.json").read_text())
    runs["without"].update({s["series"]: (run, s) for s in run["summary"]})
for name in ("sunspots", "co2", "nile", "elnino"):
    out = dict(series=name)
    for label in ("without", "with"):
        run, summ = runs[label][name]
        best = min(summ["classical"][k] for k in ("ar_mse", "ets_mse", "seasonal_naive_mse", "mse_persistence"))
        picks = [choose_warp_row([r for r in run["rows"] if r["series"] == name], seed, "normalised")[0]
                 for seed in run["seeds"]]
        mean = float(np.mean([p["test_mse"] for p in picks]))
        out[label] = dict(rows=[p["variant"] or "plain" for p in picks], kept_start=[bool(p.get("kept_start")) for p in picks],
                          val=round(float(np.mean([p["val"] for p in picks])), 5),
                          test=[round(p["test_mse"], 4) for p in picks], test_mean=round(mean, 4),
                          best_classical=round(best, 4), ratio=round(mean / best, 3))
    print(json.dumps(out))
