"""Saving and loading a fitted `SequenceClassifier` or `SeedEnsembleClassifier` (`save_classifier`,
`load_classifier`).

The file is a checksummed warp_phys file (`warp_phys.checkpoint.atomic_save`: written atomically,
SHA-256 checked on load, tensors and plain values only, no pickled code). It holds the
constructor's settings, the classes, the channel scaler, the time step, the read-out, the
module's parameters and the training history; loading rebuilds the module from the settings
and gives bit-identical predictions. An ensemble's file holds its settings, its validation scores
and these contents for every member.
"""
from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from warp_phys.checkpoint import atomic_save, load_verified
from warp_phys.device import resolve_device
from warp_phys.scaling import Scaler
from warp_phys.training import TrainHistory
from warp_phys.validation import InputError

from .classifier import SequenceClassifier
from .ensemble import SeedEnsembleClassifier

#: The ``format`` entry of a classifier file. /2: written since WARP reads the signed-area channels
#: by default (``area=True``); a /1 file's WARP module had none, and loads with ``area=False``.
FORMAT = "warp_phys.SequenceClassifier/2"
FORMAT_V1 = "warp_phys.SequenceClassifier/1"
#: A `SeedEnsembleClassifier`: its settings and one classifier's contents per member.
ENSEMBLE_FORMAT = "warp_phys.SeedEnsembleClassifier/1"
_NOT_SAVED = ("checkpoint_path", "device", "progress")  # where and how it ran, not what it is


def _member_payload(clf: SequenceClassifier) -> dict[str, Any]:
    """A fitted classifier's file contents (without ``format``)."""
    params = {k: v for k, v in clf.get_params().items() if k not in _NOT_SAVED}
    classes = clf.classes_.tolist()
    scaler = None if clf.scaler_ is None else {"loc": clf.scaler_.loc.cpu(), "scale": clf.scaler_.scale.cpu()}
    return {"params": params, "classes": classes, "n_features": int(clf.n_features_in_),
            "readout": clf.readout_, "dt": float(clf.dt_), "scaler": scaler,
            "state_dict": {k: v.detach().cpu() for k, v in clf.model_.state_dict().items()},
            "history": asdict(clf.history_)}


def save_classifier(clf: SequenceClassifier | SeedEnsembleClassifier, path: str | os.PathLike, *,
                    overwrite: bool = True) -> None:
    """Write the fitted ``clf`` (a `SequenceClassifier`, or a `SeedEnsembleClassifier` with all
    its members) to ``path`` (atomically; ``overwrite=False`` refuses an existing file).
    InputError if it is not fitted or its settings are not plain values."""
    if isinstance(clf, SeedEnsembleClassifier):
        if not hasattr(clf, "members_"):
            raise InputError("save_classifier needs a fitted SeedEnsembleClassifier; call fit(X, y) first")
        base = {k: v for k, v in clf.base.get_params().items() if k not in _NOT_SAVED}
        payload = {"format": ENSEMBLE_FORMAT, "base": base, "members": int(clf.members),
                   "share_time": bool(clf.share_time), "val_loss": float(clf.val_loss_),
                   "val_accuracy": float(clf.val_accuracy_), "fits": [_member_payload(m) for m in clf.members_]}
    elif isinstance(clf, SequenceClassifier) and hasattr(clf, "model_"):
        payload = {"format": FORMAT, **_member_payload(clf)}
    else:
        raise InputError("save_classifier needs a fitted SequenceClassifier or SeedEnsembleClassifier; call "
                         "fit(X, y) first")
    atomic_save(payload, path, overwrite=overwrite)


def _rebuild(payload: dict[str, Any], device: str | torch.device, *, version_1: bool = False) -> SequenceClassifier:
    """The fitted `SequenceClassifier` of one classifier's file contents, its module on ``device``."""
    params = dict(payload["params"])
    if version_1 and params.get("model") == "warp":
        params.setdefault("area", False)  # written before the area channels (and their default) existed
    clf = SequenceClassifier(**params, device=str(device))
    classes = np.asarray(payload["classes"])
    module = clf._build(payload["n_features"], len(classes), payload["readout"])
    module.load_state_dict(payload["state_dict"])
    module.to(resolve_device(device)).eval()
    scaler = payload["scaler"]
    clf.model_, clf.classes_, clf.n_features_in_ = module, classes, payload["n_features"]
    clf.readout_, clf.dt_ = payload["readout"], payload["dt"]
    clf.scaler_ = None if scaler is None else Scaler(scaler["loc"], scaler["scale"])
    clf.history_ = TrainHistory(**payload["history"])
    return clf


def load_classifier(path: str | os.PathLike,
                    device: str | torch.device = "auto") -> SequenceClassifier | SeedEnsembleClassifier:
    """The classifier that `save_classifier` wrote to ``path`` (a `SequenceClassifier` or a
    `SeedEnsembleClassifier`), its modules on ``device``. Raises FileNotFoundError,
    `warp_phys.atomic.CorruptFileError` (damaged file) or InputError (not a classifier file)."""
    payload = load_verified(path)
    if not isinstance(payload, dict) or payload.get("format") not in (FORMAT, FORMAT_V1, ENSEMBLE_FORMAT):
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise InputError(f"{path} is not a SequenceClassifier file (format {found!r}, expected {FORMAT!r}); "
                         "models saved with warp_phys.save_model load with warp_phys.load_model")
    if payload["format"] != ENSEMBLE_FORMAT:
        return _rebuild(payload, device, version_1=payload["format"] == FORMAT_V1)
    ens = SeedEnsembleClassifier(SequenceClassifier(**payload["base"], device=str(device)),
                                 members=payload["members"], share_time=payload["share_time"])
    ens.members_ = [_rebuild(fit, device) for fit in payload["fits"]]
    ens.classes_, ens.n_features_in_ = ens.members_[0].classes_, ens.members_[0].n_features_in_
    ens.val_loss_, ens.val_accuracy_ = payload["val_loss"], payload["val_accuracy"]
    return ens


__all__ = ["ENSEMBLE_FORMAT", "FORMAT", "FORMAT_V1", "load_classifier", "save_classifier"]
