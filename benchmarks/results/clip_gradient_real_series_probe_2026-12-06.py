"""One-off: plain WARP on a real series with output_clip=5 and the clamp's own gradient ("zero") against
clip_gradient="inward", VALIDATION only (the validation block's forecast MSE, normalised units; the test
figures that reconstruct computes are not printed). Same settings as benchmarks/real_series.py (20 s per run,
seeds 0 and 1, learning rates 1e-3, 3e-3, 1e-2). Usage: python ... SERIES"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import real_series as R  # noqa: E402

name = sys.argv[1]
loader, settings = R.SERIES[name]
y, t, _ = loader()
for seed in (0, 1):
    for lr in (1e-3, 3e-3, 1e-2):
        vals = {}
        for gradient in ("zero", "inward"):
            _, row = R.run_one(y, t, dict(settings), "warp", lr, seed, 20.0, {"clip_gradient": gradient})
            vals[gradient] = (row["val"], row["epochs"], row["best_epoch"])
        z, i = vals["zero"], vals["inward"]
        print(f"{name} seed {seed} lr {lr:g}: val zero {z[0]:.5g} (epochs {z[1]}, best {z[2]}) | inward {i[0]:.5g} "
              f"(epochs {i[1]}, best {i[2]})", flush=True)
