"""`SeedEnsembleClassifier`: a few `SequenceClassifier` fits that differ only in their seed,
their class probabilities averaged.

The members share one training budget: with ``share_time=True`` (default) each runs
``max_time / members`` seconds, so the ensemble costs what one fit of ``max_time`` costs. A model
that converges well inside its budget (WARP on a few dozen sequences) turns the unused time into
members; one that needs all of it is cut short, so whether an ensemble helps is a question for
the validation set (``val_loss_``), not a default. Every member selects its best epoch on the
same validation split. Shapes as in `SequenceClassifier.fit`: X (N, T, d) or a list of (T_i, d)
arrays, y (N,).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from warp_phys.classification.classifier import LabelsFromProbabilities, SequenceClassifier
from warp_phys.classification.inputs import as_labels, as_sequences, stratified_split
from warp_phys.validation import InputError, check_int


def held_out_scores(clf: LabelsFromProbabilities, X: Any, y: Any, *, lengths: Any = None) -> tuple[float, float]:
    """(mean cross-entropy in nats, accuracy) of a fitted classifier's ``predict_proba`` on
    labelled sequences X, y (N,); labels outside ``clf.classes_`` raise InputError."""
    proba = clf.predict_proba(X, lengths=lengths)
    labels = as_labels(y, proba.shape[0], "y")
    unknown = sorted(set(labels.tolist()) - set(clf.classes_.tolist()), key=str)
    if unknown:
        raise InputError(f"y holds labels {unknown[:5]} that the classifier was not fitted on")
    truth = np.searchsorted(clf.classes_, labels)
    picked = proba[np.arange(len(truth)), truth]
    return float(-np.mean(np.log(np.maximum(picked, np.finfo(float).tiny)))), float(np.mean(proba.argmax(1) == truth))


class SeedEnsembleClassifier(LabelsFromProbabilities):
    """The mean class probabilities of ``members`` fits of ``base``'s settings with seeds
    ``base.seed``, ``base.seed + 1``, ...: ``fit``, ``predict_proba``; ``predict`` and ``score``
    (`LabelsFromProbabilities`) read the mean probabilities.

    Args (stored only; ``fit`` checks them):
        base: an unfitted `SequenceClassifier` whose settings every member copies (its seed is
            the first member's; it is not fit itself).
        members: number of fits (>= 1).
        share_time: each member gets ``base.max_time / members`` seconds (the ensemble's budget
            is one fit's); False: each gets ``base.max_time``.

    Attributes after ``fit``: ``members_`` (the fitted classifiers), ``classes_`` (K,),
    ``n_features_in_``, ``val_loss_`` and ``val_accuracy_`` (the averaged probabilities' mean
    cross-entropy (nats) and accuracy on the validation split; NaN without one).
    """

    def __init__(self, base: SequenceClassifier, members: int = 4, *, share_time: bool = True) -> None:
        self.base, self.members, self.share_time = base, members, share_time

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's settings, as scikit-learn expects."""
        return dict(base=self.base, members=self.members, share_time=self.share_time)

    def __repr__(self) -> str:
        return f"SeedEnsembleClassifier({self.base!r}, members={self.members})"

    def _member(self, i: int) -> SequenceClassifier:
        params = self.base.get_params()
        max_time = params["max_time"]
        if self.share_time and max_time is not None:
            max_time = float(max_time) / self.members
        return SequenceClassifier(**{**params, "seed": int(params["seed"]) + i, "max_time": max_time,
                                     "checkpoint_path": None})

    def fit(self, X: Any, y: Any, *, lengths: Any = None, X_val: Any = None, y_val: Any = None,
            lengths_val: Any = None) -> "SeedEnsembleClassifier":
        """Fit the members on (X, y); validation as in `SequenceClassifier.fit` (default: the
        stratified ``base.val_fraction`` of X drawn with ``base.seed``, the same for every member).
        Returns self."""
        if not isinstance(self.base, SequenceClassifier):
            raise InputError(f"base must be a SequenceClassifier, got {type(self.base).__name__}")
        n_members = check_int(self.members, "members", minimum=1)
        if self.base.checkpoint_path is not None:
            raise InputError("checkpoint_path is one file per fit; an ensemble's members cannot share it: leave it "
                             "None in base")
        x, lens = as_sequences(X, lengths, "X")
        labels = as_labels(y, x.shape[0], "y")
        if X_val is None and y_val is None and lengths_val is None and float(self.base.val_fraction) > 0:
            _, y_idx = np.unique(labels, return_inverse=True)
            train_idx, val_idx = stratified_split(y_idx, float(self.base.val_fraction), int(self.base.seed))
            X_val, y_val, lengths_val = x[val_idx], labels[val_idx], lens[val_idx]
            x, lens, labels = x[train_idx], lens[train_idx], labels[train_idx]
        self.members_ = [self._member(i).fit(x, labels, lengths=lens, X_val=X_val, y_val=y_val,
                                             lengths_val=lengths_val) for i in range(n_members)]
        self.classes_, self.n_features_in_ = self.members_[0].classes_, self.members_[0].n_features_in_
        self.val_loss_ = self.val_accuracy_ = float("nan")
        if X_val is not None:
            self.val_loss_, self.val_accuracy_ = held_out_scores(self, X_val, y_val, lengths=lengths_val)
        return self

    def predict_proba(self, X: Any, *, lengths: Any = None) -> np.ndarray:
        """The members' mean class probabilities (N, K), columns in the order of ``classes_``."""
        if not hasattr(self, "members_"):
            raise InputError("this SeedEnsembleClassifier is not fitted yet; call fit(X, y) before predicting")
        return np.mean([m.predict_proba(X, lengths=lengths) for m in self.members_], axis=0)


__all__ = ["SeedEnsembleClassifier", "held_out_scores"]
