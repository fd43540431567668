"""WARP, GRU and the classical forecasters on real series that ship inside statsmodels.

    python benchmarks/real_series.py                        # all six series, seed 0, 20 s per run (about 20 min)
    python benchmarks/real_series.py --seeds 0 1 --budget 30 --out real_series.json
    python benchmarks/real_series.py --context-scaling      # every neural run with context_scaling=True
    python benchmarks/real_series.py --quick                # smoke test: 2 s per run, 2 series

Each series is one long record (``statsmodels.api.datasets``; install the ``real`` extra) cut
by ``warp_phys.reconstruct(data=y, time=t, window=W, ...)`` into windows and split in time
order: train on the past, select on the next block (validation), score on the last (test);
no window straddles two blocks. On the same windows:

* WARP and GRU: the same wall-clock budget per run (``max_time``; ``epochs`` and ``patience``
  so large that the clock stops every run) and the same grid of learning rates for both. The
  grid point is chosen by the validation score (``rec.history.best_score``: forecast MSE on
  the validation windows, normalised units); only the chosen point is scored on test.
* The classical forecasters from ``rec.metrics`` (fitted on the same training windows, order or
  period chosen on validation): AR(p), ETS, seasonal naive, persistence; and the mean of the
  training block (computed here), all scored after the context of the same test windows.

"best classical" is the lowest TEST MSE among the classical rows: chosen after the fact, it
flatters the classical side, so WARP / best classical is a conservative ratio. MSE is in the
series' own units squared. When ``reconstruct`` accepts ``detrend=`` / ``deseason=`` (checked
at run time), WARP at the validation-chosen learning rate runs again with a straight line
removed (detrend=1), and with the line and the mean season removed (deseason=P, the period
fixed in advance), as extra rows; "the transform alone" is the trend (+ season) as the forecast.
When it accepts ``phases=``, CO2 and El Nino get one more row for WARP and for GRU, each at its
validation-chosen learning rate: the phase of the calendar year (52.18 weeks, 12 months) as a known
input (`PHASES`). When WARP has ``ar_lags``, WARP at its validation-chosen learning rate runs again
with the linear term over its last p inputs (``warp_phys.lag_readout``), p the classical AR's order
(chosen on the validation block) and, for a series with a period, p = period + 1; on a series with
a calendar phase, once more with both the phase and p = period + 1. Where WARP has ``ar_gate``,
these rows use it: the root network's outputs start at zero behind a learned gate, so each such run
starts as the classical AR(p) of its training windows, and that start is a candidate of the
validation selection (``rec.history.kept_start``). With ``--variant-lrs grid`` the phase and
AR-lag rows (of WARP and GRU) each run over the whole learning-rate grid instead and keep their own
validation choice.
"WARP, chosen on val" is, per seed, the WARP row with the lowest validation score
(``rec.history.best_score``, normalised units) among the plain run and the phase and AR-lag rows
(``--select-on normalised``, default; the detrend rows' scores are in other units). With
``--select-on record`` it is the lowest validation forecast MSE in the record's units
(``rec.all_metrics["val"]["mse"]``: the validation block scored like the test block) among every
WARP row, the detrend rows included. (The record rule was the default for one run on 2026-12-06,
which it made worse on CO2 and El Nino; the README has the figures.) ``--context-scaling`` passes
``context_scaling=True`` to every neural run, WARP and GRU alike (each window rescaled by its own
context, `warp_phys.context_scaling`). The series: sunspots, CO2, Nile and El Nino, and (added on
2026-12-06 as series no setting had been tuned on) US real GDP and unemployment from macrodata.
"""
from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import format_machine, machine_info, markdown_table, mean_std  # noqa: E402

import warp_phys  # noqa: E402
from warp_phys.data import chronological_blocks  # noqa: E402
from warp_phys.model import WARP  # noqa: E402

