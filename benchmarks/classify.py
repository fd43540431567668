"""Sequence classification: WARP, GRU, LSTM and a causal transformer on the package's physics
tasks and on real UCR/UEA sets bundled with sktime, through `warp_phys.classification.SequenceClassifier`.

    python benchmarks/classify.py                            # the recorded run (seed 0, 45 s per model per task)
    python benchmarks/classify.py --budget 60 --tasks spirals ItalyPowerDemand
    python benchmarks/classify.py --fast                     # smoke test: 3 s per model, small tasks
    python benchmarks/classify.py --folds 3 --tasks ItalyPowerDemand   # k-fold choice of the epochs, then refit
    python benchmarks/classify.py --tasks spirals --train-scale 3   # 3x the generated training sets
    python benchmarks/classify.py --members 1 4 --tasks GunPoint   # single fits or 4-seed ensembles, chosen on validation

Protocol (the same for every model):

* Tasks: ``spirals`` (clockwise vs anticlockwise, T=64), ``system_regimes`` (which of 7 ODE systems
  made a noisy z-scored window, T=96), ``lorenz_regimes`` (Lorenz-63 windows, chaotic vs
  non-chaotic by the sign of the largest Lyapunov exponent, T=128); training and test sets are
  generated with different seeds. Real sets: the archive's own train/test split.
* Validation: a stratified 20 % of the training set, drawn with the seed (the same split for
  every model), selects the best epoch (validation cross-entropy). The test set is scored once,
  at the selected epoch; nothing is chosen on it. With ``--folds K`` (for small training sets):
  K-fold stratified cross-validation of the whole training set chooses the number of epochs (the
  lowest validation cross-entropy averaged over the folds), then one fit on the whole training set
  runs that many (`warp_phys.classification.fit_cross_validated`): K fits of ``--budget`` s, then one
  of ``--budget`` x K / (K - 1) s (the training set is that much larger).
* Budget: ``--budget`` seconds of training per model per task (``max_time``), an epoch cap
  (``--epochs``) and patience so large that the clock stops almost every run; lr 1e-3, batch 32;
  WARP's root network 24 x 2 (chosen on validation, see ``SETTINGS``; WARP reads each channel, the
  running means of its square and squared increments, the module's default ``energy=True``, and the
  running signed area of each channel pair, ``area=True``), the GRU, LSTM and
  transformer at the classifier's defaults (hidden 64, 2 layers); the same for every task.
* Ensembles (``--members 1 4``): every model also runs as a seed ensemble
  (`warp_phys.classification.SeedEnsembleClassifier`) whose members share its budget; per model the
  size with the lowest validation cross-entropy of the averaged probabilities is reported.
* Threads: run it pinned to one core with ``OMP_NUM_THREADS=1`` (torch uses one thread).

Writes ``benchmarks/results/classify_<date>.md`` and ``.csv`` (``--out`` changes the stem):
test accuracy, validation accuracy, training time and epochs per model per task, and the
published accuracies of other methods on the real sets (``PUBLISHED``, with their sources).
"""
from __future__ import annotations

import argparse
import csv
import datetime as _dt
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import format_machine, machine_info, markdown_table  # noqa: E402

MODELS = ("warp", "gru", "lstm", "transformer")
PHYSICS = ("spirals", "system_regimes", "lorenz_regimes")
REAL = ("ItalyPowerDemand", "BasicMotions", "GunPoint", "ArrowHead", "JapaneseVowels", "OSULeaf", "ACSF1", "PLAID")
DEFAULT_TASKS = ("spirals", "system_regimes", "lorenz_regimes", "ItalyPowerDemand", "BasicMotions")
#: constructor settings per model (besides the budget); defaults of SequenceClassifier otherwise
#: WARP's root network: 24 wide, 2 hidden layers (chosen on the validation accuracy of system_regimes:
#: 0.926 against 0.855 for the default 48 x 3, which overfitted); the others at their defaults
#: (hidden 64, 2 layers), not tuned.
SETTINGS: dict[str, dict] = {m: dict(lr=1e-3, batch_size=32) for m in MODELS}
SETTINGS["warp"].update(width=24, depth=2)

