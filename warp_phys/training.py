"""Training of sequence models (WARP and baselines): `Trainer(...).fit(model, x_train, tau, x_val)`.

AdamW with gradient clipping, reduce-on-plateau on the validation score, best-state
selection, early stopping, a time budget, a progress bar, and checkpoint/resume (a resumed
run gives the same result as an uninterrupted one). Objectives for free-running forecasts:
scheduled sampling (``p_force_schedule``), a rollout curriculum on the forecast loss
(``forecast_horizon_schedule``) and noise / parallel feedback passes in the autoregressive
forward (``feedback_noise``, ``feedback_passes``); the schedules are in `warp_phys.schedules`.
Inputs are normalised tensors x (N, T, d) and tau (T,); the targets are x itself (one-step
prediction) or, for a sequence-to-sequence task, separate targets y (N, T, d). Deterministic given ``seed`` (batch
order, teacher-forcing and noise draws come from one CPU generator whose state is checkpointed).
"""
from __future__ import annotations

import inspect
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from warp_phys.checkpoint import atomic_save, load_verified
from warp_phys.device import resolve_device
from warp_phys.losses import LOSSES, sequence_loss
from warp_phys.progress import progress_bar
from warp_phys.schedules import check_schedule_options, horizon_at, p_force_at

#: Keywords of the autoregressive forward that the feedback options need (WARP accepts them).
FEEDBACK_KEYWORDS = ("feedback_passes", "detach_feedback", "noise_std")


@dataclass
class TrainHistory:
    """Per-epoch records. ``val_loss`` is empty without validation data; the selection
    score is then the training loss. ``best_epoch`` is 0-based (-1: nothing trained)."""

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


def _as_data(x: Any, name: str, d: int | None = None) -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.dim() != 3:
        raise ValueError(f"{name} must have shape (trajectories, time, variables), got {tuple(x.shape)}")
    if d is not None and x.shape[-1] != d:
        raise ValueError(f"{name} has {x.shape[-1]} variables but the model expects {d}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf; remove or interpolate those values first")
    return x