LRS = (1e-3, 3e-3, 1e-2)
#: WARP clamps its predictions to +-5 training standard deviations (as the paper table's black
#: box). Without it, free-running test forecasts overflowed to NaN on sunspots and CO2 while the
#: validation score stayed finite, and lr 1e-2 found no finite validation epoch on CO2.
OPTIONS = {"warp": dict(output_clip=5.0), "gru": {}}
NEURAL = ("warp", "gru")
CLASSICAL = (("AR(p)", "ar_mse"), ("ETS", "ets_mse"), ("seasonal naive", "seasonal_naive_mse"),
             ("persistence", "mse_persistence"), ("train mean", "mse_train_mean"))


def _sm():
    try:
        import statsmodels.api as sm
    except ImportError as err:  # pragma: no cover - the message is the point
        raise SystemExit("this benchmark reads its series from statsmodels: pip install 'warp_phys[real]'") from err
    return sm


def sunspots():
    d = _sm().datasets.sunspots.load_pandas().data
    return d["SUNACTIVITY"].to_numpy(float), d["YEAR"].to_numpy(float), "yearly sunspot number 1700-2008"


def co2():
    s = _sm().datasets.co2.load_pandas().data["co2"]
    return s.to_numpy(float), s.index.to_numpy(), (f"Mauna Loa CO2 (ppm), weekly 1958-2001, "
                                                   f"{int(s.isna().sum())} NaN filled linearly")


def nile():
    d = _sm().datasets.nile.load_pandas().data
    return d["volume"].to_numpy(float), d["year"].to_numpy(float), "Nile annual flow at Aswan 1871-1970 (1e8 m3)"


def elnino():
    d = _sm().datasets.elnino.load_pandas().data
    y = d.drop(columns="YEAR").to_numpy(float).ravel()  # (year, month) rows -> one monthly record
    # months since 1950-01 (calendar months are not a regular datetime64 step)
    return y, np.arange(y.size, dtype=float), "El Nino region SST (deg C), monthly 1950-2010, time in months"


def _macro(column: str):
    d = _sm().datasets.macrodata.load_pandas().data
    return d[column].to_numpy(float), (d["year"] + (d["quarter"] - 1) / 4).to_numpy(float)


def us_gdp():
    y, t = _macro("realgdp")
    return y, t, "US real GDP (billions of 2005 dollars), quarterly 1959-2009, time in years"


def us_unemployment():
    y, t = _macro("unemp")
    return y, t, "US unemployment rate (%), quarterly 1959-2009, time in years"


#: name -> (loader, reconstruct settings). Sunspots and Nile are short (309 and 100 years): a
#: 60/20/20 split so the test block holds more than a few windows (70/15/15 leaves sunspots 3).
SERIES = {
    "sunspots": (sunspots, dict(window=44, context=33, horizon=11, stride=1, split=(0.6, 0.2, 0.2))),
    "co2": (co2, dict(window=156, context=104, horizon=52, stride=1, fill="linear")),
    "nile": (nile, dict(window=12, context=8, horizon=4, stride=1, split=(0.6, 0.2, 0.2))),
    "elnino": (elnino, dict(window=72, context=48, horizon=24, stride=1)),
    # Added 2026-12-06 as series not yet seen by any tuning: two years ahead from four (quarters).
    "us_gdp": (us_gdp, dict(window=24, context=16, horizon=8, stride=1, split=(0.6, 0.2, 0.2))),
    "us_unemployment": (us_unemployment, dict(window=24, context=16, horizon=8, stride=1, split=(0.6, 0.2, 0.2))),
}
#: The season fixed in advance (not tuned): the ~11-year solar cycle, 52 weeks, 12 months.
PERIODS = {"sunspots": 11, "co2": 52, "nile": None, "elnino": 12, "us_gdp": None, "us_unemployment": None}
#: Calendar periods known in advance, fed as phases (sin/cos of 2 pi i / P) when reconstruct
#: has phases=: a year of weeks and of months. Sunspots' cycle is not a calendar phase (its
#: length varies), and Nile has none.
PHASES = {"co2": 52.18, "elnino": 12}


