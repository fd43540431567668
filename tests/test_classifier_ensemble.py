"""SeedEnsembleClassifier (warp_phys.classification.ensemble): members that differ only in their
seed, one validation split, one shared budget, probabilities averaged; and classify.py's choice of
the ensemble size on validation."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from test_classifier import FAST, SIZES, X_TEST, X_TRAIN, Y_TEST, Y_TRAIN
from warp_phys.classification import SeedEnsembleClassifier, SequenceClassifier
from warp_phys.classification.ensemble import held_out_scores
from warp_phys.classification.inputs import stratified_split
from warp_phys.validation import InputError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import classify as CL  # noqa: E402

#: 10 epochs: enough to separate the spirals (the members' own tests need 40 for 100 %), few
#: enough that three members stay fast.
SHORT = {**FAST, **SIZES["warp"], "epochs": 10}


@pytest.fixture(scope="module")
def ensemble() -> SeedEnsembleClassifier:
    return SeedEnsembleClassifier(SequenceClassifier("warp", seed=3, **SHORT), members=3).fit(X_TRAIN, Y_TRAIN)


def test_members_are_the_seeds_fits_on_one_validation_split(ensemble):
    """Member i is exactly SequenceClassifier(seed=3 + i) fit on the split that seed 3 draws (not
    the one its own seed would draw), and the ensemble's probabilities are their mean."""
    _, val_idx = stratified_split(np.asarray(Y_TRAIN), 0.2, 3)
    train_idx = np.setdiff1d(np.arange(len(Y_TRAIN)), val_idx)
    assert [m.seed for m in ensemble.members_] == [3, 4, 5]
    alone = SequenceClassifier("warp", seed=5, **SHORT).fit(
        X_TRAIN[train_idx], Y_TRAIN[train_idx], X_val=X_TRAIN[val_idx], y_val=Y_TRAIN[val_idx])
    np.testing.assert_array_equal(alone.predict_proba(X_TEST), ensemble.members_[2].predict_proba(X_TEST))
    own_split = SequenceClassifier("warp", seed=5, **SHORT).fit(X_TRAIN, Y_TRAIN)
    assert not np.array_equal(own_split.predict_proba(X_TEST), alone.predict_proba(X_TEST))
    mean = np.mean([m.predict_proba(X_TEST) for m in ensemble.members_], axis=0)
    np.testing.assert_allclose(ensemble.predict_proba(X_TEST), mean, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(ensemble.predict(X_TEST), ensemble.classes_[mean.argmax(1)])


def test_the_ensemble_separates_held_out_spirals_and_reports_its_validation_scores(ensemble):
    assert ensemble.score(X_TEST, Y_TEST) == 1.0
    _, val_idx = stratified_split(np.asarray(Y_TRAIN), 0.2, 3)
    proba = ensemble.predict_proba(X_TRAIN[val_idx])
    nll = -np.mean(np.log(proba[np.arange(len(val_idx)), Y_TRAIN[val_idx]]))
    assert ensemble.val_loss_ == pytest.approx(nll, rel=1e-12)
    assert ensemble.val_accuracy_ == float(np.mean(proba.argmax(1) == Y_TRAIN[val_idx]))
    assert held_out_scores(ensemble, X_TRAIN[val_idx], Y_TRAIN[val_idx]) == (ensemble.val_loss_,
                                                                             ensemble.val_accuracy_)


def test_members_share_the_budget():
    base = SequenceClassifier("warp", seed=0, max_time=9.0, **SHORT)
    assert [SeedEnsembleClassifier(base, members=3)._member(i).max_time for i in range(3)] == [3.0, 3.0, 3.0]
    assert SeedEnsembleClassifier(base, members=3, share_time=False)._member(1).max_time == 9.0
    assert SeedEnsembleClassifier(SequenceClassifier(**SHORT), members=2)._member(1).max_time is None


def test_bad_settings_and_use_before_fit_raise(tmp_path):
    with pytest.raises(InputError, match="not fitted"):
        SeedEnsembleClassifier(SequenceClassifier(), members=2).predict(X_TEST)
    with pytest.raises(InputError, match="base must be a SequenceClassifier"):
        SeedEnsembleClassifier("warp", members=2).fit(X_TRAIN, Y_TRAIN)
    with pytest.raises(InputError, match="members"):
        SeedEnsembleClassifier(SequenceClassifier(**SHORT), members=0).fit(X_TRAIN, Y_TRAIN)
    with pytest.raises(InputError, match="checkpoint_path"):
        SeedEnsembleClassifier(SequenceClassifier(checkpoint_path=tmp_path / "c.pt", **SHORT), members=2).fit(
            X_TRAIN, Y_TRAIN)


def test_held_out_scores_refuse_unknown_labels(ensemble):
    with pytest.raises(InputError, match="not fitted on"):
        held_out_scores(ensemble, X_TEST[:4], np.array([0, 1, 2, 0]))


def test_classify_reports_the_size_with_the_lower_validation_cross_entropy():
    *data, _ = CL.make_task("spirals", seed=0, fast=True)
    runs = [CL.run_one("gru", data, budget=600.0, epochs=3, seed=0, members=m) for m in (1, 2)]
    assert [r["members"] for r in runs] == [1, 2]
    assert len(runs[1]["epochs"].split("/")) == 2 == len(runs[1]["best_epoch"].split("/"))
    for r in runs:
        assert r["epochs"] in ("3", "3/3")  # the cap, not the clock, stopped every member
    assert all(0.0 <= r["val_loss"] and 0.0 <= r["val_acc"] <= 1.0 for r in runs)
    assert CL.choose_on_validation([dict(val_loss=0.2), dict(val_loss=0.1)])["val_loss"] == 0.1
    assert CL.choose_on_validation([dict(val_loss=0.1, k=0), dict(val_loss=0.1, k=1)])["k"] == 0
    with pytest.raises(ValueError, match="holdout"):
        CL.run_one("gru", data, budget=1.0, epochs=1, seed=0, folds=2, members=2)
