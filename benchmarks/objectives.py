"""Training objectives for free-running forecasts, side by side at equal wall time.

    python benchmarks/objectives.py                      # MSD paper protocol, 2 seeds
    python benchmarks/objectives.py --budget 60 --seeds 0
    python benchmarks/objectives.py --black-box lowrank  # the black box before 2026-12-04

Black-box WARP on the MSD paper protocol (parameters sampled per trajectory, OOD test set,
context 100 of 256 steps), trained with each objective for the same wall-clock budget and
selected on the validation split's free-running forecast error (never the test set). All
objectives of a seed see the same simulated data. Prints the OOD test MSE of the forecast
(raw state, steps after the context) beside predict-zero, and each objective's ratio to
teacher forcing.
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
from paper_table import BLACK_BOX_WARP, SEGMENT_WARP  # noqa: E402

import warp_phys  # noqa: E402
from warp_phys import systems  # noqa: E402
from warp_phys.pipeline import plan_system, simulate_system  # noqa: E402

#: The black-box WARP's training settings (the paper table's small scale).
WARP = dict(width=32, depth=2, output_clip=5.0, lr=1e-3, batch_size=16, epochs=100_000, patience=100_000)
#: Its structure: "memory" is the paper table's black box since 2026-12-04 (subspace memory and
#: increment decoding, no physics); "lowrank" the one before.
BLACK_BOXES: dict[str, dict] = {"memory": BLACK_BOX_WARP, "lowrank": dict(SEGMENT_WARP, prior=None)}
OBJECTIVES: dict[str, dict] = {
    "teacher forcing": dict(p_force=1.0),
    "p_force 0.25 (sequential)": dict(p_force=0.25),
    "scheduled sampling 1 -> 0.25": dict(p_force=1.0, p_force_schedule="linear", p_force_floor=0.25,
                                         schedule_epochs=20),
    "pushforward (1 pass, noise 0.01)": dict(p_force=0.25, feedback_passes=1, feedback_noise=0.01),
    "parallel feedback (2 passes)": dict(p_force=0.25, feedback_passes=2),
    "rollout curriculum 10 -> 156": dict(p_force=1.0, forecast_weight=1.0, forecast_horizon_schedule=(10, 10)),
}


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=90.0, help="training seconds per objective and seed")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--n-train", type=int, default=256)
    p.add_argument("--objectives", nargs="+", default=list(OBJECTIVES), choices=list(OBJECTIVES))
    p.add_argument("--black-box", choices=list(BLACK_BOXES), default="memory",
                   help="the black box's structure (default: the paper table's)")
    args = p.parse_args(argv)
    structure = dict(BLACK_BOXES[args.black_box])
    prior = structure.pop("prior")
    print("# Training objectives at equal wall time (benchmarks/objectives.py)\n")
    print(format_machine(machine_info("cpu")))
    print(f"- MSD paper protocol, black-box WARP {args.black_box!r} {structure} prior {prior!r}, {WARP}, {args.n_train} training trajectories, 32 validation, "
          f"64 OOD test; {args.budget:.0f} s of training per objective and seed; seeds {args.seeds}\n")
    system = systems.get("msd")
    sizes = dict(n_train=args.n_train, n_val=32, n_test=64, context=100)
    rows = []
    for seed in args.seeds:
        recipe, proto, _ = plan_system(system, model="persistence", prior=None, protocol="paper", seed=seed,
                                       options=dict(sizes))
        splits = simulate_system(system, recipe, proto, seed)
        for name in args.objectives:
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                rec = warp_phys.reconstruct(system=system, protocol="paper", prior=prior, seed=seed, progress=False,
                                            device="cpu", splits=splits, max_time=args.budget,
                                            **sizes, **WARP, **structure, **OBJECTIVES[name])
            h = rec.history
            row = dict(objective=name, seed=seed, mse=rec.metrics["mse"], zero=rec.metrics["mse_zero"],
                       epochs=h.epochs_run, best=h.best_epoch, val=h.best_score, wall=time.perf_counter() - t0)
            rows.append(row)
            print(f"  seed {seed} {name:<34} test mse {row['mse']:.4g} (zero {row['zero']:.3g}) "
                  f"val {row['val']:.4g} epochs {row['epochs']} best {row['best']}", flush=True)
    tf = {r["seed"]: r["mse"] for r in rows if r["objective"] == "teacher forcing"}
    table = []
    for name in args.objectives:
        rs = [r for r in rows if r["objective"] == name]
        ratio = [r["mse"] / tf[r["seed"]] for r in rs if r["seed"] in tf]
        table.append([name, mean_std([r["mse"] for r in rs]), mean_std([r["val"] for r in rs]),
                      mean_std([r["zero"] for r in rs]), mean_std(ratio), " / ".join(str(r["epochs"]) for r in rs)])
    print("\n" + markdown_table(["objective", "OOD test MSE", "validation score", "predict zero",
                                 "MSE / teacher forcing", "epochs per seed"], table))
    return rows


if __name__ == "__main__":
    main()