def variants_for(name: str, model: str = "warp", ar_order: int | None = None) -> list[dict]:
    """Extra rows when reconstruct has detrend=/deseason= (WARP only): a straight line removed,
    and (with a known period) the line and the training block's mean season removed; with
    phases= and a calendar period (`PHASES`; WARP and GRU), the phase of that period as a known input;
    when WARP has ``ar_lags`` (WARP only), the linear term over the last p inputs, p = ``ar_order``
    (the classical AR's order, chosen on the validation block), and with a period (`PERIODS`) also
    p = period + 1 (the same phase one period back); with a calendar phase too, one row with both the
    phase and p = period + 1."""
    params = set(inspect.signature(warp_phys.reconstruct).parameters)
    if not {"detrend", "deseason"} <= params:
        return []
    out = [dict(detrend=1)] if model == "warp" else []
    if PERIODS.get(name) and model == "warp":
        out.append(dict(detrend=1, deseason=PERIODS[name]))
    if "phases" in params and PHASES.get(name):
        out.append(dict(phases=(PHASES[name],)))
    if model == "warp" and ar_order and "ar_lags" in inspect.signature(WARP).parameters:
        gate = dict(ar_gate=True) if "ar_gate" in inspect.signature(WARP).parameters else {}
        lags = sorted({int(ar_order), *([PERIODS[name] + 1] if PERIODS.get(name) else [])})
        out += [dict(ar_lags=p, **gate) for p in lags if p < SERIES[name][1]["context"]]
        if "phases" in params and PHASES.get(name) and PERIODS.get(name) \
                and PERIODS[name] + 1 < SERIES[name][1]["context"]:  # both: the phase and a period of lags
            out.append(dict(phases=(PHASES[name],), ar_lags=PERIODS[name] + 1, **gate))
    return out


def variant_label(extra: dict) -> str:
    if "ar_lags" in extra:
        return (("phases + " if "phases" in extra else "") + f"AR lags {extra['ar_lags']}"
                + (" (gated)" if extra.get("ar_gate") else ""))
    return "phases" if "phases" in extra else "detrend + deseason" if "deseason" in extra else "detrend"


#: WARP rows whose validation score is in the same units as the plain run (the transforms change
#: the normalisation): "WARP, chosen on val" picks the lowest validation score among them per seed.
COMPARABLE = ("phases", "AR lags")


def comparable(variant: str) -> bool:
    """Whether a WARP row's validation score is in the plain run's units (see `COMPARABLE`)."""
    return variant == "" or variant.startswith(COMPARABLE)


def choose_row(rows: list[dict], seed: int, rule: str = "normalised", model: str = "warp") -> tuple[dict | None, int]:
    """(the ``model`` row of ``seed`` chosen on validation, the number of candidates) among the rows
    that won their own learning-rate choice (``chosen``): by ``val`` among the comparable variants
    (rule "normalised"), or by ``val_record`` among every variant (rule "record")."""
    key = "val_record" if rule == "record" else "val"
    pool = [r for r in rows if r["model"] == model and r["seed"] == seed and r.get("chosen")
            and (rule == "record" or comparable(r["variant"])) and np.isfinite(r.get(key, np.nan))]
    return (min(pool, key=lambda r: r[key]) if pool else None), len(pool)


def choose_warp_row(rows: list[dict], seed: int, rule: str = "normalised") -> tuple[dict | None, int]:
    """`choose_row` for WARP (the name the result scripts of 2026-12-06 import)."""
    return choose_row(rows, seed, rule, "warp")


def run_key(row: dict) -> tuple:
    """The key of a run's reconstruction in ``runs`` (model, variant, learning rate, seed)."""
    return row["model"], row["variant"], row["lr"], row["seed"]


