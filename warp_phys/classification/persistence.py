"""Saving and loading a fitted `SequenceClassifier` (`save_classifier`, `load_classifier`).

The file is a checksummed warp_phys file (`warp_phys.checkpoint.atomic_save`: written atomically,
SHA-256 checked on load, tensors and plain values only, no pickled code). It holds the
constructor's settings, the classes, the channel scaler, the time step, the read-out, the
module's parameters and the training history; loading rebuilds the module from the settings
and gives bit-identical predictions.
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

#: The ``format`` entry of a classifier file. /2: written since WARP reads the signed-area channels
#: by default (``area=True``); a /1 file's WARP module had none, and loads with ``area=False``.
FORMAT = "warp_phys.SequenceClassifier/2"
FORMAT_V1 = "warp_phys.SequenceClassifier/1"
_NOT_SAVED = ("checkpoint_path", "device", "progress")  # where and how it ran, not what it is


def save_classifier(clf: SequenceClassifier, path: str | os.PathLike, *, overwrite: bool = True) -> None:
    """Write the fitted ``clf`` to ``path`` (atomically; ``overwrite=False`` refuses an existing
    file). InputError if it is not fitted or its settings are not plain values."""
    if not isinstance(clf, SequenceClassifier) or not hasattr(clf, "model_"):
        raise InputError("save_classifier needs a fitted SequenceClassifier; call fit(X, y) first")
    params = {k: v for k, v in clf.get_params().items() if k not in _NOT_SAVED}
    classes = clf.classes_.tolist()
    scaler = None if clf.scaler_ is None else {"loc": clf.scaler_.loc.cpu(), "scale": clf.scaler_.scale.cpu()}
    payload = {"format": FORMAT, "params": params, "classes": classes, "n_features": int(clf.n_features_in_),
               "readout": clf.readout_, "dt": float(clf.dt_), "scaler": scaler,
               "state_dict": {k: v.detach().cpu() for k, v in clf.model_.state_dict().items()},
               "history": asdict(clf.history_)}
    atomic_save(payload, path, overwrite=overwrite)


def load_classifier(path: str | os.PathLike, device: str | torch.device = "auto") -> SequenceClassifier:
    """The classifier that `save_classifier` wrote to ``path``, its module on ``device``.
    Raises FileNotFoundError, `warp_phys.atomic.CorruptFileError` (damaged file) or InputError
    (not a classifier file)."""
    payload = load_verified(path)
    if not isinstance(payload, dict) or payload.get("format") not in (FORMAT, FORMAT_V1):
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise InputError(f"{path} is not a SequenceClassifier file (format {found!r}, expected {FORMAT!r}); "
                         "models saved with warp_phys.save_model load with warp_phys.load_model")
    params = dict(payload["params"])
    if payload["format"] == FORMAT_V1 and params.get("model") == "warp":
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


__all__ = ["FORMAT", "FORMAT_V1", "load_classifier", "save_classifier"]