#: published test accuracies on the archive's split, with their source (quoted, not re-run)
PUBLISHED = {
    "ItalyPowerDemand": [
        ("1-NN Euclidean", 1 - 0.0447, "UCR archive 2018, DataSummary.csv (error 0.0447), "
         "copy in github.com/sensorlab/KAN_TS/DataSummary.csv"),
        ("1-NN DTW, learned window", 1 - 0.0447, "UCR archive 2018, DataSummary.csv (error 0.0447)"),
        ("1-NN DTW, full window", 1 - 0.0496, "UCR archive 2018, DataSummary.csv (error 0.0496)"),
        ("ROCKET (10 runs, mean)", 0.96958212, "Dempster et al. 2020, github.com/angus924/rocket "
         "results/results_ucr.csv"),
    ],
    "GunPoint": [
        ("1-NN Euclidean", 1 - 0.0867, "UCR archive 2018, DataSummary.csv (error 0.0867)"),
        ("ROCKET (10 runs, mean)", 1.0, "github.com/angus924/rocket results/results_ucr.csv"),
    ],
    "ArrowHead": [
        ("1-NN Euclidean", 1 - 0.2, "UCR archive 2018, DataSummary.csv (error 0.2000)"),
        ("ROCKET (10 runs, mean)", 0.81428571, "github.com/angus924/rocket results/results_ucr.csv"),
    ],
    "OSULeaf": [
        ("1-NN Euclidean", 1 - 0.4793, "UCR archive 2018, DataSummary.csv (error 0.4793)"),
        ("ROCKET (10 runs, mean)", 0.94090909, "github.com/angus924/rocket results/results_ucr.csv"),
    ],
    "ACSF1": [
        ("1-NN Euclidean", 1 - 0.46, "UCR archive 2018, DataSummary.csv (error 0.46)"),
        ("1-NN DTW, learned window", 1 - 0.38, "UCR archive 2018, DataSummary.csv (error 0.3800)"),
        ("ROCKET (10 runs, mean)", 0.886, "github.com/angus924/rocket results/results_ucr.csv"),
    ],
    "PLAID": [
        ("ROCKET (10 runs, mean)", 0.90260708, "github.com/angus924/rocket results/results_ucr.csv"),
    ],
}


def make_task(name: str, seed: int, fast: bool, train_scale: float = 1.0):
    """(X_train, y_train, X_test, y_test, description) of a task; ``train_scale`` multiplies the
    number of training sequences of the generated tasks (not the test sets, not the real sets)."""
    from warp_phys.classification.tasks import lorenz_regimes, spirals, system_regimes

    scale = lambda n: max(2, int(round(n * train_scale)))  # noqa: E731

    if name == "spirals":
        n_tr, n_te = (80, 80) if fast else (600, 600)
        tr, te = spirals(scale(n_tr), seed=2 * seed), spirals(n_te, seed=2 * seed + 1)
        desc = f"T={tr.X.shape[1]}, d=2, noise {tr.info['noise']}"
    elif name == "system_regimes":
        n_tr, n_te = (10, 10) if fast else (800, 100)
        tr, te = system_regimes(scale(n_tr), seed=2 * seed), system_regimes(n_te, seed=2 * seed + 1)
        desc = (f"{len(tr.classes)} systems, T={tr.X.shape[1]} over {tr.info['cycles']:g} natural periods, d=2, "
                f"noise {tr.info['noise']}")
    elif name == "lorenz_regimes":
        n_tr, n_te = (40, 40) if fast else (1500, 500)
        kw = dict(n_rho=11) if fast else {}
        tr, te = lorenz_regimes(scale(n_tr), seed=2 * seed, **kw), lorenz_regimes(n_te, seed=2 * seed + 1, **kw)
        desc = (f"rho in [{tr.info['rho_grid'][0]:g}, {tr.info['rho_grid'][-1]:g}] "
                f"({len(tr.info['rho_grid'])} values; non-chaotic {tr.info['grid_balance']['non-chaotic']}), "
                f"T={tr.X.shape[1]}, d=3, test balance {te.info['balance']}")
    else:
        from warp_phys.classification.datasets import load_ucr

        Xtr, ytr = load_ucr(name, split="train")
        Xte, yte = load_ucr(name, split="test")
        T = Xtr.shape[1] if not isinstance(Xtr, list) else f"{min(len(x) for x in Xtr)}-{max(len(x) for x in Xtr)}"
        d = (Xtr.shape[2] if not isinstance(Xtr, list) else Xtr[0].shape[1])
        return Xtr, ytr, Xte, yte, f"UCR/UEA, T={T}, d={d}, {len(set(ytr))} classes"
    n_cls = len(tr.classes)
    return tr.X, tr.y, te.X, te.y, f"{desc}; {len(tr.y)} train / {len(te.y)} test, {n_cls} classes"


