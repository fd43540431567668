"""One-off: the medium MSD row of the quadratic prior (paper_table.py's warp_quadratic, 150 s) when
the observations are noisy, as grey_box_noise_2026-12-05.txt did for the grey box: Gaussian noise of
std LEVEL x (each variable's std over the training split) on every step of the training and
validation trajectories and on the context steps of the test trajectories; the forecast is scored
against the clean test future. argv: level [seed]"""
import json, sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import paper_table as pt
level = float(sys.argv[1])
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
t0 = time.perf_counter()
splits = pt.simulate_dataset("msd", seed, "medium")
sd = splits.train["state"].std(("trajectory", "time")).values  # (variable,)
rng = np.random.default_rng(1000 + seed)


def noisy(ds, steps=None):
    st = ds["state"].transpose("trajectory", "time", "variable")
    noise = rng.normal(size=st.shape) * sd * level
    if steps is not None:
        noise[:, steps:] = 0.0
    return ds.assign(state=(st.dims, st.values + noise, st.attrs))


splits.train, splits.val = noisy(splits.train), noisy(splits.val)
ctx = pt.DATASETS["msd"]["context"]
splits.tests = {k: noisy(v, ctx) for k, v in splits.tests.items()}
row = pt.run_one("msd", "warp_quadratic", seed, "medium", "cpu", splits=splits)
keep = {k: row.get(k) for k in ("mse", "val_score", "epochs_run", "best_epoch", "stop_reason", "wall_s",
                                "mse_inside_box", "mse_outside_box", "mse_median_traj", "zero_mse")}
keep.update(level=level, variant="warp_quadratic", seed=seed, total_s=round(time.perf_counter() - t0))
print(json.dumps(keep, default=str), flush=True)
