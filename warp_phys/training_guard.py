"""Guards around `Trainer.fit`: its settings are checked before any work, its inputs are copied
(a caller cannot change a run under way, and the run never writes to the caller's arrays), and
its outcome is checked: a run in which no epoch gave a finite selection score raises
`TrainingFailedError` instead of returning the untrained model.

Bad settings and inputs raise `warp_phys.validation.InputError` (a ValueError) naming the
argument, its value and the fix.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import numpy as np
import torch

from warp_phys.distributed import check_distributed
from warp_phys.losses import LOSSES
from warp_phys.streaming import is_source
from warp_phys.validation import InputError, check_seed, is_integer

#: ``Trainer(resume_mismatch=...)``: what resuming a checkpoint written with other settings/data does.
RESUME_MISMATCH = ("error", "warn")
#: ``Trainer(nan_validation=...)``: what a non-finite validation loss does.
NAN_VALIDATION = ("skip", "recover")


class TrainingFailedError(RuntimeError):
    """No epoch of a `Trainer.fit` run gave a finite selection score (validation loss, or the
    training loss without validation data); ``history`` is the run's `TrainHistory` (status "failed")."""

    def __init__(self, message: str, history: Any = None) -> None:
        super().__init__(message)
        self.history = history


def _number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)) \
        and math.isfinite(float(v))


def _int_at_least(value: Any, name: str, minimum: int, fix: str) -> None:
    if not is_integer(value) or value < minimum:
        raise InputError(f"{name}={value!r} must be an integer >= {minimum}; {fix}")


def check_trainer_settings(*, epochs: Any, batch_size: Any, lr: Any, weight_decay: Any, grad_clip: Any,
                           loss: Any, p_force: Any, patience: Any, lr_patience: Any, lr_factor: Any,
                           val_n_ctx: Any, forecast_weight: Any, forecast_context: Any, forecast_horizon: Any,
                           seed: Any, max_time: Any, nan_retries: Any, resume_mismatch: Any,
                           nan_validation: Any = "skip", distributed: Any = "auto",
                           batches_per_epoch: Any = None, val_horizon: Any = None) -> None:
    """InputError for a bad `Trainer` setting (the schedule options are checked by
    `warp_phys.schedules.check_schedule_options`). Ranges: epochs, batch_size, patience >= 1;
    batches_per_epoch None or >= 1; val_horizon None or >= 1, and only with val_n_ctx;
    lr >= 0 finite (0: no update, the loss is only measured); lr_factor in (0, 1); max_time > 0 s;
    distributed in `warp_phys.distributed.DISTRIBUTED`."""
    if loss not in LOSSES:
        raise InputError(f"unknown loss {loss!r}; choose one of {list(LOSSES)}")
    _int_at_least(epochs, "epochs", 1, "train for at least one epoch")
    _int_at_least(batch_size, "batch_size", 1, "use e.g. batch_size=32 (trajectories per step)")
    if batches_per_epoch is not None:
        _int_at_least(batches_per_epoch, "batches_per_epoch", 1, "the optimiser steps between two validations, "
                      "e.g. 200, or None for one pass over the training set")
    if not _number(lr) or lr < 0:
        raise InputError(f"lr={lr!r} must be a finite number >= 0 (the learning rate, e.g. lr=1e-3; 0 only "
                         "measures the loss)")
    if not _number(weight_decay) or weight_decay < 0:
        raise InputError(f"weight_decay={weight_decay!r} must be a finite number >= 0 (0: off)")
    if grad_clip is not None and (not _number(grad_clip) or grad_clip <= 0):
        raise InputError(f"grad_clip={grad_clip!r} must be a finite number > 0 (max gradient norm, e.g. 1.0) "
                         "or None (off)")
    if not _number(p_force) or not 0.0 <= p_force <= 1.0:
        raise InputError(f"p_force must be in [0, 1], got {p_force!r} (teacher-forcing probability)")
    _int_at_least(patience, "patience", 1, "epochs without improvement before early stopping, e.g. 20")
    _int_at_least(lr_patience, "lr_patience", 0, "epochs without improvement before the lr is lowered, e.g. 5")
    if not _number(lr_factor) or not 0 < lr_factor < 1:
        raise InputError(f"lr_factor={lr_factor!r} must be a number in (0, 1) (the lr is multiplied by it on a "
                         "plateau or a non-finite loss), e.g. 0.5")
    for name, value in (("val_n_ctx", val_n_ctx), ("forecast_context", forecast_context),
                        ("forecast_horizon", forecast_horizon)):
        if value is not None:
            _int_at_least(value, name, 1, "give a number of steps, or None")
    if val_horizon is not None:
        _int_at_least(val_horizon, "val_horizon", 1, "the forecast steps the validation score covers, or None "
                      "for all")
        if val_n_ctx is None:
            raise InputError("val_horizon needs val_n_ctx (the validation score is then a forecast after "
                             "val_n_ctx steps); without it the score is the one-step loss")
    if not _number(forecast_weight) or forecast_weight < 0:
        raise InputError(f"forecast_weight must be a finite number >= 0, got {forecast_weight!r}")
    if forecast_weight > 0 and forecast_context is None:
        raise InputError("forecast_weight > 0 needs forecast_context (the number of observed steps "
                         "the forecast reads)")
    check_seed(seed)
    if max_time is not None and (not _number(max_time) or max_time <= 0):
        raise InputError(f"max_time={max_time!r} must be a number of seconds > 0, or None for no time budget")
    if not is_integer(nan_retries) or nan_retries < 0:
        raise InputError(f"nan_retries must be an integer >= 0, got {nan_retries!r}")
    if resume_mismatch not in RESUME_MISMATCH:
        raise InputError(f"resume_mismatch={resume_mismatch!r} must be one of {list(RESUME_MISMATCH)} ('error': "
                         "refuse to resume a checkpoint of other settings or data; 'warn': resume anyway)")
    if nan_validation not in NAN_VALIDATION:
        raise InputError(f"nan_validation={nan_validation!r} must be one of {list(NAN_VALIDATION)} ('recover': "
                         "restore the best parameters and lower the lr; 'skip': count the epoch as no improvement)")
    check_distributed(distributed)


