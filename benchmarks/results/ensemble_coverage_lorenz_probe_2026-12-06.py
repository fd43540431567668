"""Probe (2026-12-06): why the validation scale narrowed the Lorenz-63 WARP ensemble's band (test 0.953 raw ->
0.870 calibrated in ensemble_coverage.py). Same settings as that run (WARP defaults, seeds 0-3 on data_seed=0,
30 s per run), with the default 16 validation trajectories and with 64. Per member: validation and test_id MSE
(the same distribution); per ensemble: the band's coverage on val / test_id / test, raw and calibrated.

    taskset -c 0 env OMP_NUM_THREADS=1 python benchmarks/results/ensemble_coverage_lorenz_probe_2026-12-06.py
"""
import json
import warnings

import numpy as np

import warp_phys

for n_val in (16, 64):
    members = []
    for seed in range(4):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            rec = warp_phys.reconstruct(system="lorenz63", seed=seed, data_seed=0, n_val=n_val, max_time=30.0,
                                        epochs=1_000_000, patience=1_000_000, device="cpu", progress=False)
        m = rec.all_metrics
        print(f"n_val {n_val} seed {seed}: val MSE {m['val']['mse']:.4g}, test_id MSE {m['test_id']['mse']:.4g}, "
              f"test MSE {m['test']['mse']:.4g}, epochs {rec.history.epochs_run} (best {rec.history.best_epoch})",
              flush=True)
        members.append(rec)
    for split in ("val", "test_id", "test"):
        raw = warp_phys.ensemble(members, split=split)
        cal = warp_phys.ensemble(members, split=split, calibrate=True)
        mr, mc = json.loads(raw.attrs["metrics"]), json.loads(cal.attrs["metrics"])
        print(f"n_val {n_val} {split:8s} ensemble MSE {mr['mse']:.4g} (mean single "
              f"{np.mean([r.all_metrics[split]['mse'] for r in members]):.4g}); coverage raw {mr['coverage_2std']:.3f}, "
              f"calibrated {mc['coverage_2std']:.3f} (x{cal.attrs['std_scale']:.3g})", flush=True)
