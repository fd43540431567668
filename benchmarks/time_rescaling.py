"""Time-rescaling augmentation on the MSD paper protocol: the out-of-distribution tails.

    python benchmarks/time_rescaling.py                   # 2 seeds, 60 s per run
    python benchmarks/time_rescaling.py --budget 30 --seeds 0 --models warp_prior

The MSD family is closed under t -> a t (x(a t) solves m / a^2, c / a, k), so every training
trajectory read at times a t (a <= 1: inside its span) is a trajectory with a lower k/m.
``time_rescale=(low, 1)`` adds such copies to the training split. Each model is trained with and
without the augmentation for the same wall-clock budget on the same simulated data, selected on
validation, and scored on the OOD test split by k/m band: below the training box (k/m < 100),
inside it, above it (k/m > 800). Factors a <= 1 only reach the lower band; the upper band (a > 1)
would need each trajectory beyond its last step. For the grey box the median signed relative
error of its k/m estimate (read at the last context step) per band shows the bias.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import format_machine, machine_info, markdown_table, mean_std  # noqa: E402

import warp_phys  # noqa: E402
from warp_phys import systems  # noqa: E402
from warp_phys.pipeline import plan_system, simulate_system  # noqa: E402

#: The paper table's small-scale settings (black box: low rank; grey box: subspace memory).
MODELS: dict[str, dict] = {
    "warp_prior": dict(model="warp", prior="grey_box", width=32, depth=2, transition="subspace", rank=8,
                       transition_options={"input_scale": 10.0}, prior_options={"margin": 0.0}, forecast_weight=1.0,
                       lr=1e-3, batch_size=16),
    "warp": dict(model="warp", prior=None, width=32, depth=2, transition="lowrank", rank=8, output_clip=5.0,
                 lr=1e-3, batch_size=16),
    "gru": dict(model="gru", prior=None, hidden=64, layers=2, lr=3e-3, batch_size=32),
}
BANDS = ("below", "inside", "above")


def bands(ds, lo: float, hi: float) -> dict[str, np.ndarray]:
    """Boolean masks (N,) of the test trajectories by k/m against the training box [lo, hi]."""
    km = ds["k"].values / ds["m"].values
    return {"below": km < lo, "inside": (km >= lo) & (km <= hi), "above": km > hi}


def band_mse(rec, masks: dict[str, np.ndarray]) -> dict[str, float]:
    """Mean per-trajectory forecast MSE (raw state, steps after the context) in each band."""
    ds, c = rec.dataset, rec.context
    err = (ds["prediction_mean"] - ds["state"]).transpose("trajectory", "time", "variable").values[:, c:]
    per = np.mean(err**2, axis=(1, 2))
    return {b: float(per[m].mean()) if m.any() else float("nan") for b, m in masks.items()}


def band_bias(rec, masks: dict[str, np.ndarray]) -> dict[str, float]:
    """Median signed relative error of the grey box's k/m at the last context step, per band."""
    P = rec.parameters()
    est = (P["k"] / P["m"]).values[:, rec.context - 1]
    rel = est / (P["k_true"].values / P["m_true"].values) - 1.0
    return {b: float(np.median(rel[m])) if m.any() else float("nan") for b, m in masks.items()}


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=60.0, help="training seconds per run")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--n-train", type=int, default=256)
    p.add_argument("--n-test", type=int, default=256)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--factors", type=float, nargs=2, default=(0.6, 1.0), metavar=("LOW", "HIGH"))
    p.add_argument("--copies", type=int, default=1)
    args = p.parse_args(argv)
    system = systems.get("msd")
    ranges = system.parameter_ranges("train", "paper")
    lo, hi = ranges["k"][0] / ranges["m"][1], ranges["k"][1] / ranges["m"][0]
    print("# Time-rescaling augmentation (benchmarks/time_rescaling.py)\n")
    print(format_machine(machine_info("cpu")))
    print(f"- MSD paper protocol, {args.n_train} training / 32 validation / {args.n_test} OOD test trajectories, "
          f"context 100 of 256; training box k/m in [{lo:g}, {hi:g}]; {args.budget:.0f} s per run; seeds "
          f"{args.seeds}; augmentation time_rescale={tuple(args.factors)}, copies={args.copies}\n")
    sizes = dict(n_train=args.n_train, n_val=32, n_test=args.n_test, context=100)
    rows = []
    for seed in args.seeds:
        recipe, proto, _ = plan_system(system, model="persistence", prior=None, protocol="paper", seed=seed,
                                       options=dict(sizes))
        splits = simulate_system(system, recipe, proto, seed)
        masks = bands(splits.tests["test"], lo, hi)
        for name in args.models:
            for aug in (False, True):
                extra = dict(time_rescale=tuple(args.factors), time_rescale_copies=args.copies) if aug else {}
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    rec = warp_phys.reconstruct(system=system, protocol="paper", seed=seed, progress=False,
                                                device="cpu", splits=splits, max_time=args.budget, epochs=100_000,
                                                patience=100_000, **sizes, **MODELS[name], **extra)
                row = dict(model=name, augmented=aug, seed=seed, mse=rec.metrics["mse"], **{
                    f"mse_{b}": v for b, v in band_mse(rec, masks).items()},
                    n={b: int(m.sum()) for b, m in masks.items()}, epochs=rec.history.epochs_run,
                    wall=time.perf_counter() - t0)
                if name == "warp_prior":
                    row.update({f"bias_{b}": v for b, v in band_bias(rec, masks).items()})
                rows.append(row)
                print(f"  seed {seed} {name:<10} {'augmented' if aug else 'plain':<9} mse {row['mse']:.4g} "
                      + " ".join(f"{b} {row[f'mse_{b}']:.3g}" for b in BANDS)
                      + (" k/m bias " + " ".join(f"{row[f'bias_{b}']:+.1%}" for b in BANDS) if "bias_below" in row
                         else "") + f" epochs {row['epochs']}", flush=True)
    table = []
    for name in args.models:
        for aug in (False, True):
            rs = [r for r in rows if r["model"] == name and r["augmented"] == aug]
            cells = [mean_std([r["mse"] for r in rs])] + [mean_std([r[f"mse_{b}"] for r in rs]) for b in BANDS]
            bias = [mean_std([100 * r[f"bias_{b}"] for r in rs]) + " %" if "bias_below" in rs[0] else "—"
                    for b in BANDS]
            table.append([name, "time_rescale" if aug else "none", *cells, *bias,
                          " / ".join(str(r["epochs"]) for r in rs)])
    n = rows[0]["n"] if rows else {}
    print("\n" + markdown_table(["model", "augmentation", "OOD MSE", f"k/m below box ({n.get('below')})",
                                 f"inside ({n.get('inside')})", f"above box ({n.get('above')})",
                                 "k/m bias below", "inside", "above", "epochs per seed"], table))
    return rows


if __name__ == "__main__":
    main()