def as_data(x: Any, name: str, d: int | None = None) -> torch.Tensor:
    """x as a CPU tensor (N, T, d) that the caller does not share (a copy); InputError for another
    shape, ``d`` variables expected, or NaN/inf values. A `warp_phys.streaming.TrajectorySource`
    is returned as it is (its values are checked as its batches are read)."""
    if is_source(x):
        if d is not None and x.shape[-1] != d:
            raise InputError(f"{name} has {x.shape[-1]} variables but the model expects {d}")
        return x
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", copy=True)
    else:
        x = torch.as_tensor(np.array(x, copy=True))
    if x.dim() != 3:
        raise InputError(f"{name} must have shape (trajectories, time, variables), got {tuple(x.shape)}")
    if d is not None and x.shape[-1] != d:
        raise InputError(f"{name} has {x.shape[-1]} variables but the model expects {d}")
    if not torch.isfinite(x).all():
        raise InputError(f"{name} contains NaN or inf; remove or interpolate those values first")
    return x


def as_times(tau: Any, n_steps: int) -> torch.Tensor:
    """tau as a CPU copy of shape (n_steps,); InputError otherwise."""
    tau = tau.detach().to("cpu", copy=True) if isinstance(tau, torch.Tensor) else torch.as_tensor(
        np.array(tau, copy=True))
    if tau.dim() != 1 or tau.shape[0] != n_steps:
        raise InputError(f"tau must have shape ({n_steps},) to match x_train, got {tuple(tau.shape)}")
    return tau


