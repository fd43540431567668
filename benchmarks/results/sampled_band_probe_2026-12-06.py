"""Probe (2026-12-06): does ancestral sampling give a single gaussian WARP run a band that holds?

Gaussian WARP (`output="gaussian"`) on one system, seeds 0-3 on data_seed=0, 30 s per run (clock-stopped; the
runs of `benchmarks/ensemble_coverage.py`'s "warp gaussian" variant). For every run and scored split: the plain
forecast's band (the mean fed back, the one-step std) against `warp_phys.sampled_forecast` with 32 paths
(seeded), raw and scaled on the run's own validation split; the MSE of both means over the forecast window.
Added at 21:58 UTC (second run): "mixed", the plain forecast's mean with the sampled std.

    taskset -c 0 env OMP_NUM_THREADS=1 python benchmarks/results/sampled_band_probe_2026-12-06.py mass_spring_damper
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import ensemble_coverage as EC  # noqa: E402

from warp_phys.data import normalised_time  # noqa: E402
from warp_phys.metrics import coverage_scale, forecast_window, interval_coverage  # noqa: E402
from warp_phys.sampled_forecast import sampled_forecast  # noqa: E402

SAMPLES = 32


def arrays(rec, split):
    ds = rec.datasets[split]
    order = ("trajectory", "time", "variable")
    truth = ds["state"].transpose(*order).values
    plain = (ds["prediction_mean"].transpose(*order).values, ds["prediction_std"].transpose(*order).values)
    z = rec.encode(ds).to(torch.float32)
    tau = normalised_time(ds["time"].values)
    pred = sampled_forecast(rec.model, z[:, :rec.context], tau, samples=SAMPLES,
                            generator=torch.Generator().manual_seed(0))
    mean, std = rec.encoder.decode(pred.mean, pred.std)
    return truth, plain, (np.asarray(mean), np.asarray(std)), forecast_window(truth.shape[1], rec.context, rec.horizon)


system = sys.argv[1]
members = EC.train_members(system, dict(model="warp", output="gaussian"), [0, 1, 2, 3], 30.0)
rows = []
for i, rec in enumerate(members):
    val = arrays(rec, "val")
    scales = {name: coverage_scale(val[0], *val[k], val[3]) for name, k in (("plain", 1), ("sampled", 2))}
    scales["mixed"] = coverage_scale(val[0], val[1][0], val[2][1], val[3])
    for split in [s for s in ("val", "test", "test_id") if s in rec.datasets]:
        truth, plain, sampled, w = val if split == "val" else arrays(rec, split)
        row = dict(system=system, seed=i, split=split, **{f"scale_{k}": v for k, v in scales.items()})
        for name, (m, s) in (("plain", plain), ("sampled", sampled), ("mixed", (plain[0], sampled[1]))):
            row[f"mse_{name}"] = float(np.mean((truth[:, w] - m[:, w]) ** 2))
            row[f"cov_{name}"] = float(interval_coverage(truth, m, s, w))
            row[f"cov_{name}_cal"] = float(interval_coverage(truth, m, scales[name] * s, w))
        rows.append(row)
        print(json.dumps(row), flush=True)
for split in ("val", "test", "test_id"):
    sel = [r for r in rows if r["split"] == split]
    if sel:
        mean = {k: float(np.mean([r[k] for r in sel])) for k in sel[0] if k.startswith(("mse", "cov", "scale"))}
        print(f"{system} {split:7s} " + "  ".join(f"{k} {v:.4g}" for k, v in mean.items()), flush=True)
