"""Training of sequence models (WARP and baselines): `Trainer(...).fit(model, x_train, tau, x_val)`.

AdamW with gradient clipping, reduce-on-plateau on the validation score, best-state selection, early stopping, a time
budget, a progress bar, and checkpoint/resume (a resumed run gives the same result as an uninterrupted one).
Objectives for free-running forecasts: scheduled sampling (``p_force_schedule``), a rollout curriculum on the forecast
loss (``forecast_horizon_schedule``) and noise / parallel feedback passes in the autoregressive forward
(``feedback_noise``, ``feedback_passes``); the schedules are in `warp_phys.schedules`. Inputs are normalised tensors x
(N, T, d) and tau (T,); the targets are x itself (one-step prediction), separate targets y (N, T, d) (sequence to
sequence), or with ``loss="cross_entropy"`` class labels y (N,) of a classifier whose forward returns logits (B, K).
Deterministic given ``seed`` (batch order, teacher-forcing and noise draws come from one CPU generator whose state is
checkpointed). A run cannot fail silently: non-finite training or validation losses are recovered from (or warned
about), and a run with no finite epoch raises `TrainingFailedError`; settings, input copies and the failure message
are in `warp_phys.training_guard`, the resume checks in `warp_phys.training_resume`, data-parallel training under
torchrun (``distributed``) in `warp_phys.distributed`.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from warp_phys.distributed import Parallel
from warp_phys.losses import accuracy, classification_loss, sequence_loss
from warp_phys.progress import progress_bar
from warp_phys.streaming import take
from warp_phys.sequence import forecast_mse, target_channels
from warp_phys.schedules import FEEDBACK_KEYWORDS, check_schedule_options, feedback_kwargs, horizon_at, p_force_at
from warp_phys.training_epoch import epoch_order, train_epoch
from warp_phys.training_guard import (TrainingFailedError, check_fit_inputs, check_label_settings,
                                      check_trainer_settings, failure_message, handle_non_finite)
from warp_phys.training_history import TrainHistory
from warp_phys.training_resume import data_fingerprint, load_checkpoint, save_checkpoint, trainer_settings
from warp_phys.validation import InputError

__all__ = ["FEEDBACK_KEYWORDS", "TrainHistory", "Trainer", "TrainingFailedError"]


class Trainer:
    """Settings of a training run; ``fit`` takes the data (scikit-learn style).

    Args:
        epochs, batch_size, lr, weight_decay: AdamW schedule; ``grad_clip`` max grad norm (None: off).
        batches_per_epoch: None (default): an epoch is one pass over the training set. An integer
            k: an epoch is k batches (drawn from consecutive permutations), so validation, model
            selection, ``patience``, ``lr_patience``, checkpoints and the schedules below count
            units of k optimiser steps: on a large training set this validates often enough to
            select a model and lets a schedule run its course within a time budget.
        loss: "mse" or "nll" (Gaussian, needs a model with a std output), or "cross_entropy" for
            classification: y_train/y_val are then integer class labels (N,) in [0, K), the model's
            forward returns logits (B, K), the selection score is the validation cross-entropy
            (nats) and ``history.val_accuracy`` records the validation accuracy of each epoch.
        p_force: teacher-forcing probability (1: parallel teacher-forced training).
        patience: epochs without improvement of the selection score before stopping.
        lr_patience, lr_factor: ReduceLROnPlateau on the selection score.
        val_n_ctx: if set, the validation score is the forecast MSE over steps >= val_n_ctx
            (model.forecast reading val_n_ctx steps); else the one-step loss.
        val_horizon: with ``val_n_ctx``, score the first ``val_horizon`` forecast steps only (None:
            all). Chaotic systems: ~2 Lyapunov times (further out a forecast's MSE saturates and favours decay).
        forecast_weight: weight of an extra loss term, the MSE of the model's own forecast
            (``model.context_forecast``) after ``forecast_context`` observed steps over the
            next ``forecast_horizon`` steps (None: to the end). 0 (default): off. Cheap for a
            WARP model that holds its prior's outputs after the context (the grey box): the
            forecast is then a loop of prior steps without the root network.
        seed: seed of batch order and teacher-forcing draws.
        device: "auto" | "cpu" | "cuda" ...; progress: show a tqdm bar.
        checkpoint_path: saved every epoch; if the file exists, fit resumes from it. The file
            records the settings and a SHA-256 fingerprint of the data (`warp_phys.training_resume`).
        resume_mismatch: "error" (default): resuming a checkpoint written with other settings or
            data (all but epochs, max_time, device, progress) raises ResumeMismatchError (an
            InputError) listing what differs; "warn": resume anyway (the checkpoint's parameters,
            optimiser state with its lr, and random state are kept) with a RuntimeWarning.
        max_time: wall-clock budget in seconds, > 0 (checked after every batch); None: none.
        nan_retries: how many non-finite losses (a training batch, or an epoch's validation loss /
            selection score) to recover from: each restores the best parameters so far, clears the
            optimiser's moments, multiplies the lr by ``lr_factor``, warns and restarts the epoch. One
            more stops training (best parameters kept). If no epoch was finite, fit raises
            `TrainingFailedError` (message: the lr, the epochs run and the fix).
        nan_validation: "skip" (default): a non-finite validation loss is warned about, recorded
            in ``history.non_finite`` and counts as an epoch without improvement (parameters and
            lr kept); a run with no finite epoch at all still raises. "recover": it is recovered
            from like a non-finite training loss (above). "skip" is the default because a
            free-running validation forecast diverges now and then while training is healthy
            (the subspace memory's does, from epoch 0), and recovering then costs accuracy.
        distributed: "auto" (default): data-parallel (DistributedDataParallel) when run under torchrun
            with WORLD_SIZE > 1 (or in an initialised process group of > 1 ranks), else one process;
            "on": needs an initialised process group; "off": one process. Each rank trains on its
            shard of every global batch of ``batch_size``; the rules are in `warp_phys.distributed`.
        Bad settings raise `warp_phys.validation.InputError` here, before any work.

    Objectives for free-running forecasts (the defaults leave training exactly as without them;
    `schedule_at` gives the values at an epoch, ``TrainHistory.p_force`` / ``.forecast_horizon``
    record them; formulas in `warp_phys.schedules`):
        p_force_schedule: scheduled sampling. None (default): ``p_force`` in every epoch.
            "linear" | "exponential" | "inverse_sigmoid": epoch k trains with
            p(k) = p_force_floor + (p_force - p_force_floor) * g(min(k / schedule_epochs, 1)),
            g falling from 1 to 0, so it starts at ``p_force`` (1: teacher forced) and is
            ``p_force_floor`` from epoch ``schedule_epochs`` on (None: the last epoch, epochs - 1).
        p_force_floor: the final teacher-forcing probability, in [0, p_force] (default 0.0).
        forecast_horizon_schedule: rollout curriculum, (start, growth): the forecast loss
            (``forecast_weight`` > 0) at epoch k covers min(start + growth * k, full) steps after
            the context, full = ``forecast_horizon`` or the rest of the trajectory. None: full.
        feedback_noise: std (normalised units) of Gaussian noise added to the model's own
            predictions where they are fed back (p_force < 1): the model learns to correct its
            errors. Passed to the forward as ``noise_std``; default 0.
        feedback_passes: None (default): the sequential autoregressive forward. K >= 1: K
            parallel feedback passes instead (the pushforward trick; exact on the first K + 1
            steps, much faster than the loop on long sequences).
        detach_feedback: with ``feedback_passes``: no gradient through the fed-back predictions
            (default True); False backpropagates through all passes.
        The feedback options need p_force < 1 (or a schedule with p_force_floor < 1) and a model
        whose forward accepts ``feedback_passes``, ``detach_feedback``, ``noise_std`` (WARP; not
        the baselines); otherwise ValueError.
    """

    def __init__(self, *, epochs: int = 100, batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 0.0,
                 grad_clip: float | None = 1.0, loss: str = "mse", p_force: float = 1.0, patience: int = 20,
                 lr_patience: int = 5, lr_factor: float = 0.5, val_n_ctx: int | None = None,
                 forecast_weight: float = 0.0, forecast_context: int | None = None,
                 forecast_horizon: int | None = None, seed: int = 0,
                 device: str | torch.device = "auto", progress: bool = True,
                 checkpoint_path: str | Path | None = None, max_time: float | None = None,
                 nan_retries: int = 3, p_force_schedule: str | None = None, p_force_floor: float = 0.0,
                 schedule_epochs: int | None = None, forecast_horizon_schedule: tuple[int, int] | None = None,
                 feedback_noise: float = 0.0, feedback_passes: int | None = None,
                 detach_feedback: bool = True, resume_mismatch: str = "error",
                 nan_validation: str = "skip", distributed: str = "auto",
                 batches_per_epoch: int | None = None, val_horizon: int | None = None) -> None:
        check_trainer_settings(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                               grad_clip=grad_clip, loss=loss, p_force=p_force, patience=patience,
                               lr_patience=lr_patience, lr_factor=lr_factor, val_n_ctx=val_n_ctx,
                               forecast_weight=forecast_weight, forecast_context=forecast_context,
                               forecast_horizon=forecast_horizon, seed=seed, max_time=max_time,
                               nan_retries=nan_retries, resume_mismatch=resume_mismatch,
                               nan_validation=nan_validation, distributed=distributed,
                               batches_per_epoch=batches_per_epoch, val_horizon=val_horizon)
        self.batches_per_epoch, self.val_horizon = batches_per_epoch, val_horizon
        self.forecast_weight, self.forecast_context = float(forecast_weight), forecast_context
        self.forecast_horizon, self.nan_retries, self.resume_mismatch = forecast_horizon, nan_retries, resume_mismatch
        self.nan_validation, self.distributed = nan_validation, distributed
        self.schedule_epochs, self.forecast_horizon_schedule = check_schedule_options(
            epochs=epochs, p_force=p_force, p_force_schedule=p_force_schedule, p_force_floor=p_force_floor,
            schedule_epochs=schedule_epochs, forecast_weight=self.forecast_weight, forecast_horizon=forecast_horizon,
            forecast_horizon_schedule=forecast_horizon_schedule, feedback_noise=feedback_noise,
            feedback_passes=feedback_passes, detach_feedback=detach_feedback)
        self.p_force_schedule, self.p_force_floor = p_force_schedule, float(p_force_floor)
        self.feedback_noise, self.feedback_passes = float(feedback_noise), feedback_passes
        self.detach_feedback = detach_feedback
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.grad_clip, self.loss, self.p_force, self.patience = grad_clip, loss, p_force, patience
        self.lr_patience, self.lr_factor, self.val_n_ctx, self.seed = lr_patience, lr_factor, val_n_ctx, seed
        self.device, self.progress, self.max_time = device, progress, max_time
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
        if loss == "cross_entropy":
            check_label_settings(self._needs_inputs())

    # ------------------------------------------------------------------ schedules
    def schedule_at(self, epoch: int, n_steps: int | None = None) -> dict[str, Any]:
        """The settings of (0-based) ``epoch``: ``{"p_force": float, "forecast_horizon": int | None}``.
        ``forecast_horizon``: steps of the forecast loss after the context (None: no forecast loss,
        or, without ``n_steps``, to the end of the trajectory). ``n_steps``: the trajectories'
        length, which caps the horizon at the steps left after ``forecast_context``."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise InputError(f"epoch must be an integer >= 0, got {epoch!r}")
        p = p_force_at(epoch, start=self.p_force, floor=self.p_force_floor, kind=self.p_force_schedule,
                       schedule_epochs=self.schedule_epochs)
        h = None
        if self.forecast_weight > 0:
            available = None if n_steps is None else int(n_steps) - int(self.forecast_context)
            h = horizon_at(epoch, horizon=self.forecast_horizon, schedule=self.forecast_horizon_schedule,
                           available=available)
        return {"p_force": p, "forecast_horizon": h}

    def _feedback_kwargs(self, model: torch.nn.Module) -> dict[str, Any]:
        """The feedback keywords of the training forward ({} at their defaults); see `schedules.feedback_kwargs`."""
        return feedback_kwargs(model, feedback_noise=self.feedback_noise, feedback_passes=self.feedback_passes,
                               detach_feedback=self.detach_feedback)

    def _needs_inputs(self) -> list[str]:
        """The settings that feed the model its own predictions (refused with separate targets)."""
        return [name for name, on in (("p_force < 1", self.p_force < 1 or self.p_force_schedule),
                                      ("forecast_weight > 0", self.forecast_weight > 0),
                                      ("val_n_ctx", self.val_n_ctx is not None)) if on]

    def _loss(self, pred: Any, target: torch.Tensor) -> torch.Tensor:
        """The training loss of one batch: cross-entropy of logits (B, K) against labels (B,), or
        the one-step loss of predictions (B, T, d) against targets (B, T, d)."""
        if self.loss == "cross_entropy":
            return classification_loss(pred, target)
        return sequence_loss(pred, target, kind=self.loss)

    def _batch_loss(self, model: torch.nn.Module, xb: torch.Tensor, yb: torch.Tensor, tau: torch.Tensor,
                    p_force: float, generator: torch.Generator, horizon: int | None,
                    feedback: dict[str, Any]) -> torch.Tensor:
        """The training loss of one batch: the loss of the forward, the model's penalty, the forecast loss."""
        pred = model(xb, tau, p_force=p_force, generator=generator, **feedback)
        loss = self._loss(*target_channels(model, pred, yb)) + model.penalty(xb, tau)
        if self.forecast_weight > 0:
            loss = loss + self.forecast_weight * self.forecast_loss(model, xb, tau, horizon)
        return loss

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module, x: torch.Tensor, tau: torch.Tensor,
                 y: torch.Tensor | None = None) -> float:
        """Validation score of ``model`` on x (N, T, d): forecast MSE after ``val_n_ctx`` steps
        (its first ``val_horizon`` steps) if set, else the one-step loss (steps >= 1) against x, or
        the targets ``y`` (N, T, d) of a sequence-to-sequence task; with ``loss="cross_entropy"``
        the mean cross-entropy (nats) of the logits against the labels ``y`` (N,)."""
        was_training = model.training
        model.eval()
        total, n = 0.0, 0
        for i in range(0, x.shape[0], 4 * self.batch_size):
            xb = take(x, slice(i, i + 4 * self.batch_size))
            yb = xb if y is None else y[i : i + 4 * self.batch_size]
            if self.val_n_ctx is not None:
                end = x.shape[1] if self.val_horizon is None else min(x.shape[1], self.val_n_ctx + self.val_horizon)
                score = forecast_mse(model, xb[:, :end], tau[:end], self.val_n_ctx)  # target channels only
            else:
                score = self._loss(*target_channels(model, model(xb, tau), yb))
            total += float(score) * xb.shape[0]
            n += xb.shape[0]
        model.train(was_training)
        return total / n

    @torch.no_grad()
    def evaluate_accuracy(self, model: torch.nn.Module, x: torch.Tensor, tau: torch.Tensor, y: torch.Tensor) -> float:
        """Fraction (0..1) of the sequences x (N, T, d) whose logits' argmax equals the label y (N,)."""
        was_training, n = model.training, 4 * self.batch_size
        model.eval()
        hits = sum(float(accuracy(model(x[i:i + n], tau), y[i:i + n])) * len(y[i:i + n]) for i in range(0, len(y), n))
        model.train(was_training)
        return hits / len(y)

    def forecast_loss(self, model: torch.nn.Module, x: torch.Tensor, tau: torch.Tensor,
                      horizon: int | None = None) -> torch.Tensor:
        """MSE of ``model.context_forecast`` reading x[:, :forecast_context] (x (B, T, d))
        over the next ``horizon`` steps (default ``forecast_horizon``; to the end when None)."""
        n = int(self.forecast_context)
        horizon = self.forecast_horizon if horizon is None else horizon
        end = x.shape[1] if horizon is None else min(x.shape[1], n + int(horizon))
        return forecast_mse(model, x[:, :end], tau[:end], n, grad=True)

    # ------------------------------------------------------------------ training
    def fit(self, model: torch.nn.Module, x_train: Any, tau: Any, x_val: Any | None = None, *,
            y_train: Any | None = None, y_val: Any | None = None) -> TrainHistory:
        """Train ``model`` in place on x_train (N, T, d) at times tau (T,); returns the history.
        The model ends with the parameters of the best epoch (by validation score).

        ``y_train``/``y_val`` (same shapes as x_train/x_val): targets of a sequence-to-sequence
        task (e.g. `warp_phys.systems.segment_repeat`): the model reads x and its prediction at
        step t (from x[:, :t]) is scored against y[:, t]. They need teacher forcing (p_force=1,
        no schedule), no forecast loss and no ``val_n_ctx``. None (default): the targets are x.
        With ``loss="cross_entropy"`` they are class labels (N,) and (N_val,), required.
        The arrays are copied first: the caller's are never written to, and changing them during
        the run does not change it. Raises `TrainingFailedError` if no epoch gave a finite
        selection score, `ResumeMismatchError` if ``checkpoint_path`` holds another run.
        x_train / x_val may be `warp_phys.streaming.TrajectorySource`s instead (data larger than
        memory): each batch is read from disk when it is trained on or scored (the same batches as
        the same data in memory); targets, class labels and ``checkpoint_path`` are refused then."""
        t_start = time.perf_counter()
        par = Parallel.setup(self.distributed, self.device)  # one process: every hook is the identity
        device = par.device
        x_train, tau, x_val, y_train, y_val = check_fit_inputs(self, model, x_train, tau, x_val, y_train, y_val)
        T, feedback = x_train.shape[1], self._feedback_kwargs(model)
        model.to(device)
        first = next(iter(model.parameters()), None)
        dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
        labels = self.loss == "cross_entropy"  # class labels keep their integer dtype
        data = {k: None if v is None else v if labels and k[0] == "y" else v.to(dtype=dtype) for k, v in
                (("x_train", x_train), ("tau", tau), ("x_val", x_val), ("y_train", y_train), ("y_val", y_val))}
        fingerprint = data_fingerprint(**data) if self.checkpoint_path is not None else None
        x_train, tau, x_val, y_train, y_val = (None if v is None else v.to(device) for v in data.values())
        y_train = x_train if y_train is None else y_train
        par.same_data(x_train=x_train, x_val=x_val)  # every rank indexes the same global batches

        history = TrainHistory()
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            history.stop_reason, history.status = "no_parameters", "nothing_to_train"
            if x_val is not None:
                history.val_loss.append(par.evaluate(lambda a, b: self.evaluate(model, a, tau, b), x_val, y_val))
                history.best_score = history.val_loss[-1]
            history.time_s = time.perf_counter() - t_start
            return history

        opt = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=self.lr_factor,
                                                           patience=self.lr_patience)
        gen = torch.Generator().manual_seed(int(self.seed))
        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        bad_epochs, start_epoch, done = 0, 0, False

        if self.checkpoint_path is not None and par.same(self.checkpoint_path.exists(), "checkpoint_path's existence"):
            ck = load_checkpoint(self.checkpoint_path, model=model, optimizer=opt, scheduler=sched, generator=gen,
                                 settings=trainer_settings(self), fingerprint=fingerprint,
                                 mode=self.resume_mismatch, device=device)
            history, best_state = TrainHistory(**ck["history"]), ck["best_state"]
            bad_epochs, start_epoch, done = ck["bad_epochs"], ck["epoch"], ck["done"]

        prefit = getattr(model, "prefit_contexts", None)  # e.g. WARP's parameter_fit: all contexts at once
        for x, n in ((x_train, self.forecast_context if self.forecast_weight > 0 else None), (x_val, self.val_n_ctx)):
            if callable(prefit) and n and isinstance(x, torch.Tensor):  # not streamed from disk
                prefit(x[:, :n], tau[:n])
        N, batch_loss = x_train.shape[0], par.wrap(model, self._batch_loss)  # DDP under torchrun
        def out_of_time() -> bool:  # the time budget is spent (on any rank)
            return self.max_time is not None and par.any_true(time.perf_counter() - t_start > self.max_time)
        bar = progress_bar(total=self.epochs, initial=start_epoch, desc="training",
                           disable=not (self.progress and par.main), leave=False, dynamic_ncols=True)
        model.train()
        epoch = start_epoch
        while not done and epoch < self.epochs:
            setting = self.schedule_at(epoch, n_steps=T)
            p_force, horizon = setting["p_force"], setting["forecast_horizon"]
            perm = epoch_order(N, gen, batch_size=self.batch_size,
                               batches_per_epoch=self.batches_per_epoch).to(device)
            fgen = par.forward_generator(gen, self.seed, epoch)  # gen itself in one process
            total, count, timed_out, bad = train_epoch(
                batch_size=self.batch_size, grad_clip=self.grad_clip, batch_loss=batch_loss, opt=opt, params=params,
                par=par, x_train=x_train, y_train=y_train, tau=tau, perm=perm, p_force=p_force, fgen=fgen,
                horizon=horizon, feedback=feedback, out_of_time=out_of_time)
            train_loss, val = par.mean(total, count), None
            if bad is None:
                val = par.evaluate(lambda a, b: self.evaluate(model, a, tau, b), x_val, y_val) \
                    if x_val is not None else None
                score = val if val is not None else train_loss
                if not math.isfinite(score):
                    bad = "validation" if val is not None else "training"
            if bad is not None:
                outcome = handle_non_finite(self, history, epoch=epoch, bad=bad, model=model, opt=opt,
                                            best_state=best_state, out_of_time=lambda: timed_out or out_of_time())
                if outcome == "retry":
                    continue
                if outcome != "skip":
                    history.stop_reason = "max_time" if outcome == "max_time" else "non_finite_loss"
                    history.stopped_early = True
                    break
            history.train_loss.append(train_loss)
            history.p_force.append(p_force)
            history.forecast_horizon.append(horizon)
            if val is not None:
                history.val_loss.append(val)
                if self.loss == "cross_entropy":
                    history.val_accuracy.append(par.evaluate(lambda a, b: self.evaluate_accuracy(model, a, tau, b),
                                                             x_val, y_val))
            history.lr.append(opt.param_groups[0]["lr"])
            sched.step(score)
            if score < history.best_score:
                history.best_score, history.best_epoch, bad_epochs = score, epoch, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                bad_epochs += 1
            epoch += 1
            history.epochs_run = epoch
            if bad_epochs >= self.patience:
                history.stop_reason, history.stopped_early, done = "early_stopping", True, True
            elif timed_out:
                history.stop_reason, history.stopped_early, done = "max_time", True, True
            bar.update(1)
            bar.set_postfix(loss=f"{train_loss:.3g}", **({"val": f"{val:.3g}"} if val is not None else {}))
            if self.checkpoint_path is not None and par.main:  # the unwrapped model: no DDP "module." keys
                save_checkpoint(self.checkpoint_path, model=model, optimizer=opt, scheduler=sched, generator=gen,
                                epoch=epoch, history=asdict(history), bad_epochs=bad_epochs, done=done,
                                best_state=best_state, settings=trainer_settings(self), fingerprint=fingerprint)
        bar.close()
        model.load_state_dict(best_state)
        model.eval()
        history.time_s += time.perf_counter() - t_start
        history.status = ("failed" if history.best_epoch < 0 else "stopped_non_finite"
                          if history.stop_reason == "non_finite_loss" else "unstable" if history.non_finite else "ok")
        if history.status == "failed":
            raise TrainingFailedError(failure_message(history, lr=self.lr, last_lr=opt.param_groups[0]["lr"],
                                                      epochs=self.epochs, grad_clip=self.grad_clip,
                                                      validated=x_val is not None,
                                                      held_fit=any(getattr(m, "parameter_fit", False) is True
                                                                   for m in model.modules())), history)
        return history