def check_targets(x_train: torch.Tensor, x_val: torch.Tensor | None, y_train: Any, y_val: Any, *,
                  needs_inputs: list[str]) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Sequence-to-sequence targets as tensor copies (None: none); InputError when their shapes
    do not match the inputs, or ``needs_inputs`` (the settings that feed the model its own
    predictions, e.g. ["p_force < 1"]) is not empty."""
    if y_train is None and y_val is None:
        return None, None
    if y_train is None or (y_val is None) != (x_val is None):
        raise InputError("give y_train, and y_val exactly when x_val is given (targets of every split, or none)")
    if needs_inputs:
        raise InputError(f"targets y_train/y_val need teacher-forced one-step training, but {needs_inputs} "
                         "feed the model its own predictions as inputs: set p_force=1 (no schedule), "
                         "forecast_weight=0, val_n_ctx=None")
    out = []
    for name, y, x in (("y_train", y_train, x_train), ("y_val", y_val, x_val)):
        if y is not None and np.ndim(y) == 1:
            raise InputError(f"{name} has shape {tuple(np.shape(y))}: one value per sequence, like class labels, "
                             "but loss='mse'/'nll' needs targets (N, T, d) of the inputs' shape; for class "
                             "labels use Trainer(loss='cross_entropy')")
        y = None if y is None else as_data(y, name, x.shape[-1])
        if y is not None and y.shape != x.shape:
            raise InputError(f"{name} has shape {tuple(y.shape)} but its inputs have {tuple(x.shape)}; "
                             "they must agree")
        out.append(y)
    return out[0], out[1]


def check_label_settings(needs_inputs: list[str]) -> None:
    """InputError when ``loss='cross_entropy'`` is combined with settings that feed the model its
    own predictions (``needs_inputs``, e.g. ["p_force < 1"]): a classifier reads each whole
    sequence teacher-forced and makes one decision per sequence."""
    if needs_inputs:
        raise InputError(f"loss='cross_entropy' (class labels, one decision per sequence) reads every sequence "
                         f"teacher-forced, but {needs_inputs} feed the model its own predictions as inputs: set "
                         "p_force=1 (no p_force_schedule, feedback_noise or feedback_passes), forecast_weight=0, "
                         "val_n_ctx=None")


def check_labels(x_train: torch.Tensor, x_val: torch.Tensor | None, y_train: Any, y_val: Any, *,
                 n_classes: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Class labels of ``loss='cross_entropy'`` as int64 CPU copies: y_train (N,) and y_val (N_val,)
    (None without x_val), integers in [0, n_classes) (n_classes None: only >= 0 is checked).
    InputError for missing labels, another shape, a non-integer dtype or a label out of range."""
    if y_train is None or (y_val is None) != (x_val is None):
        raise InputError("loss='cross_entropy' needs class labels: y_train (N,) with one integer in [0, K) per "
                         "sequence of x_train, and y_val exactly when x_val is given")
    out = []
    for name, y, x, xname in (("y_train", y_train, x_train, "x_train"), ("y_val", y_val, x_val, "x_val")):
        if y is None:
            out.append(None)
            continue
        y = y.detach().to("cpu", copy=True) if isinstance(y, torch.Tensor) else torch.as_tensor(np.array(y, copy=True))
        if y.dim() != 1 or y.shape[0] != x.shape[0]:
            raise InputError(f"{name} has shape {tuple(y.shape)}; with loss='cross_entropy' it must be "
                             f"({x.shape[0]},): one integer class label per sequence of {xname}")
        if y.dtype == torch.bool or y.is_floating_point() or y.is_complex():
            raise InputError(f"{name} has dtype {str(y.dtype).replace('torch.', '')}; class labels must be "
                             "integers in [0, K) (map labels to indices first, e.g. np.unique(y, return_inverse=True))")
        if y.numel() and (int(y.min()) < 0 or (n_classes is not None and int(y.max()) >= n_classes)):
            top = "" if n_classes is None else f" < {n_classes} (the model's number of classes)"
            raise InputError(f"{name} holds labels from {int(y.min())} to {int(y.max())}; they must be >= 0{top}")
        out.append(y.to(torch.int64))
    return out[0], out[1]


def check_fit_inputs(trainer: Any, model: torch.nn.Module, x_train: Any, tau: Any, x_val: Any, y_train: Any,
                     y_val: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None,
                                          torch.Tensor | None]:
    """The inputs of ``trainer.fit(model, ...)`` checked and copied: x_train (N, T, d) (d =
    ``model.n_variables`` when the model has it), tau (T,), x_val (N_val, T, d) or None, and the
    targets (`check_targets`) or, with ``loss="cross_entropy"``, the class labels (`check_labels`,
    K = ``model.n_classes`` when the model has it). InputError otherwise."""
    if is_source(x_train) or is_source(x_val):
        check_streamed(trainer, x_train, y_train, y_val)
    x_train = as_data(x_train, "x_train", getattr(model, "n_variables", None))
    T = x_train.shape[1]
    tau = as_times(tau, T)
    if x_val is not None:
        x_val = as_data(x_val, "x_val", x_train.shape[-1])
        if x_val.shape[1] != T:
            raise InputError(f"x_val has {x_val.shape[1]} time steps but x_train has {T}; they must agree")
    for name in ("val_n_ctx", "forecast_context"):
        n = getattr(trainer, name)
        if n is not None and not 1 <= n < T:
            raise InputError(f"{name}={n} must be in [1, {T - 1}] for trajectories of {T} steps")
    if trainer.forecast_weight > 0 and not callable(getattr(model, "context_forecast", None)):
        raise InputError(f"forecast_weight > 0 needs a model with a differentiable context_forecast "
                         f"(WARP); {type(model).__name__} has none: set forecast_weight=0")
    if trainer.loss == "cross_entropy":
        y_train, y_val = check_labels(x_train, x_val, y_train, y_val, n_classes=getattr(model, "n_classes", None))
    else:
        y_train, y_val = check_targets(x_train, x_val, y_train, y_val, needs_inputs=trainer._needs_inputs())
    return x_train, tau, x_val, y_train, y_val