def ensemble_scores(picks: list[dict], runs: dict) -> dict | None:
    """Test metrics of the deep ensemble (`warp_phys.ensemble`: the mean forecast, the members'
    spread as its std) of the picked runs, one per seed: ``mse`` and ``coverage_2std`` (the
    fraction of test values within mean +- 2 std); None with fewer than two."""
    members = [runs[run_key(p)] for p in picks if run_key(p) in runs]
    if len(members) < 2 or not hasattr(warp_phys, "ensemble"):
        return None
    met = json.loads(warp_phys.ensemble(members).attrs["metrics"])
    out = {k: float(met[k]) for k in ("mse", "coverage_2std") if k in met}
    if "calibrate" in inspect.signature(warp_phys.ensemble).parameters:  # the band scaled on the validation block
        calibrated = warp_phys.ensemble(members, calibrate=True)
        out.update(std_scale=float(calibrated.attrs["std_scale"]),
                   coverage_2std_calibrated=float(json.loads(calibrated.attrs["metrics"])["coverage_2std"]))
    return out


def scored_mse(rec, constant: float) -> tuple[float, float]:
    """(MSE of a constant forecast, MSE of persistence) after the context of the test windows,
    from rec.dataset; the second checks this reading against rec.metrics."""
    ds = rec.dataset
    truth = ds["state"].transpose("trajectory", "time", "variable").values
    after = ~ds["context"].values.astype(bool)
    last = truth[:, after.argmax() - 1: after.argmax()]
    future = truth[:, after]
    return float(np.mean((future - constant) ** 2)), float(np.mean((future - last) ** 2))


def train_mean(y: np.ndarray, settings: dict) -> float:
    """Mean of the training block of the record (the same block boundaries as reconstruct)."""
    split = settings.get("split", (0.7, 0.15, 0.15))
    lo, hi = chronological_blocks(y.shape[0], split, settings.get("gap", 0) or 0, settings["window"])["train"]
    return float(np.nanmean(y[lo:hi]))


