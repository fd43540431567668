"""benchmarks/classify.py's k-fold protocol (``--folds``): the row it reports is the refit that
`fit_cross_validated` gives, run for the chosen number of epochs."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import classify as CL  # noqa: E402

from warp_phys.classification import SequenceClassifier, fit_cross_validated  # noqa: E402


def test_the_k_fold_row_is_the_refit_at_the_chosen_length():
    *data, _ = CL.make_task("spirals", seed=0, fast=True)
    Xtr, ytr, Xte, yte = data
    row = CL.run_one("gru", data, budget=600.0, epochs=5, seed=0, folds=2)  # the epoch cap, not the clock, stops
    clf = SequenceClassifier("gru", epochs=5, patience=5, max_time=600.0, seed=0, device="cpu", **CL.SETTINGS["gru"])
    final, sel = fit_cross_validated(clf, Xtr, np.asarray(ytr), folds=2)
    assert row["epochs"] == row["best_epoch"] + 1 == sel.epochs and 1 <= sel.epochs <= 5
    assert row["test_acc"] == final.score(Xte, yte)
    assert row["val_acc"] == float(np.mean(sel.fold_val_accuracy)) and 0.0 <= row["val_acc"] <= 1.0