def check_streamed(trainer: Any, x_train: Any, y_train: Any, y_val: Any) -> None:
    """What streamed data (`warp_phys.streaming.TrajectorySource`) support: one-step or forecast
    training on the inputs themselves. InputError for targets, class labels or a checkpoint."""
    given = [name for name, on in (("y_train/y_val", y_train is not None or y_val is not None),
                                   ("loss='cross_entropy'", trainer.loss == "cross_entropy"),
                                   ("checkpoint_path", trainer.checkpoint_path is not None)) if on]
    if given:
        raise InputError(f"{given} are not supported with streamed data (a TrajectorySource): train on tensors "
                         "held in memory, or drop them")
    if not is_source(x_train):
        raise InputError("x_val is streamed (a TrajectorySource) but x_train is not; stream both or neither")


def failure_message(history: Any, *, lr: float, last_lr: float, epochs: int, grad_clip: float | None,
                    validated: bool, held_fit: bool = False) -> str:
    """The message of `TrainingFailedError`: what failed, the lr and epochs run, and the fix.
    ``held_fit``: the model's forecasts start from a least-squares fit to each context
    (``parameter_fit``), which can itself blow up whatever the learning rate: said first."""
    what = "validation" if validated else "training"
    lowered = f", lr lowered to {last_lr:.3g} by {history.recoveries} recoveries" if history.recoveries else ""
    clip = "grad_clip=1.0" if grad_clip is None else f"a smaller grad_clip (now {grad_clip:g})"
    fit = ("With parameter_fit every forecast starts from the field fitted to its context: a fitted field that "
           "blows up (e.g. the quadratic prior on a noisy or short context) gives a non-finite validation "
           "forecast whatever the learning rate, so first bound the outputs (output_clip=, e.g. 5). "
           if held_fit and validated else "")
    return (f"training failed: no epoch gave a finite {what} loss at lr={lr:g} ({len(history.non_finite)} "
            f"non-finite epoch attempt(s){lowered}, {history.epochs_run} of epochs={epochs} completed, stopped "
            f"by {history.stop_reason}); the model would be its untrained initial state. {fit}"
            f"Fix: lower the learning rate (e.g. lr={lr / 10:g}), use {clip}, or bound the model's outputs "
            "(WARP(output_clip=...))")

def handle_non_finite(trainer: Any, history: Any, *, epoch: int, bad: str, model: torch.nn.Module,
                      opt: torch.optim.Optimizer, best_state: dict[str, torch.Tensor],
                      out_of_time: Callable[[], bool]) -> str:
    """What a non-finite ``bad`` ("training" | "validation") loss in ``epoch`` of `Trainer.fit` does
    (recorded in ``history.non_finite`` and warned about). Returns "skip" (nan_validation="skip":
    the epoch counts as one without improvement), "retry" (recovered: the best parameters restored,
    the optimiser's moments cleared, the lr times ``lr_factor``; the epoch restarts), "max_time"
    (recovered, but ``out_of_time()``: the time budget is spent) or "stop" (nan_retries ran out)."""
    skip = bad == "validation" and trainer.nan_validation == "skip"
    action = "skipped" if skip else "recovered" if history.recoveries < trainer.nan_retries else "stopped"
    history.non_finite.append({"epoch": epoch, "loss": bad, "lr": opt.param_groups[0]["lr"], "action": action})
    if skip:
        warnings.warn(f"non-finite validation loss in epoch {epoch}; it counts as an epoch without "
                      "improvement (nan_validation='skip')", RuntimeWarning)
        return "skip"
    if action == "recovered":
        history.recoveries += 1
        model.load_state_dict(best_state)
        opt.state.clear()
        for group in opt.param_groups:
            group["lr"] *= trainer.lr_factor
        warnings.warn(f"non-finite {bad} loss in epoch {epoch}; restarting the epoch from the best "
                      f"parameters so far with lr {opt.param_groups[0]['lr']:.3g} (recovery "
                      f"{history.recoveries} of {trainer.nan_retries})", RuntimeWarning)
        return "max_time" if out_of_time() else "retry"
    if history.best_epoch >= 0:
        warnings.warn(f"non-finite {bad} loss in epoch {epoch}; stopping and keeping the best "
                      f"parameters so far (try a lower lr or a larger std_floor)", RuntimeWarning)
    return "stop"


__all__ = ["NAN_VALIDATION", "RESUME_MISMATCH", "TrainingFailedError", "as_data", "as_times", "check_fit_inputs",
           "check_label_settings", "check_labels", "check_targets", "check_trainer_settings", "failure_message",
           "handle_non_finite"]
