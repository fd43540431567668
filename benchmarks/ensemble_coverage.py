"""How far to trust a forecast's band: coverage of +-2 std on simulated systems, raw and calibrated.

    python benchmarks/ensemble_coverage.py                          # springs and Lorenz-63, 4 seeds, 30 s per run
    python benchmarks/ensemble_coverage.py --systems lorenz63 --seeds 0 1 2 --budget 20 --out coverage.json
    python benchmarks/ensemble_coverage.py --quick                  # smoke test: 2 s per run, 2 seeds

For each system, each model variant is trained once per seed on ONE data set (``data_seed=0``:
the same trajectories and split for every member), every run with the same wall-clock budget
(``max_time``; ``epochs`` and ``patience`` so large that the clock stops it):

* ``warp``: WARP at its defaults (a point forecast: no band of its own);
* ``warp gaussian``: WARP with ``output="gaussian"`` (a predictive std per step, trained by
  the Gaussian negative log-likelihood);
* ``gru``: the GRU baseline at its defaults (point forecast).

Printed per system and variant, on the test split (and the in-distribution test, ``test_id``,
where the test split is out of distribution):

* the test MSE of the single runs (mean over seeds) and of their deep ensemble
  (`warp_phys.ensemble`: the members' mean forecast), and their ratio;
* ``coverage_2std``: the fraction of forecast values inside mean +- 2 std (0.954 for a
  calibrated Gaussian): of each single gaussian run (mean over seeds) as it comes and with its
  own band scaled on its validation split, of the ensemble's mixture band as it comes, and of the
  ensemble's band scaled on the validation split
  (``ensemble(..., calibrate=True)``; the factor ``std_scale`` is chosen on the validation
  trajectories, which are drawn from the training distribution; nothing is read from a test split).

The validation trajectories are the ones the model was selected on, so a band scaled there can
still be too narrow on test; where the test split is out of distribution, more so.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import format_machine, machine_info, markdown_table  # noqa: E402

import warp_phys  # noqa: E402
from warp_phys.metrics import forecast_window, interval_coverage  # noqa: E402
from warp_phys.pipeline.ensemble import validation_scale  # noqa: E402

#: variant -> reconstruct options (model and output head).
VARIANTS = {"warp": dict(model="warp"), "warp gaussian": dict(model="warp", output="gaussian"),
            "gru": dict(model="gru")}
SYSTEMS = ("mass_spring_damper", "lorenz63")


def train_members(system: str, options: dict, seeds: list[int], budget: float) -> list:
    """One reconstruction per seed on the data drawn from ``data_seed=0``, each ``budget`` seconds."""
    members = []
    for seed in seeds:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            rec = warp_phys.reconstruct(system=system, seed=seed, data_seed=0, max_time=budget, epochs=1_000_000,
                                        patience=1_000_000, device="cpu", progress=False, **options)
        h = rec.history
        print(f"  {system} {options} seed {seed}: test MSE {rec.metrics['mse']:.4g}, epochs {h.epochs_run} "
              f"(best {h.best_epoch}), {time.perf_counter() - t0:.0f} s", flush=True)
        members.append(rec)
    return members


def coverage(ds) -> float:
    """``coverage_2std`` from a result Dataset's metrics (NaN where the forecast has no band)."""
    return float(json.loads(ds.attrs["metrics"]).get("coverage_2std", float("nan")))


def single_calibrated(rec, split: str) -> float:
    """Coverage on ``split`` of one run's own band scaled on its validation split (the same rule as
    ``ensemble(..., calibrate=True)``, `validation_scale` of a single member); NaN for a point model."""
    ds = rec.datasets[split]
    std = ds["prediction_std"].transpose("trajectory", "time", "variable").values
    if not np.any(std):
        return float("nan")
    scale = validation_scale([rec])
    truth = ds["state"].transpose("trajectory", "time", "variable").values
    mean = ds["prediction_mean"].transpose("trajectory", "time", "variable").values
    window = forecast_window(truth.shape[1], rec.context, rec.horizon)
    return float(interval_coverage(truth, mean, scale * std, window))


def score(members: list, split: str) -> dict:
    """The row of one variant on one split: single runs, their ensemble raw and calibrated."""
    singles = [float(m.all_metrics[split]["mse"]) for m in members]
    raw = warp_phys.ensemble(members, split=split)
    calibrated = warp_phys.ensemble(members, split=split, calibrate=True)
    ens_mse = float(json.loads(raw.attrs["metrics"])["mse"])
    single_cov = [coverage(m.datasets[split]) for m in members]
    return dict(single_mse=float(np.mean(singles)), single_mse_each=singles, ensemble_mse=ens_mse,
                ensemble_over_single=ens_mse / float(np.mean(singles)),
                single_coverage=float(np.mean(single_cov)),
                single_coverage_calibrated=float(np.mean([single_calibrated(m, split) for m in members])),
                coverage_raw=coverage(raw),
                std_scale=float(calibrated.attrs["std_scale"]), coverage_calibrated=coverage(calibrated))


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=warp_phys.systems.available())
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    p.add_argument("--budget", type=float, default=30.0, help="training seconds per run (every variant alike)")
    p.add_argument("--quick", action="store_true", help="smoke test: 2 s per run, seeds 0 and 1")
    p.add_argument("--out", type=Path, help="write the rows as JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.budget, args.seeds = 2.0, [0, 1]
    if len(args.seeds) < 2:
        p.error("an ensemble needs at least two seeds")
    info = machine_info()
    print("# Coverage of the +-2 std band: single runs, deep ensembles, calibrated on validation\n")
    print(format_machine(info))
    print(f"- {args.budget:g} s of training per run, seeds {args.seeds}, one data set per system (data_seed=0)\n")
    rows = []
    for system in args.systems:
        for variant in args.variants:
            members = train_members(system, VARIANTS[variant], args.seeds, args.budget)
            for split in [s for s in ("test", "test_id") if s in members[0].datasets]:
                rows.append(dict(system=system, variant=variant, split=split, **score(members, split)))
    header = ["system", "variant", "split", "single MSE (mean)", "ensemble MSE", "ensemble / single",
              "single coverage", "single, calibrated", "ensemble coverage", "std_scale (val)",
              "ensemble, calibrated"]
    table = [[r["system"], r["variant"], r["split"], f"{r['single_mse']:.4g}", f"{r['ensemble_mse']:.4g}",
              f"{r['ensemble_over_single']:.3f}", f"{r['single_coverage']:.3f}",
              f"{r['single_coverage_calibrated']:.3f}", f"{r['coverage_raw']:.3f}",
              f"{r['std_scale']:.3g}", f"{r['coverage_calibrated']:.3f}"] for r in rows]
    print("\n" + markdown_table(header, table))
    print("\nCoverage: the fraction of forecast values inside mean +- 2 std (0.954 for a calibrated Gaussian); "
          "nan: a point model has no band of its own.")
    result = dict(machine=info, budget=args.budget, seeds=args.seeds, rows=rows)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
