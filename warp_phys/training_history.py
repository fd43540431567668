"""The record of a training run (`warp_phys.Trainer.fit` returns it; checkpoints store it as a dict)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainHistory:
    """Per-epoch records. ``val_loss`` is empty without validation data; the selection score is then the training loss.
    ``best_epoch`` is 0-based (-1: nothing trained, or ``kept_start``). ``status``: "ok" (every epoch finite) |
    "unstable" (non-finite losses were met and each recovered from or skipped: ``non_finite`` lists them) |
    "stopped_non_finite" (nan_retries ran out; best epoch kept) | "failed" (no finite epoch: fit raised
    `TrainingFailedError`; with ``kept_start``, `pipeline.engine.train` kept the fitted start instead) | "nothing_to_train" (no trainable parameters) | "running" (fit has not finished: a
    checkpoint's history)."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    best_epoch: int = -1
    best_score: float = math.inf
    stopped_early: bool = False
    stop_reason: str = "epochs"  # epochs | early_stopping | max_time | non_finite_loss | no_parameters
    epochs_run: int = 0
    time_s: float = 0.0
    recoveries: int = 0  # non-finite losses recovered from (best state restored, lr lowered)
    p_force: list[float] = field(default_factory=list)  # teacher-forcing probability of each epoch
    forecast_horizon: list[int | None] = field(default_factory=list)  # forecast-loss steps (None: no such loss)
    status: str = "running"
    non_finite: list[dict[str, Any]] = field(default_factory=list)  # {"epoch", "loss", "lr", "action"}
    val_accuracy: list[float] = field(default_factory=list)  # loss="cross_entropy" with validation data, 0..1
    kept_start: bool = False  # the fitted start scored best on validation and was kept (`pipeline.engine.train`)
    start_score: float = math.nan  # validation score of the fitted start (`pipeline.engine.train`; nan: none)


__all__ = ["TrainHistory"]
