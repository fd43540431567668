"""One-off probe (2026-12-06): does a learning rate that decays over the wall-clock budget help
black-box WARP on MSD at medium scale (150 s)? The Trainer is patched here (no package change):
before every optimiser step lr = peak * (1 + cos(pi * u)) / 2, u = elapsed / budget, elapsed
counted from the first training step. Everything else is paper_table.py's medium settings.

    python lr_decay_probe_2026-12-06.py SEED VARIANT   # VARIANT: base | cos1e-3 | cos3e-3
"""
import json
import math
import sys
import time

sys.path.insert(0, "benchmarks")
import paper_table  # noqa: E402
import warp_phys.training as training  # noqa: E402

seed, variant = int(sys.argv[1]), sys.argv[2]
BUDGET = paper_table.BUDGET_S["medium"]
PEAK = {"base": None, "cos1e-3": 1e-3, "cos3e-3": 3e-3}[variant]
_orig = training.train_epoch


def patched(**kw):
    opt = kw["opt"]
    if PEAK is not None and not hasattr(opt, "_probe_t0"):
        opt._probe_t0 = time.perf_counter()
        step = opt.step

        def decayed_step(*a, **k):
            u = min((time.perf_counter() - opt._probe_t0) / BUDGET, 1.0)
            for g in opt.param_groups:
                g["lr"] = PEAK * 0.5 * (1.0 + math.cos(math.pi * u))
            return step(*a, **k)

        opt.step = decayed_step
    return _orig(**kw)


training.train_epoch = patched
row = paper_table.run_one("msd", "warp", seed, "medium", "cpu")
row["variant"] = variant
print(json.dumps({k: row[k] for k in ("variant", "seed", "mse", "val_score", "epochs_run", "best_epoch",
                                      "mse_inside_box", "mse_outside_box", "train_s")}))