def run_one(y, t, settings: dict, model: str, lr: float, seed: int, budget: float, extra: dict | None = None,
            common: dict | None = None):
    """One neural run: ``reconstruct`` with the benchmark's settings, ``OPTIONS[model]``, the row's
    ``extra`` options and the options ``common`` to every neural run (e.g. context_scaling=True)."""
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            rec = warp_phys.reconstruct(data=y, time=t, model=model, seed=seed, lr=lr, max_time=budget,
                                        epochs=1_000_000, patience=1_000_000, device="cpu", progress=False,
                                        **settings, **OPTIONS[model], **(common or {}), **(extra or {}))
        except warp_phys.TrainingFailedError as err:  # no finite validation epoch: never chosen
            print(f"  seed {seed} {model} lr {lr:g}: training failed: {str(err).split('. Fix')[0]}")
            return None, dict(model=model, lr=lr, seed=seed, val=float("inf"), val_record=float("inf"),
                              test_mse=float("nan"),
                              nonfinite_windows=-1, epochs=0, best_epoch=-1, wall=time.perf_counter() - t0)
    h = rec.history
    pred = rec.dataset["prediction_mean"].transpose("trajectory", ...).values
    bad = ~np.isfinite(pred.reshape(pred.shape[0], -1)).all(axis=1)  # test windows with a non-finite forecast
    val_record = float(rec.all_metrics["val"]["mse"]) if "val" in (rec.all_metrics or {}) else float("nan")
    return rec, dict(model=model, lr=lr, seed=seed, val=float(h.best_score), val_record=val_record,
                     test_mse=float(rec.metrics["mse"]),
                     nonfinite_windows=int(bad.sum()), epochs=int(h.epochs_run), best_epoch=int(h.best_epoch),
                     kept_start=bool(getattr(h, "kept_start", False)), start_val=float(getattr(h, "start_score", np.nan)),
                     wall=time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=20.0, help="training seconds per neural run (WARP and GRU alike)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--series", nargs="+", default=list(SERIES), choices=list(SERIES))
    p.add_argument("--lrs", type=float, nargs="+", default=list(LRS), help="the learning-rate grid (both models)")
    p.add_argument("--variant-lrs", choices=("chosen", "grid"), default="chosen",
                   help="the learning rates of the phase and AR-lag rows: the plain run's validation choice "
                        "(default), or the whole grid, chosen on validation per row (3x their run time)")
    p.add_argument("--split-by", choices=("window", "forecast"), default="window",
                   help="reconstruct(split_by=...): a val/test window lies wholly in its block (window; default), or "
                        "its forecast steps do and the context reads the steps before (forecast: every forecast "
                        "origin of the block scored, 52 instead of 19 test windows on sunspots); the same windows "
                        "for every model")
    p.add_argument("--select-on", choices=("normalised", "record"), default="normalised",
                   help="WARP, chosen on val: the lowest normalised validation score among the plain, phase and "
                        "AR-lag rows (normalised; default), or the lowest validation MSE in the record's units among "
                        "every WARP row, detrend rows included (record)")
    p.add_argument("--context-scaling", action="store_true",
                   help="every neural run (WARP and GRU, every row) with reconstruct(context_scaling=True): each "
                        "window rescaled by its own context's mean and standard deviation")
    p.add_argument("--quick", action="store_true", help="smoke test: 2 s per run, sunspots and nile, one lr")
    p.add_argument("--out", type=Path, help="write the rows and the summary as JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.budget, args.lrs, args.seeds = 2.0, [3e-3], [0]
        args.series = [s for s in args.series if s in ("sunspots", "nile")] or ["sunspots"]
    variants = variants_for("sunspots")
    common = {"context_scaling": True} if args.context_scaling else {}

    print("# Real series (benchmarks/real_series.py)\n")
    print(format_machine(machine_info("cpu")))
    print(f"- {args.budget:g} s of training per neural run (max_time; WARP and GRU alike), seeds {args.seeds}, "
          f"learning-rate grid {args.lrs} for both, chosen on the validation block; default widths "
          f"(WARP user-data recipe with output_clip=5, GRU hidden 64 x 2); patience off; the phase and AR-lag "
          f"rows at {'each row' + chr(39) + 's own validation choice over the grid' if args.variant_lrs == 'grid' else 'the plain run' + chr(39) + 's chosen lr'}"
          + ("; every neural run with context_scaling=True (each window rescaled by its context)" if common else ""))
    print(f"- reconstruct accepts detrend=/deseason=: {'yes' if variants else 'no'}"
          + (f" (extra WARP rows at the validation-chosen lr: detrend=1, and detrend=1 with deseason=P for the "
             f"periods {PERIODS}, fixed in advance)" if variants else "") + "\n")

    rows, summary = [], []
    for name in args.series:
        loader, settings = SERIES[name]
        y, t, about = loader()
        settings = dict(settings)
        if args.split_by != "window":
            settings["split_by"] = args.split_by
        mean = train_mean(y, settings)
        print(f"## {name}: {about}; {y.shape[0]} steps; window {settings['window']} = context {settings['context']} "
              f"+ horizon {settings['horizon']}, stride {settings['stride']}, split {settings.get('split', (0.7, 0.15, 0.15))}"
              + f", split_by={args.split_by!r}"
              + (f", fill={settings['fill']!r}" if settings.get("fill") else ""), flush=True)
        classical, chosen, runs = None, {}, {}
        for seed in args.seeds:
            for model in NEURAL:
                grid = []
                for lr in args.lrs:
                    rec, row = run_one(y, t, settings, model, lr, seed, args.budget, common=common)
                    row.update(series=name, variant="")
                    grid.append(row)
                    rows.append(row)
                    if rec is None:
                        continue
                    runs[run_key(row)] = rec
                    m = rec.metrics
                    mean_mse, pers = scored_mse(rec, mean)
                    assert abs(pers - m["mse_persistence"]) <= 1e-6 * max(1.0, pers), (pers, m["mse_persistence"])
                    c = {key: float(m[key]) for _, key in CLASSICAL[:-1]}
                    c.update(mse_train_mean=mean_mse, ar_order=int(m["ar_order"]),
                             seasonal_naive_period=int(m["seasonal_naive_period"]),
                             n_test_windows=int(rec.dataset.sizes["trajectory"]))
                    if classical is None:
                        classical = c
                    elif any(abs(classical[k] - c[k]) > 1e-9 * abs(c[k]) for k in c):
                        print(f"  note: classical scores differ between runs: {classical} vs {c}")
                    print(f"  seed {seed} {model:<4} lr {lr:g}: val {row['val']:.4g} (record units {row['val_record']:.4g}) test {row['test_mse']:.4g} "
                          f"(non-finite test windows {row['nonfinite_windows']}) epochs {row['epochs']} "
                          f"(best {row['best_epoch']}) {row['wall']:.0f} s", flush=True)
                best = min(grid, key=lambda r: r["val"] if np.isfinite(r["val"]) else np.inf)
                best["chosen"] = True
                chosen.setdefault(model, []).append(best)
                # the variants at this model's validation-chosen learning rate (or, with --variant-lrs grid,
                # the comparable variants each over the whole grid, chosen on validation)
                for extra in variants_for(name, model, classical["ar_order"] if classical else None):
                    label = variant_label(extra)
                    lrs = args.lrs if args.variant_lrs == "grid" and comparable(label) else [best["lr"]]
                    tried = []
                    for lr in lrs:
                        try:
                            rec_v, row = run_one(y, t, settings, model, lr, seed, args.budget, extra, common=common)
                        except (TypeError, ValueError) as err:
                            print(f"  seed {seed} {model} {extra}: refused: {err}")
                            break
                        row.update(series=name, variant=label, chosen=False)
                        if rec_v is not None:
                            runs[run_key(row)] = rec_v
                        if rec_v is not None and "detrend" in extra:  # the trend (+ season) alone as the forecast
                            row["mse_transform"] = float(rec_v.metrics.get("mse_transform", float("nan")))
                        rows.append(row)
                        tried.append(row)
                        print(f"  seed {seed} {model} {extra} lr {lr:g}: val {row['val']:.4g} (record units {row['val_record']:.4g}) test {row['test_mse']:.4g} "
                              f"(non-finite test windows {row['nonfinite_windows']}) epochs {row['epochs']}"
                              + (f"; the AR start: val {row['start_val']:.4g}, kept {row['kept_start']}"
                                 if extra.get("ar_gate") else "")
                              + (f"; the transform alone: test {row['mse_transform']:.4g}" if "mse_transform" in row
                                 else ""), flush=True)
                    if tried:
                        pick = min(tried, key=lambda r: r["val"] if np.isfinite(r["val"]) else np.inf)
                        pick["chosen"] = True
                        chosen.setdefault(f"{model}, {label}", []).append(pick)
        key = "val_record" if args.select_on == "record" else "val"
        for model in NEURAL:  # each model's variant chosen on validation among its comparable rows
            picks = []
            for seed in args.seeds:
                pick, n = choose_row([r for r in rows if r["series"] == name], seed, args.select_on, model)
                if pick is not None:
                    picks.append(pick)
                if n > 1:
                    chosen.setdefault(f"{model}, chosen on val", []).append(dict(pick, picked=pick["variant"] or "plain"))
                    print(f"  seed {seed} {model.upper()} chosen on validation ({args.select_on} units): "
                          f"{pick['variant'] or 'plain'} (val {pick[key]:.4g}, test {pick['test_mse']:.4g})", flush=True)
            ens = ensemble_scores(picks, runs)  # the seeds' validation-chosen runs, their forecasts averaged
            if ens is not None:
                chosen.setdefault(f"{model}, ensemble of the seeds", []).append(
                    dict(test_mse=ens["mse"], coverage_2std=ens.get("coverage_2std", float("nan")),
                         coverage_2std_calibrated=ens.get("coverage_2std_calibrated", float("nan")),
                         std_scale=ens.get("std_scale", float("nan")),
                         lr=float("nan"), epochs=sum(p["epochs"] for p in picks)))
                print(f"  {model.upper()} ensemble of the {len(picks)} seeds' validation-chosen runs: test "
                      f"{ens['mse']:.4g}, test values within +-2 std: {ens.get('coverage_2std', float('nan')):.3f}; "
                      f"with the std scaled on validation (x{ens.get('std_scale', float('nan')):.3g}): "
                      f"{ens.get('coverage_2std_calibrated', float('nan')):.3f}", flush=True)
        runs.clear()
        best_name, best_key = min(CLASSICAL, key=lambda nk: classical[nk[1]])
        summary.append(dict(series=name, classical=classical, best_classical=best_name,
                            neural={k: [r["test_mse"] for r in v] for k, v in chosen.items()},
                            chosen_lr={k: [r["lr"] for r in v] for k, v in chosen.items()},
                            epochs={k: [r["epochs"] for r in v] for k, v in chosen.items()},
                            coverage_2std={k: v[0]["coverage_2std"] for k, v in chosen.items() if "coverage_2std" in v[0]},
                            coverage_2std_calibrated={k: v[0]["coverage_2std_calibrated"] for k, v in chosen.items()
                                                      if "coverage_2std_calibrated" in v[0]}))
        print()

    print("## Test MSE (series units squared) on the chronological test block\n")
    neural_names = list(dict.fromkeys(k for s in summary for k in s["neural"]))
    shown = [n.upper() if "," not in n else n.split(", ", 1)[0].upper() + ", " + n.split(", ", 1)[1]
             for n in neural_names]
    headers = ["series", "test windows", *shown, *[n for n, _ in CLASSICAL], "best classical",
               *[f"{n} / best classical" for n in shown]]
    table = []
    for s in summary:
        c, best = s["classical"], min(s["classical"][k] for _, k in CLASSICAL)
        cells = []
        for n, key in CLASSICAL:
            v = f"{c[key]:.4g}"
            if key == "ar_mse":
                v += f" (p={c['ar_order']})"
            elif key == "seasonal_naive_mse":
                v += f" (m={c['seasonal_naive_period']})"
            cells.append(v)
        table.append([s["series"], c["n_test_windows"], *[mean_std(s["neural"].get(n, []), digits=4) for n in neural_names],
                      *cells, s["best_classical"],
                      *[mean_std([v / best for v in s["neural"].get(n, [])]) for n in neural_names]])
    print(markdown_table(headers, table))

    print("\n## The learning-rate grid: validation score (forecast MSE on the validation windows, normalised units)\n")
    grid_rows = []
    for s in summary:
        for model in NEURAL:
            for seed in args.seeds:
                rs = [r for r in rows if r["series"] == s["series"] and r["model"] == model and r["seed"] == seed
                      and not r["variant"]]
                cells = [("failed" if not np.isfinite(r["val"]) else f"{r['val']:.4g}") + (" *" if r.get("chosen") else "")
                         for r in rs]
                grid_rows.append([s["series"], model.upper(), seed, *cells, " / ".join(str(r["epochs"]) for r in rs)])
    print(markdown_table(["series", "model", "seed", *[f"lr {lr:g}" for lr in args.lrs], "epochs run"], grid_rows))
    print("\n(* = chosen on validation; only the chosen point's test MSE enters the first table.)")
    result = dict(machine=machine_info("cpu"), budget=args.budget, seeds=args.seeds, lrs=args.lrs, common=common,
                  detrend_variants=variants, rows=rows, summary=summary)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1, default=str))
    return result


if __name__ == "__main__":
    main()
