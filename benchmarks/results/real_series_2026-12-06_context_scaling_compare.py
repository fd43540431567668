"""The context-scaling runs against the runs without it (2026-12-06): the four series (seeds 0-3,
the record_val runs without it) and the two macro series (seeds 0-1, both runs side by side); same
rows, budget and lr grid. Per series, "WARP, chosen on val" (the default rule: lowest normalised validation score
among the plain, phase and AR-lag rows), its mean validation score and test MSE over the seeds, and
test MSE / best classical; the same for the GRU's validation-chosen plain row.
Run from the repository root: python benchmarks/results/real_series_2026-12-06_context_scaling_compare.py"""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, "benchmarks")
from real_series import choose_warp_row  # noqa: E402

HERE = Path(__file__).resolve().parent


def _load(name):
    run = json.loads((HERE / name).read_text())
    return {s["series"]: (run, s) for s in run["summary"]}


scaled, without = {}, {}
for tag in ("a", "b"):
    scaled.update(_load(f"real_series_2026-12-06_context_scaling_{tag}.json"))
for series in ("sunspots", "co2", "nile", "elnino"):
    without.update(_load(f"real_series_2026-12-06_record_val_{series}.json"))
scaled.update(_load("real_series_2026-12-06_macro_scaled.json"))
without.update(_load("real_series_2026-12-06_macro_plain.json"))
for series in ("sunspots", "co2", "nile", "elnino", "us_gdp", "us_unemployment"):
    out = dict(series=series)
    for label, (run, summ) in (("without", without[series]), ("with", scaled[series])):
        rows = [r for r in run["rows"] if r["series"] == series]
        c = summ["classical"]
        best = min(c[k] for k in ("ar_mse", "ets_mse", "seasonal_naive_mse", "mse_persistence"))
        picks = [choose_warp_row(rows, seed, "normalised")[0] for seed in run["seeds"]]
        gru = [min((r for r in rows if r["model"] == "gru" and r["seed"] == seed and not r["variant"]),
                   key=lambda r: r["val"]) for seed in run["seeds"]]
        out[label] = dict(rows=[p["variant"] or "plain" for p in picks],
                          kept_start=[bool(p.get("kept_start")) for p in picks],
                          val=round(float(np.mean([p["val"] for p in picks])), 5),
                          test=[round(p["test_mse"], 4) for p in picks],
                          test_mean=round(float(np.mean([p["test_mse"] for p in picks])), 4),
                          ratio=round(float(np.mean([p["test_mse"] for p in picks])) / best, 3),
                          gru_val=round(float(np.mean([g["val"] for g in gru])), 5),
                          gru_test_mean=round(float(np.mean([g["test_mse"] for g in gru])), 4),
                          gru_ratio=round(float(np.mean([g["test_mse"] for g in gru])) / best, 3),
                          best_classical=round(best, 4))
    print(json.dumps(out))