def split_validation(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (train, validation) indices: ``fraction`` of each class (at least one) held out."""
    rng = np.random.default_rng(seed)
    tr, va = [], []
    for c in sorted(set(y.tolist())):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        k = max(1, int(round(fraction * len(idx))))
        va.append(idx[:k])
        tr.append(idx[k:])
    return np.sort(np.concatenate(tr)), np.sort(np.concatenate(va))


def _take(X, idx):
    return [X[i] for i in idx] if isinstance(X, list) else X[idx]


def run_one(model: str, data, *, budget: float, epochs: int, seed: int, folds: int = 0, members: int = 1) -> dict:
    """One model on one task: the holdout protocol (``folds=0``) or the k-fold one (`run_one_cv`).
    ``members`` > 1 (holdout only): a `SeedEnsembleClassifier` of that many seeds sharing the budget
    (``budget / members`` s each), every member on the same validation split. ``val_loss``: the
    mean validation cross-entropy (nats) of the (averaged) class probabilities."""
    if folds:
        if members != 1:
            raise ValueError("--members applies to the holdout protocol only, not with --folds")
        return run_one_cv(model, data, budget=budget, epochs=epochs, seed=seed, folds=folds)
    import torch

    from warp_phys.classification import SeedEnsembleClassifier, SequenceClassifier
    from warp_phys.classification.ensemble import held_out_scores

    Xtr, ytr, Xte, yte = data
    itr, iva = split_validation(np.asarray(ytr), 0.2, seed)
    clf = SequenceClassifier(model, epochs=epochs, patience=epochs, max_time=budget, seed=seed, device="cpu",
                             **SETTINGS[model])
    if members > 1:
        clf = SeedEnsembleClassifier(clf, members=members)
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    clf.fit(_take(Xtr, itr), np.asarray(ytr)[itr], X_val=_take(Xtr, iva), y_val=np.asarray(ytr)[iva])
    fit_s = time.perf_counter() - t0
    fits = clf.members_ if members > 1 else [clf]
    join = lambda values: "/".join(str(v) for v in values)  # noqa: E731
    val_loss, val_acc = held_out_scores(clf, _take(Xtr, iva), np.asarray(ytr)[iva])
    return dict(model=model, members=members, test_acc=clf.score(Xte, yte), val_acc=val_acc, val_loss=val_loss,
                train_acc=clf.score(_take(Xtr, itr), np.asarray(ytr)[itr]), fit_s=fit_s,
                epochs=join(int(f.history_.epochs_run) for f in fits),
                best_epoch=join(int(f.history_.best_epoch) if f.history_.best_epoch is not None else -1 for f in fits),
                n_params=int(sum(p.numel() for f in fits for p in f.model_.parameters())))


def run_one_cv(model: str, data, *, budget: float, epochs: int, seed: int, folds: int) -> dict:
    """The k-fold protocol: ``folds`` fits of ``budget`` s each choose the number of epochs (lowest mean
    validation cross-entropy), then one fit on the whole training set runs it
    (`warp_phys.classification.fit_cross_validated`). ``val_acc``: the folds' mean validation accuracy at
    the chosen epoch; ``best_epoch``: the chosen epoch (0-based), ``epochs``: the epochs the last fit ran."""
    import torch

    from warp_phys.classification import SequenceClassifier, fit_cross_validated

    Xtr, ytr, Xte, yte = data
    clf = SequenceClassifier(model, epochs=epochs, patience=epochs, max_time=budget, seed=seed, device="cpu",
                             **SETTINGS[model])
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    final, sel = fit_cross_validated(clf, Xtr, np.asarray(ytr), folds=folds)
    fit_s = time.perf_counter() - t0
    return dict(model=model, members=1, test_acc=final.score(Xte, yte), val_acc=float(np.mean(sel.fold_val_accuracy)),
                val_loss=float(sel.mean_val_loss[sel.epochs - 1]), train_acc=final.score(Xtr, np.asarray(ytr)), fit_s=fit_s, epochs=int(final.history_.epochs_run),
                best_epoch=sel.epochs - 1, n_params=int(sum(p.numel() for p in final.model_.parameters())))


def choose_on_validation(runs: list[dict]) -> dict:
    """The run with the lowest validation cross-entropy (the first listed on a tie)."""
    return min(runs, key=lambda r: r["val_loss"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=45.0, help="training seconds per model per task")
    ap.add_argument("--epochs", type=int, default=2000, help="epoch cap (the same for every model)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tasks", nargs="+", default=list(DEFAULT_TASKS), choices=list(PHYSICS + REAL))
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--fast", action="store_true", help="smoke test: 3 s per model, small tasks")
    ap.add_argument("--folds", type=int, default=0,
                    help="k-fold protocol: choose the epochs by FOLDS-fold cross-validation of the training set, "
                         "then refit on all of it (FOLDS fits of --budget s, the refit FOLDS / (FOLDS - 1) times that); "
                         "0: the 20 %% holdout")
    ap.add_argument("--members", type=int, nargs="+", default=[1],
                    help="holdout protocol: run each model as a seed ensemble of each of these sizes, the budget "
                         "shared by its members, and report for each model the size with the lowest validation "
                         "cross-entropy (default: 1, single fits)")
    ap.add_argument("--train-scale", type=float, default=1.0,
                    help="multiply the training-set size of the generated tasks (test sets unchanged)")
    ap.add_argument("--out", default=None, help="output stem (default benchmarks/results/classify_<date>)")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    budget = 3.0 if args.fast else args.budget
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")
    stem = Path(args.out) if args.out else Path(__file__).resolve().parent / "results" / (
        f"classify_{'fast_' if args.fast else ''}{date}")
    stem.parent.mkdir(parents=True, exist_ok=True)
    rows, descs = [], {}
    t_all = time.perf_counter()
    for task in args.tasks:
        t0 = time.perf_counter()
        *data, desc = make_task(task, args.seed, args.fast, args.train_scale)
        descs[task] = f"{desc} (generated/loaded in {time.perf_counter() - t0:.1f} s)"
        print(f"== {task}: {descs[task]}", flush=True)
        for model in args.models:
            runs = []
            for members in args.members:
                r = run_one(model, data, budget=budget, epochs=args.epochs, seed=args.seed, folds=args.folds,
                            members=members)
                r["task"] = task
                runs.append(r)
                print(f"   {model:<12} x{members} test {r['test_acc']:.4f}  val {r['val_acc']:.4f} (CE "
                      f"{r['val_loss']:.4f})  train {r['train_acc']:.4f}  {r['fit_s']:.1f} s  {r['epochs']} epochs "
                      f"(best {r['best_epoch']})  {r['n_params']} params", flush=True)
            chosen = choose_on_validation(runs)
            for r in runs:
                r["chosen"] = r is chosen
            rows += runs
    total = time.perf_counter() - t_all

    fields = ["task", "model", "members", "chosen", "test_acc", "val_acc", "val_loss", "train_acc", "fit_s",
              "epochs", "best_epoch", "n_params"]
    with open(stem.with_suffix(".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{r[k]:.4f}" if isinstance(r[k], float) else r[k]) for k in fields})

    info = machine_info()
    info["host"] = platform.node()
    try:
        info["cpu_model"] = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                                 if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    lines = [f"# Sequence classification benchmark ({info['date']})", "",
             f"`python benchmarks/classify.py {' '.join(argv if argv is not None else sys.argv[1:])}`; "
             f"budget {budget:g} s of training per model per task, epoch cap {args.epochs}, patience = cap, "
             f"seed {args.seed}; " + (
                 f"number of epochs chosen by {args.folds}-fold stratified cross-validation of the training set "
                 f"(lowest mean validation cross-entropy; {args.folds} fits of {budget:g} s), then one fit of "
                 f"{budget * args.folds / (args.folds - 1):g} s on the whole training set; val = the folds' mean accuracy at the chosen epoch"
                 if args.folds else "best epoch chosen on a stratified 20 % validation split of the training set") +
             f"; test scored once. Total wall time {total / 60:.1f} min.", "", "## Machine", "", format_machine(info),
             "", "## Tasks", ""]
    lines += [f"- **{t}**: {d}" for t, d in descs.items()]
    lines += ["", "## Test accuracy", ""]
    table = []
    several = len(args.members) > 1
    for task in args.tasks:
        cells = {r["model"]: r for r in rows if r["task"] == task and r["chosen"]}
        best = max(r["test_acc"] for r in cells.values())
        table.append([task] + [("**%.3f**" if cells[m]["test_acc"] == best else "%.3f") % cells[m]["test_acc"]
                               + (f" (x{cells[m]['members']})" if several else "") for m in args.models])
    lines.append(markdown_table(["task"] + list(args.models), table))
    if several:
        lines += ["", f"Each model ran as a seed ensemble of each size in {args.members} (the budget shared by the "
                  "members); the table shows, per model, the size with the lowest validation cross-entropy (in "
                  "parentheses); every size's test accuracy is in the details."]
    lines += ["", "## Details (validation accuracy and cross-entropy, training time, epochs run / best epoch, "
              "parameters; ensembles: per member)", ""]
    lines.append(markdown_table(["task", "model", "members", "chosen", "test", "val", "val CE", "train", "fit s",
                                 "epochs (best)", "params"],
                                [[r["task"], r["model"], r["members"], "yes" if r["chosen"] else "",
                                  f"{r['test_acc']:.3f}", f"{r['val_acc']:.3f}", f"{r['val_loss']:.4f}",
                                  f"{r['train_acc']:.3f}", f"{r['fit_s']:.0f}", f"{r['epochs']} ({r['best_epoch']})",
                                  r["n_params"]] for r in rows]))
    pub = [(t, m, a, s) for t in args.tasks for (m, a, s) in PUBLISHED.get(t, [])]
    if pub:
        lines += ["", "## Published accuracies on the same splits (quoted, not re-run here)", ""]
        lines.append(markdown_table(["set", "method", "test accuracy", "source"],
                                    [[t, m, f"{a:.4f}", s] for t, m, a, s in pub]))
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[lines.index("## Test accuracy"):]))
    print(f"wrote {stem.with_suffix('.md')} and {stem.with_suffix('.csv')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
