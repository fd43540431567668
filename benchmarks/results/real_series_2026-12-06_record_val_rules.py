"""Both selection rules of real_series.py applied to the same rows (the 2026-12-06 record_val runs):
"WARP, chosen on val" per seed by the record-unit validation MSE among every WARP row, and by the
normalised validation score among the plain, phase and AR-lag rows (the earlier rule).
Run from the repository root: python benchmarks/results/real_series_2026-12-06_record_val_rules.py"""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, "benchmarks")
from real_series import choose_warp_row  # noqa: E402

HERE = Path(__file__).resolve().parent
for series in ("sunspots", "co2", "nile", "elnino"):
    run = json.loads((HERE / f"real_series_2026-12-06_record_val_{series}.json").read_text())
    best = min(run["summary"][0]["classical"][k] for k in ("ar_mse", "ets_mse", "seasonal_naive_mse", "mse_persistence"))
    out = {}
    for rule in ("record", "normalised"):
        picks = []
        for seed in run["seeds"]:
            pick, _ = choose_warp_row(run["rows"], seed, rule)
            picks.append((pick["variant"] or "plain", pick["test_mse"]))
        mean = float(np.mean([t for _, t in picks]))
        out[rule] = dict(per_seed=[round(t, 4) for _, t in picks], rows=[v for v, _ in picks], mean=round(mean, 4),
                         ratio=round(mean / best, 3))
    print(json.dumps(dict(series=series, best_classical=round(best, 4), **out)))