class Trainer:
    """Settings of a training run; ``fit`` takes the data (scikit-learn style).

    Args:
        epochs, batch_size, lr, weight_decay: AdamW schedule; ``grad_clip`` max grad norm (None: off).
        loss: "mse" or "nll" (Gaussian, needs a model with a std output).
        p_force: teacher-forcing probability (1: parallel teacher-forced training).
        patience: epochs without improvement of the selection score before stopping.
        lr_patience, lr_factor: ReduceLROnPlateau on the selection score.
        val_n_ctx: if set, the validation score is the forecast MSE over steps >= val_n_ctx
            (model.forecast reading val_n_ctx steps); else the one-step loss.
        forecast_weight: weight of an extra loss term, the MSE of the model's own forecast
            (``model.context_forecast``) after ``forecast_context`` observed steps over the
            next ``forecast_horizon`` steps (None: to the end). 0 (default): off. Cheap for a
            WARP model that holds its prior's outputs after the context (the grey box): the
            forecast is then a loop of prior steps without the root network.
        seed: seed of batch order and teacher-forcing draws.
        device: "auto" | "cpu" | "cuda" ...; progress: show a tqdm bar.
        checkpoint_path: saved every epoch; if the file exists, fit resumes from it.
        max_time: wall-clock budget in seconds (checked after every batch).
        nan_retries: how many non-finite training losses to recover from: each restores the
            best parameters so far, clears the optimiser's moments, multiplies the lr by
            ``lr_factor`` and restarts the epoch. One more stops training (best parameters kept).

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
                 detach_feedback: bool = True) -> None:
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose one of {list(LOSSES)}")
        if epochs < 0 or batch_size < 1:
            raise ValueError(f"need epochs >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
        if not 0.0 <= p_force <= 1.0:
            raise ValueError(f"p_force must be in [0, 1], got {p_force}")
        if not (math.isfinite(forecast_weight) and forecast_weight >= 0):
            raise ValueError(f"forecast_weight must be a finite number >= 0, got {forecast_weight!r}")
        if forecast_weight > 0 and forecast_context is None:
            raise ValueError("forecast_weight > 0 needs forecast_context (the number of observed steps "
                             "the forecast reads)")
        if forecast_horizon is not None and forecast_horizon < 1:
            raise ValueError(f"forecast_horizon must be >= 1 or None, got {forecast_horizon!r}")
        self.forecast_weight, self.forecast_context = float(forecast_weight), forecast_context
        self.forecast_horizon = forecast_horizon
        if isinstance(nan_retries, bool) or not isinstance(nan_retries, int) or nan_retries < 0:
            raise ValueError(f"nan_retries must be an integer >= 0, got {nan_retries!r}")
        self.nan_retries = nan_retries
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

    # ------------------------------------------------------------------ schedules
    def schedule_at(self, epoch: int, n_steps: int | None = None) -> dict[str, Any]:
        """The settings of (0-based) ``epoch``: ``{"p_force": float, "forecast_horizon": int | None}``.
        ``forecast_horizon``: steps of the forecast loss after the context (None: no forecast loss,
        or, without ``n_steps``, to the end of the trajectory). ``n_steps``: the trajectories'
        length, which caps the horizon at the steps left after ``forecast_context``."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be an integer >= 0, got {epoch!r}")
        p = p_force_at(epoch, start=self.p_force, floor=self.p_force_floor, kind=self.p_force_schedule,
                       schedule_epochs=self.schedule_epochs)
        h = None
        if self.forecast_weight > 0:
            available = None if n_steps is None else int(n_steps) - int(self.forecast_context)
            h = horizon_at(epoch, horizon=self.forecast_horizon, schedule=self.forecast_horizon_schedule,
                           available=available)
        return {"p_force": p, "forecast_horizon": h}

    def _feedback_kwargs(self, model: torch.nn.Module) -> dict[str, Any]:
        """The feedback keywords of the training forward ({} at their defaults); ValueError when
        they are set and ``model.forward`` does not accept them."""
        used = [f"{k}={v!r}" for k, v, default in (("feedback_noise", self.feedback_noise, 0.0),
                                                   ("feedback_passes", self.feedback_passes, None),
                                                   ("detach_feedback", self.detach_feedback, True)) if v != default]
        if not used:
            return {}
        params = inspect.signature(model.forward).parameters
        if not (all(k in params for k in FEEDBACK_KEYWORDS)
                or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())):
            raise ValueError(f"{', '.join(used)} needs a model whose forward accepts {list(FEEDBACK_KEYWORDS)} "
                             f"(WARP); {type(model).__name__}.forward does not: leave feedback_noise=0, "
                             "feedback_passes=None, detach_feedback=True")
        return {"feedback_passes": self.feedback_passes, "detach_feedback": self.detach_feedback,
                "noise_std": self.feedback_noise}

    def _check_targets(self, x_train: torch.Tensor, x_val: torch.Tensor | None, y_train: Any,
                       y_val: Any) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The sequence-to-sequence targets as tensors (None: none); ValueError when their
        shapes do not match the inputs or the settings need targets equal to the inputs."""
        if y_train is None and y_val is None:
            return None, None
        if y_train is None or (y_val is None) != (x_val is None):
            raise ValueError("give y_train, and y_val exactly when x_val is given (targets of every split, "
                             "or none)")
        needs_inputs = [name for name, on in (("p_force < 1", self.p_force < 1 or self.p_force_schedule),
                                              ("forecast_weight > 0", self.forecast_weight > 0),
                                              ("val_n_ctx", self.val_n_ctx is not None)) if on]
        if needs_inputs:
            raise ValueError(f"targets y_train/y_val need teacher-forced one-step training, but {needs_inputs} "
                             "feed the model its own predictions as inputs: set p_force=1 (no schedule), "
                             "forecast_weight=0, val_n_ctx=None")
        out = []
        for name, y, x in (("y_train", y_train, x_train), ("y_val", y_val, x_val)):
            y = None if y is None else _as_data(y, name, x.shape[-1])
            if y is not None and y.shape != x.shape:
                raise ValueError(f"{name} has shape {tuple(y.shape)} but its inputs have {tuple(x.shape)}; "
                                 "they must agree")
            out.append(y)
        return out[0], out[1]

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module, x: torch.Tensor, tau: torch.Tensor,
                 y: torch.Tensor | None = None) -> float:
        """Validation score of ``model`` on x (N, T, d): forecast MSE after ``val_n_ctx``
        steps if set, else the one-step loss (steps >= 1) against x, or against the targets
        ``y`` (N, T, d) of a sequence-to-sequence task when given."""
        was_training = model.training
        model.eval()
        total, n = 0.0, 0
        for i in range(0, x.shape[0], 4 * self.batch_size):
            xb = x[i : i + 4 * self.batch_size]
            yb = xb if y is None else y[i : i + 4 * self.batch_size]
            if self.val_n_ctx is not None:
                pred = model.forecast(xb[:, : self.val_n_ctx], tau)
                score = ((pred.mean[:, self.val_n_ctx :] - xb[:, self.val_n_ctx :]) ** 2).mean()
            else:
                score = sequence_loss(model(xb, tau), yb, kind=self.loss)
            total += float(score) * xb.shape[0]
            n += xb.shape[0]
        model.train(was_training)
        return total / n

    def forecast_loss(self, model: torch.nn.Module, x: torch.Tensor, tau: torch.Tensor,
                      horizon: int | None = None) -> torch.Tensor:
        """MSE of ``model.context_forecast`` reading x[:, :forecast_context] (x (B, T, d))
        over the next ``horizon`` steps (default ``forecast_horizon``; to the end when None)."""
        n = int(self.forecast_context)
        horizon = self.forecast_horizon if horizon is None else horizon
        end = x.shape[1] if horizon is None else min(x.shape[1], n + int(horizon))
        pred = model.context_forecast(x[:, :n], tau[:end])
        return ((pred.mean[:, n:end] - x[:, n:end]) ** 2).mean()

    # ------------------------------------------------------------------ training
    def fit(self, model: torch.nn.Module, x_train: Any, tau: Any, x_val: Any | None = None, *,
            y_train: Any | None = None, y_val: Any | None = None) -> TrainHistory:
        """Train ``model`` in place on x_train (N, T, d) at times tau (T,); returns the history.
        The model ends with the parameters of the best epoch (by validation score).

        ``y_train``/``y_val`` (same shapes as x_train/x_val): targets of a sequence-to-sequence
        task (e.g. `warp_phys.systems.segment_repeat`): the model reads x and its prediction at
        step t (from x[:, :t]) is scored against y[:, t]. They need teacher forcing (p_force=1,
        no schedule), no forecast loss and no ``val_n_ctx``. None (default): the targets are x."""
        t_start = time.perf_counter()
        device = resolve_device(self.device)
        d = getattr(model, "n_variables", None)
        x_train = _as_data(x_train, "x_train", d)
        T = x_train.shape[1]
        tau = torch.as_tensor(tau)
        if tau.dim() != 1 or tau.shape[0] != T:
            raise ValueError(f"tau must have shape ({T},) to match x_train, got {tuple(tau.shape)}")
        if x_val is not None:
            x_val = _as_data(x_val, "x_val", x_train.shape[-1])
            if x_val.shape[1] != T:
                raise ValueError(f"x_val has {x_val.shape[1]} time steps but x_train has {T}; they must agree")
        for name in ("val_n_ctx", "forecast_context"):
            n = getattr(self, name)
            if n is not None and not 1 <= n < T:
                raise ValueError(f"{name}={n} must be in [1, {T - 1}] for trajectories of {T} steps")
        if self.forecast_weight > 0 and not callable(getattr(model, "context_forecast", None)):
            raise ValueError(f"forecast_weight > 0 needs a model with a differentiable context_forecast "
                             f"(WARP); {type(model).__name__} has none: set forecast_weight=0")
        y_train, y_val = self._check_targets(x_train, x_val, y_train, y_val)
        feedback = self._feedback_kwargs(model)
        model.to(device)
        first = next(iter(model.parameters()), None)
        dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
        x_train = x_train.to(device=device, dtype=dtype)
        tau = tau.to(device=device, dtype=dtype)
        x_val = x_val.to(device=device, dtype=dtype) if x_val is not None else None
        y_train = x_train if y_train is None else y_train.to(device=device, dtype=dtype)
        y_val = y_val.to(device=device, dtype=dtype) if y_val is not None else None

        history = TrainHistory()
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            history.stop_reason = "no_parameters"
            if x_val is not None:
                history.val_loss.append(self.evaluate(model, x_val, tau, y_val))
                history.best_score = history.val_loss[-1]
            history.time_s = time.perf_counter() - t_start
            return history

        opt = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=self.lr_factor,
                                                           patience=self.lr_patience)
        gen = torch.Generator().manual_seed(int(self.seed))
        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        bad_epochs, start_epoch, done = 0, 0, False

        if self.checkpoint_path is not None and self.checkpoint_path.exists():
            ck = load_verified(self.checkpoint_path)
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            sched.load_state_dict(ck["scheduler"])
            gen.set_state(ck["rng"])
            history = TrainHistory(**ck["history"])
            best_state = {k: v.to(device) for k, v in ck["best_state"].items()}
            bad_epochs, start_epoch, done = ck["bad_epochs"], ck["epoch"], ck["done"]

        N = x_train.shape[0]
        bar = progress_bar(total=self.epochs, initial=start_epoch, desc="training", disable=not self.progress,
                   leave=False, dynamic_ncols=True)
        model.train()
        epoch = start_epoch
        while not done and epoch < self.epochs:
            setting = self.schedule_at(epoch, n_steps=T)
            p_force, horizon = setting["p_force"], setting["forecast_horizon"]
            perm = torch.randperm(N, generator=gen).to(device)
            total, count, timed_out, bad_loss = 0.0, 0, False, False
            for i in range(0, N, self.batch_size):
                idx = perm[i : i + self.batch_size]
                xb = x_train[idx]
                pred = model(xb, tau, p_force=p_force, generator=gen, **feedback)
                loss = sequence_loss(pred, y_train[idx], kind=self.loss) + model.penalty(xb, tau)
                if self.forecast_weight > 0:
                    loss = loss + self.forecast_weight * self.forecast_loss(model, xb, tau, horizon)
                if not torch.isfinite(loss):
                    bad_loss = True
                    break
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if self.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
                opt.step()
                total += float(loss.detach()) * xb.shape[0]
                count += xb.shape[0]
                if self.max_time is not None and time.perf_counter() - t_start > self.max_time:
                    timed_out = True
                    break
            if bad_loss and history.recoveries < self.nan_retries:
                history.recoveries += 1
                model.load_state_dict(best_state)
                opt.state.clear()
                for group in opt.param_groups:
                    group["lr"] *= self.lr_factor
                warnings.warn(f"non-finite training loss in epoch {epoch}; restarting the epoch from the best "
                              f"parameters so far with lr {opt.param_groups[0]['lr']:.3g} (recovery "
                              f"{history.recoveries} of {self.nan_retries})", RuntimeWarning)
                if timed_out or (self.max_time is not None and time.perf_counter() - t_start > self.max_time):
                    history.stop_reason, history.stopped_early = "max_time", True
                    break
                continue
            if bad_loss:
                warnings.warn(f"non-finite training loss in epoch {epoch}; stopping and keeping the best "
                              f"parameters so far (try a lower lr or a larger std_floor)", RuntimeWarning)
                history.stop_reason, history.stopped_early = "non_finite_loss", True
                break
            train_loss = total / max(count, 1)
            history.train_loss.append(train_loss)
            history.p_force.append(p_force)
            history.forecast_horizon.append(horizon)
            val = self.evaluate(model, x_val, tau, y_val) if x_val is not None else None
            if val is not None:
                history.val_loss.append(val)
            score = val if val is not None else train_loss
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
            if self.checkpoint_path is not None:
                atomic_save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                             "scheduler": sched.state_dict(), "rng": gen.get_state(), "epoch": epoch,
                             "history": asdict(history), "bad_epochs": bad_epochs, "done": done,
                             "best_state": {k: v.cpu() for k, v in best_state.items()}},
                            self.checkpoint_path)
        bar.close()
        model.load_state_dict(best_state)
        model.eval()
        history.time_s += time.perf_counter() - t_start
        return history
