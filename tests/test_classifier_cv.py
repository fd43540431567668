"""k-fold choice of the training length (warp_phys.classification.model_selection)."""
from __future__ import annotations

import numpy as np
import pytest

from warp_phys.classification import SequenceClassifier, fit_cross_validated, select_epochs, stratified_folds
from warp_phys.validation import InputError

from test_classifier import FAST, SIZES, X_TEST, Y_TEST, spirals


@pytest.mark.parametrize("counts, folds", [((10, 10), 4), ((7, 13, 5), 5), ((3, 3), 3)])
def test_folds_partition_the_set_and_keep_the_classes_balanced(counts, folds):
    y = np.concatenate([np.full(n, c) for c, n in enumerate(counts)])
    pairs = stratified_folds(y, folds, seed=3)
    assert len(pairs) == folds
    validated = np.sort(np.concatenate([va for _, va in pairs]))
    assert np.array_equal(validated, np.arange(y.size))  # each sequence validated exactly once
    for tr, va in pairs:
        assert np.intersect1d(tr, va).size == 0 and tr.size + va.size == y.size
        for c, n in enumerate(counts):  # a class's share of a fold: floor or ceil of n / folds
            assert n // folds <= np.sum(y[va] == c) <= -(-n // folds)
            assert np.sum(y[tr] == c) >= 1
        assert max(va.size for _, va in pairs) - min(va.size for _, va in pairs) <= 1
    again = stratified_folds(y, folds, seed=3)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(pairs, again))
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(pairs, stratified_folds(y, folds, seed=4)))


def test_a_class_smaller_than_the_folds_is_refused():
    with pytest.raises(InputError, match="fewer than folds=4"):
        stratified_folds(np.array([0] * 10 + [1] * 3), 4, seed=0)


def test_the_chosen_length_is_the_lowest_mean_validation_loss_and_the_refit_runs_it():
    x, y = spirals(48, seed=5)
    clf = SequenceClassifier("gru", **{**FAST, **SIZES["gru"], "epochs": 12, "seed": 1, "patience": 1})
    final, sel = fit_cross_validated(clf, x, y, folds=3)
    common = min(len(c) for c in sel.fold_val_loss)
    assert common == 12  # no early stopping in the folds: every curve covers the epoch cap
    assert len(sel.fold_val_loss) == 3 and sel.mean_val_loss.shape == (common,)
    np.testing.assert_allclose(sel.mean_val_loss, np.mean([c[:common] for c in sel.fold_val_loss], axis=0))
    assert sel.epochs == int(np.argmin(sel.mean_val_loss)) + 1
    assert final.history_.epochs_run == sel.epochs and not final.history_.val_loss  # nothing held out
    assert final.val_fraction == 0.0 and clf.val_fraction == 0.2 and not hasattr(clf, "model_")
    assert final.score(X_TEST, Y_TEST) >= 0.95  # the spirals are separable; 48 sequences suffice
    again, sel2 = fit_cross_validated(clf, x, y, folds=3)
    assert sel2.epochs == sel.epochs
    np.testing.assert_array_equal(again.predict_proba(X_TEST), final.predict_proba(X_TEST))


def test_select_epochs_refuses_a_class_smaller_than_the_folds_before_fitting():
    x, y = spirals(6, seed=0)
    with pytest.raises(InputError, match="fewer than folds"):
        select_epochs(SequenceClassifier("gru", **FAST), x, y, folds=4)


def test_the_refit_gets_the_time_of_the_larger_training_set(monkeypatch):
    seen = []
    original = SequenceClassifier.fit

    def spy(self, *a, **k):
        seen.append((self.max_time, self.val_fraction))
        return original(self, *a, **k)

    monkeypatch.setattr(SequenceClassifier, "fit", spy)
    x, y = spirals(24, seed=2)
    fit_cross_validated(SequenceClassifier("gru", **{**FAST, **SIZES["gru"], "epochs": 3, "max_time": 30.0}), x, y,
                        folds=3)
    assert seen == [(30.0, 0.2)] * 3 + [(45.0, 0.0)]


def test_an_ensemble_is_refused_with_the_way_round():
    from warp_phys.classification import SeedEnsembleClassifier

    x, y = spirals(16, seed=0)
    with pytest.raises(InputError, match="cross-validate its base classifier"):
        fit_cross_validated(SeedEnsembleClassifier(SequenceClassifier("gru", **FAST), members=2), x, y, folds=2)
