"""`SequenceClassifier`: scikit-learn style classification of whole sequences with WARP (the
decision is read from the root network's weights after the last step), or a GRU, LSTM or
causal transformer behind the same interface.

Training is `warp_phys.training.Trainer(loss="cross_entropy")`: AdamW in batches, selection of
the best epoch on the validation cross-entropy, early stopping, a time budget, a progress bar
and checkpoint/resume. The modules are in `warp_phys.classification.heads`, the input handling
(padding, lengths, the stratified split, standardisation) in `warp_phys.classification.inputs`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from warp_phys.classification.heads import MODULES, READOUTS, WARPClassifierModule
from warp_phys.classification.inputs import (as_labels, as_sequences, fit_channel_scaler, pack,
                                             stratified_split)
from warp_phys.registry import check_options
from warp_phys.training import TrainHistory, Trainer
from warp_phys.validation import InputError, check_int, check_number, check_seed

#: The read-out that ``readout="auto"`` selects for WARP: "root" classified held-out noisy
#: spirals (clockwise vs anticlockwise) better and trained faster than "theta" at equal epochs.
AUTO_READOUT = "root"
#: Epochs without a better validation score before the learning rate is halved.
LR_PATIENCE = 5
#: ``lr_patience=None``: a patience no run reaches.
NEVER = 2 ** 62
#: ``width`` / ``depth`` name these constructor arguments of each model's module.
_SIZE_NAMES = {"warp": ("width", "depth"), "gru": ("hidden", "layers"), "lstm": ("hidden", "layers"),
               "transformer": ("hidden", "layers")}
_PARAMS = ("model", "readout", "width", "depth", "epochs", "batch_size", "lr", "weight_decay", "patience",
           "lr_patience", "max_time", "val_fraction", "standardize", "seed", "device", "progress", "checkpoint_path")


class LabelsFromProbabilities:
    """``predict`` and ``score`` of a classifier that has ``predict_proba(X, lengths=)`` (N, K)
    and ``classes_`` (K,)."""

    classes_: np.ndarray

    def predict_proba(self, X: Any, *, lengths: Any = None) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, X: Any, *, lengths: Any = None) -> np.ndarray:
        """The most probable label (N,) of each sequence, as in ``classes_`` (the labels of y)."""
        proba = self.predict_proba(X, lengths=lengths)
        return self.classes_[proba.argmax(axis=1)]

    def score(self, X: Any, y: Any, *, lengths: Any = None) -> float:
        """Accuracy (0..1) of ``predict(X)`` against the labels y (N,)."""
        pred = self.predict(X, lengths=lengths)
        return float(np.mean(pred == as_labels(y, len(pred), "y")))


class SequenceClassifier(LabelsFromProbabilities):
    """Classify whole sequences: ``fit(X, y)``, ``predict(X)``, ``predict_proba(X)``, ``score(X, y)``.

    Args (``__init__`` only stores them; ``fit`` checks them, raising
    `warp_phys.validation.InputError`):
        model: "warp" | "gru" | "lstm" | "transformer".
        readout: WARP only: "theta" (an MLP of the weights theta_L after the last step), "root"
            (the root network with K outputs run with theta_L: its outputs are the logits), or
            "auto" (``AUTO_READOUT``). Other models: "auto" only.
        width, depth: WARP's root network (default 48 wide, 3 hidden layers); the GRU, LSTM or
            transformer's hidden size and number of layers (default 64 and 2). None: default.
        epochs, batch_size, lr, weight_decay, patience, max_time (seconds), seed, device,
            progress, checkpoint_path: as in `warp_phys.training.Trainer` (checkpoint_path: saved
            every epoch; a fit with the same settings and data resumes it).
        lr_patience: epochs without a better validation score before the learning rate is
            halved (`Trainer`'s ReduceLROnPlateau; default LR_PATIENCE); None: never halved.
        val_fraction: without X_val, this fraction of each class (rounded; each class keeps one
            training sequence) is held out, drawn with ``seed``, to select the best epoch; 0: no
            validation (selection on the training loss).
        standardize: scale each channel by the mean and std of the training sequences' valid steps.
        **model_options: further arguments of the module (`warp_phys.classification.heads`), e.g.
            transition="subspace", rank=8, transition_options, readout_width for WARP; heads,
            dropout for the transformer.

    Attributes after ``fit``: ``classes_`` (K,) the sorted labels, ``n_features_in_`` d,
    ``history_`` (`TrainHistory`), ``model_`` (the torch module), ``readout_`` (WARP's read-out).
    """

    def __init__(self, model: str = "warp", *, readout: str = "auto", width: int | None = None,
                 depth: int | None = None, epochs: int = 100, batch_size: int = 32, lr: float = 1e-3,
                 weight_decay: float = 0.0, patience: int = 20, lr_patience: int | None = LR_PATIENCE,
                 max_time: float | None = None,
                 val_fraction: float = 0.2, standardize: bool = True, seed: int = 0, device: str = "auto",
                 progress: bool = False, checkpoint_path: str | Path | None = None, **model_options: Any) -> None:
        self.model, self.readout, self.width, self.depth = model, readout, width, depth
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.patience, self.lr_patience, self.max_time, self.val_fraction = patience, lr_patience, max_time, val_fraction
        self.standardize = standardize
        self.seed, self.device, self.progress, self.checkpoint_path = seed, device, progress, checkpoint_path
        self.model_options = dict(model_options)

    # ------------------------------------------------------------------ parameters
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's settings (``model_options`` spread out), as scikit-learn expects."""
        return {**{k: getattr(self, k) for k in _PARAMS}, **self.model_options}

    def set_params(self, **params: Any) -> "SequenceClassifier":
        """Change settings (unknown names go to ``model_options``); returns self."""
        for k, v in params.items():
            if k in _PARAMS:
                setattr(self, k, v)
            else:
                self.model_options[k] = v
        return self

    def __repr__(self) -> str:
        return f"SequenceClassifier(model={self.model!r}, readout={self.readout!r})"

    def _check_settings(self) -> str:
        """InputError for a bad setting; returns the resolved read-out."""
        if self.model not in MODULES:
            raise InputError(f"unknown model {self.model!r}; choose one of {sorted(MODULES)}")
        if self.readout not in ("auto", *READOUTS):
            raise InputError(f"unknown readout {self.readout!r}; choose one of {['auto', *READOUTS]}")
        if self.model != "warp" and self.readout != "auto":
            raise InputError(f"readout={self.readout!r} is WARP's choice of read-out; model={self.model!r} reads "
                             "its hidden state at the last step: leave readout='auto'")
        for name in ("width", "depth"):
            if getattr(self, name) is not None:
                check_int(getattr(self, name), name, minimum=0 if name == "depth" and self.model == "warp" else 1)
        check_int(self.epochs, "epochs", minimum=1)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_number(self.lr, "lr", minimum=0.0)
        check_number(self.weight_decay, "weight_decay", minimum=0.0)
        check_int(self.patience, "patience", minimum=1)
        if self.lr_patience is not None:
            check_int(self.lr_patience, "lr_patience", minimum=1)
        check_seed(self.seed)
        f = check_number(self.val_fraction, "val_fraction", minimum=0.0)
        if f >= 1:
            raise InputError(f"val_fraction={self.val_fraction!r} must be in [0, 1) (the share of each class held "
                             "out for validation, e.g. 0.2)")
        if not isinstance(self.standardize, bool):
            raise InputError(f"standardize must be True or False, got {self.standardize!r}")
        return (AUTO_READOUT if self.readout == "auto" else self.readout) if self.model == "warp" else "hidden"

    def _build(self, n_features: int, n_classes: int, readout: str) -> torch.nn.Module:
        cls, fixed = MODULES[self.model]
        options = dict(self.model_options)
        for name, arg in zip(("width", "depth"), _SIZE_NAMES[self.model]):
            if getattr(self, name) is not None:
                options[arg] = getattr(self, name)
        if self.model == "warp":
            options["readout"] = readout
        try:
            check_options(cls, options, f"model {self.model!r}", reserved=("n_features", "n_classes", "seed",
                                                                           *fixed))
            return cls(n_features, n_classes, **fixed, **options, seed=int(self.seed))
        except InputError:
            raise
        except ValueError as err:
            raise InputError(f"bad option of model={self.model!r}: {err}") from None

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any, *, lengths: Any = None, X_val: Any = None, y_val: Any = None,
            lengths_val: Any = None) -> "SequenceClassifier":
        """Train on sequences X ((N, T, d), (N, T), or a list of (T_i, d)) with labels y (N,).

        ``lengths`` (N,): valid steps of each sequence (the rest is padding and ignored).
        ``X_val``/``y_val``/``lengths_val``: the validation set that selects the best epoch
        (default: a stratified ``val_fraction`` of X, drawn with ``seed``). Returns self."""
        readout = self._check_settings()
        x, lens = as_sequences(X, lengths, "X")
        y = as_labels(y, x.shape[0], "y")
        try:
            classes, y_idx = np.unique(y, return_inverse=True)
        except TypeError:
            raise InputError("the labels y cannot be sorted (mixed types?); use labels of one type, e.g. all "
                             "strings or all integers") from None
        if len(classes) < 2:
            raise InputError(f"y holds one class only ({classes[0]!r}); a classifier needs sequences of at "
                             "least two classes")
        if (X_val is None) != (y_val is None) or (X_val is None and lengths_val is not None):
            raise InputError("give X_val and y_val together (and lengths_val only with X_val)")
        if X_val is not None:
            xv, lv = as_sequences(X_val, lengths_val, "X_val")
            if xv.shape[2] != x.shape[2]:
                raise InputError(f"X_val has {xv.shape[2]} channels but X has {x.shape[2]}; they must agree")
            yv = as_labels(y_val, xv.shape[0], "y_val")
            unknown = sorted(set(yv.tolist()) - set(classes.tolist()), key=str)
            if unknown:
                raise InputError(f"y_val holds labels {unknown[:5]} that y does not have; validation labels must "
                                 f"be among the training classes {classes.tolist()[:10]}")
            yv_idx = np.searchsorted(classes, yv)
            train_idx = np.arange(x.shape[0])
        elif self.val_fraction > 0:
            train_idx, val_idx = stratified_split(y_idx, float(self.val_fraction), int(self.seed))
            if len(val_idx) == 0:
                raise InputError(f"val_fraction={self.val_fraction} of {x.shape[0]} sequences holds out none (each "
                                 "class keeps one training sequence): give X_val and y_val, more sequences, a larger "
                                 "val_fraction, or val_fraction=0 (selection on the training loss)")
            xv, lv, yv_idx = x[val_idx], lens[val_idx], y_idx[val_idx]
        else:
            train_idx, xv = np.arange(x.shape[0]), None
        xt, lt, yt_idx = x[train_idx], lens[train_idx], y_idx[train_idx]

        self.scaler_ = fit_channel_scaler(xt, lt) if self.standardize else None
        T = max(xt.shape[1], xv.shape[1] if xv is not None else 0)
        self.dt_ = 1.0 / max(xt.shape[1] - 1, 1)
        pad = lambda a: np.pad(a, ((0, 0), (0, T - a.shape[1]), (0, 0)))  # noqa: E731
        x_train = pack(pad(xt), lt, self.scaler_)
        x_val = pack(pad(xv), lv, self.scaler_) if xv is not None else None
        module = self._build(x.shape[2], len(classes), readout)
        trainer = Trainer(epochs=int(self.epochs), batch_size=int(self.batch_size), lr=float(self.lr),
                          weight_decay=float(self.weight_decay), patience=int(self.patience), loss="cross_entropy",
                          lr_patience=NEVER if self.lr_patience is None else int(self.lr_patience),
                          seed=int(self.seed), device=self.device, progress=bool(self.progress),
                          checkpoint_path=self.checkpoint_path, max_time=self.max_time)
        self.history_: TrainHistory = trainer.fit(
            module, x_train, self._tau(T), x_val, y_train=torch.as_tensor(yt_idx, dtype=torch.int64),
            y_val=None if x_val is None else torch.as_tensor(yv_idx, dtype=torch.int64))
        self.model_, self.classes_, self.n_features_in_, self.readout_ = module, classes, x.shape[2], readout
        return self

    # ------------------------------------------------------------------ inference
    def _tau(self, T: int) -> torch.Tensor:
        """Step times (T,): t * dt_, dt_ = 1 / (T_train - 1) (so tau is in [0, 1] on the training length)."""
        return torch.arange(T, dtype=torch.float64) * self.dt_

    def _inputs(self, X: Any, lengths: Any) -> tuple[torch.Tensor, np.ndarray]:
        if not hasattr(self, "model_"):
            raise InputError("this SequenceClassifier is not fitted yet; call fit(X, y) before predicting")
        x, lens = as_sequences(X, lengths, "X")
        if x.shape[2] != self.n_features_in_:
            raise InputError(f"X has {x.shape[2]} channels but the classifier was fitted on {self.n_features_in_}; "
                             "give the same channels in the same order")
        return pack(x, lens, self.scaler_), lens

    @torch.no_grad()
    def _logits(self, packed: torch.Tensor) -> torch.Tensor:
        dev = next(self.model_.parameters()).device
        tau = self._tau(packed.shape[1]).to(device=dev, dtype=torch.float32)
        self.model_.eval()
        out = [self.model_(packed[i:i + 256].to(dev), tau).cpu() for i in range(0, packed.shape[0], 256)]
        return torch.cat(out).to(torch.float64)

    def predict_proba(self, X: Any, *, lengths: Any = None) -> np.ndarray:
        """Class probabilities (N, K), columns in the order of ``classes_``."""
        packed, _ = self._inputs(X, lengths)
        return torch.softmax(self._logits(packed), dim=-1).numpy()

    @torch.no_grad()
    def weight_trajectories(self, X: Any, *, lengths: Any = None) -> np.ndarray:
        """WARP's weights theta_t (N, T, D) (float32; theta_t has read steps 0 .. t of the
        standardised sequence); NaN on padded steps. Materialises N * T * D values."""
        packed, lens = self._inputs(X, lengths)
        if not isinstance(self.model_, WARPClassifierModule):
            raise InputError(f"weight_trajectories needs model='warp' (its hidden state is a weight vector); this "
                             f"classifier is model={self.model!r}")
        dev = next(self.model_.parameters()).device
        out = []
        for i in range(0, packed.shape[0], 64):
            values = packed[i:i + 64, :, :-1].to(dev)
            out.append(self.model_.weights(values).cpu())
        theta = torch.cat(out).numpy().astype(np.float32)
        theta[np.arange(theta.shape[1])[None, :] >= lens[:, None]] = np.nan
        return theta


__all__ = ["AUTO_READOUT", "LabelsFromProbabilities", "SequenceClassifier"]
