"""Choosing the training length of a `SequenceClassifier` by k-fold cross-validation, then
fitting it on the whole training set: the protocol for small training sets.

With a few dozen training sequences, holding out 20 % for validation leaves a handful of
sequences to choose the epoch and takes them away from training. Here every training sequence
is used for both: the classifier is fit ``folds`` times, each time on all folds but one and
validated on that one; the number of epochs with the lowest validation cross-entropy averaged
over the folds is chosen; and a last fit on the whole set runs exactly that many epochs
(``val_fraction=0``: no sequence held out). Nothing looks at a test set.

Shapes as in `SequenceClassifier.fit`: X (N, T, d) or a list of (T_i, d) arrays, y (N,).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from warp_phys.classification.classifier import SequenceClassifier
from warp_phys.classification.inputs import as_labels, as_sequences
from warp_phys.validation import InputError, check_int, check_seed


@dataclass
class EpochSelection:
    """What the cross-validation found.

    ``epochs``: the chosen training length (1-based: the best mean epoch + 1);
    ``mean_val_loss`` (E,): the validation cross-entropy of each epoch averaged over the folds,
    over the E epochs that every fold ran (a budget can stop folds at different epochs);
    ``fold_val_loss``: each fold's own curve; ``fold_best_epochs``: each fold's best epoch
    (0-based); ``fold_val_accuracy``: each fold's validation accuracy at the chosen epoch.
    """

    epochs: int
    mean_val_loss: np.ndarray
    fold_val_loss: list[np.ndarray] = field(default_factory=list)
    fold_best_epochs: list[int] = field(default_factory=list)
    fold_val_accuracy: list[float] = field(default_factory=list)


def stratified_folds(y: Any, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``folds`` pairs (train indices, validation indices), both sorted: each class's sequences,
    shuffled with ``seed``, are dealt in turn to the folds, so every sequence is validated on
    exactly once and each fold's class counts differ by at most one. InputError when a class has
    fewer than ``folds`` sequences (a fold would then train without it)."""
    folds = check_int(folds, "folds", minimum=2)
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise InputError(f"y must be a non-empty 1-D array of labels, got shape {y.shape}")
    rng = np.random.default_rng(check_seed(seed))
    assigned = np.empty(y.size, dtype=np.int64)
    offset = 0
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        if idx.size < folds:
            raise InputError(f"class {label!r} has {idx.size} sequence(s), fewer than folds={folds}: every fold "
                             "must train on every class; use fewer folds")
        assigned[idx] = (np.arange(idx.size) + offset) % folds
        offset += idx.size  # the next class starts where this one stopped: fold sizes stay even
    return [(np.flatnonzero(assigned != k), np.flatnonzero(assigned == k)) for k in range(folds)]


def _clone(clf: SequenceClassifier, **changes: Any) -> SequenceClassifier:
    return SequenceClassifier(**{**clf.get_params(), **changes})


def select_epochs(clf: SequenceClassifier, X: Any, y: Any, *, folds: int = 4, lengths: Any = None) -> EpochSelection:
    """Fit copies of ``clf`` (its settings; ``clf`` itself is not fit) on ``folds`` stratified
    folds of (X, y), drawn with ``clf.seed``, and choose the number of epochs whose validation
    cross-entropy, averaged over the folds, is lowest (the earliest on a tie). Each fold runs with
    ``clf``'s epoch cap and ``max_time`` and no early stopping (patience = epochs), so that every
    fold's curve covers the epochs the cap and the clock allow."""
    if not isinstance(clf, SequenceClassifier):
        raise InputError(f"select_epochs / fit_cross_validated take a SequenceClassifier, got {type(clf).__name__}; "
                         "for an ensemble, cross-validate its base classifier and build the ensemble with the chosen "
                         "epochs")
    x, lens = as_sequences(X, lengths, "X")
    labels = as_labels(y, x.shape[0], "y")
    curves, best, fitted = [], [], []
    for train_idx, val_idx in stratified_folds(labels, folds, clf.seed):
        sub = _clone(clf, checkpoint_path=None, patience=clf.epochs)
        sub.fit(x[train_idx], labels[train_idx], lengths=lens[train_idx], X_val=x[val_idx], y_val=labels[val_idx],
                lengths_val=lens[val_idx])
        curves.append(np.asarray(sub.history_.val_loss, dtype=float))
        best.append(int(sub.history_.best_epoch))
        fitted.append(sub)
    common = min(len(c) for c in curves)
    if common == 0:
        raise InputError("no fold finished an epoch: give a larger max_time or fewer folds")
    mean = np.mean([c[:common] for c in curves], axis=0)
    chosen = int(np.argmin(mean))
    accuracy = [float(sub.history_.val_accuracy[chosen]) for sub in fitted]
    return EpochSelection(epochs=chosen + 1, mean_val_loss=mean, fold_val_loss=curves, fold_best_epochs=best,
                          fold_val_accuracy=accuracy)


def fit_cross_validated(clf: SequenceClassifier, X: Any, y: Any, *, folds: int = 4,
                        lengths: Any = None) -> tuple[SequenceClassifier, EpochSelection]:
    """`select_epochs`, then a copy of ``clf`` fit on all of (X, y) for exactly the chosen number
    of epochs (``val_fraction=0``, patience = epochs; as always without validation data, the weights
    kept are those of the epoch with the lowest training loss, usually the last). Its ``max_time`` is ``clf.max_time`` times
    folds / (folds - 1), the ratio of the training sizes, so that it can run as many epochs as the
    folds did; it still applies, so check ``history_.epochs_run``. Returns (the fitted copy, the
    selection)."""
    selection = select_epochs(clf, X, y, folds=folds, lengths=lengths)
    max_time = None if clf.max_time is None else float(clf.max_time) * folds / (folds - 1)
    final = _clone(clf, epochs=selection.epochs, patience=selection.epochs, val_fraction=0.0, max_time=max_time)
    final.fit(X, y, lengths=lengths)
    return final, selection


__all__ = ["EpochSelection", "fit_cross_validated", "select_epochs", "stratified_folds"]
