"""Probe (2026-12-06): is a single gaussian WARP run's band too narrow because its NLL is trained teacher forced?

Gaussian WARP (`output="gaussian"`) on one system, seeds 0-3 on data_seed=0, 30 s per run (clock-stopped), the
recipe's teacher forcing (p_force=1) against one parallel feedback pass of its own predictions
(`p_force=0, feedback_passes=1`: the NLL then scores fed-back predictions). Prints per run the test MSE and the coverage of
its own +-2 std band on test and test_id, raw and scaled on its validation split.

    taskset -c 0 env OMP_NUM_THREADS=1 python benchmarks/results/gaussian_feedback_probe_2026-12-06.py mass_spring_damper
"""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import ensemble_coverage as EC  # noqa: E402

system = sys.argv[1]
for name, extra in (("teacher forced", {}), ("feedback_passes=1", {"p_force": 0.0, "feedback_passes": 1})):
    members = EC.train_members(system, dict(model="warp", output="gaussian", **extra), [0, 1, 2, 3], 30.0)
    for split in ("test", "test_id"):
        raw = [EC.coverage(m.datasets[split]) for m in members]
        cal = [EC.single_calibrated(m, split) for m in members]
        mse = [float(m.all_metrics[split]["mse"]) for m in members]
        print(json.dumps(dict(system=system, variant=name, split=split, mse=mse, coverage=raw, calibrated=cal)))
        print(f"{system} {name:18s} {split:7s} mean MSE {np.mean(mse):.4g}, band raw {np.mean(raw):.3f} "
              f"({' / '.join(f'{c:.2f}' for c in raw)}), calibrated {np.mean(cal):.3f}", flush=True)
