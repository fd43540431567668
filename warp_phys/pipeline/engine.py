"""The engine: one pipeline for ODE systems, field systems and the user's data.

    Splits -> encoder.fit -> encode -> build model -> train (selection on validation)
           -> forecast each test split from ``context`` steps -> decode -> score -> Reconstruction

What differs between the kinds of data is given to `run` as parts: the `Splits` (the data
source) and the encoder (`StateEncoder` or `FieldEncoder`). Model selection uses the
validation split only; the test splits are read once, after training.
"""
from __future__ import annotations

import inspect
import json
import math
import time as _time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import xarray as xr

from warp_phys._version import __version__
from warp_phys.data import normalised_time
from warp_phys.context_scaling import ContextScaled, innermost
from warp_phys.lag_readout import fit_lag_readout
from warp_phys.recipes import TrainingRecipe
from warp_phys.validation import check_context

from .models import CLASSICAL, ModelSpec, build_model
from .prediction import FORECAST_BATCH, forecast_batches, predict
from .results import Reconstruction, result_dataset
from .sources import Splits



@dataclass
class Job:
    """Everything one run needs, resolved: the data, how to encode it, which model, the
    ``recipe`` it is trained with (a `TrainingRecipe`), the ``context`` (observed steps) and
    ``horizon`` (scored steps; None: to the end), the ``time_scale`` that lead times are
    reported in, and provenance attributes. ``data_seed`` (None: ``seed``) drew the data or
    their split; ``seed`` seeds the model and its training."""

    splits: Splits
    encoder: Any
    spec: ModelSpec
    recipe: TrainingRecipe
    context: int
    horizon: int | None = None
    system: Any = None
    seed: int = 0
    data_seed: int | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    progress: bool = True
    time_scale: float | None = None
    provenance: dict[str, Any] = field(default_factory=dict)


def make_trainer(plan: TrainingRecipe, *, context: int, output: str, seed: int, device: torch.device,
                 progress: bool, seq2seq: bool = False) -> Any:
    """The `warp_phys.Trainer` of ``plan`` (its settings are checked here: InputError before any
    work). Selection on the validation forecast error after ``context`` steps, or, for a
    sequence-to-sequence task (``seq2seq``), on the one-step loss against the targets."""
    from warp_phys.training import Trainer

    return Trainer(epochs=plan.epochs, batch_size=plan.batch_size, batches_per_epoch=plan.batches_per_epoch,
                   lr=plan.lr, val_horizon=None if seq2seq else plan.val_horizon,
                   loss="nll" if output == "gaussian" else "mse", p_force=plan.p_force,
                   val_n_ctx=None if seq2seq else context, forecast_weight=plan.forecast_weight,
                   forecast_context=context if plan.forecast_weight > 0 else None,
                   forecast_horizon=plan.forecast_horizon, p_force_schedule=plan.p_force_schedule,
                   p_force_floor=plan.p_force_floor, schedule_epochs=plan.schedule_epochs,
                   forecast_horizon_schedule=plan.forecast_horizon_schedule, feedback_noise=plan.feedback_noise,
                   feedback_passes=plan.feedback_passes, detach_feedback=plan.detach_feedback,
                   seed=seed, device=device, progress=progress,
                   max_time=plan.max_time, **({"patience": plan.patience} if plan.patience is not None else {}))


def train(net: Any, z_train: torch.Tensor, tau: torch.Tensor, z_val: torch.Tensor, plan: TrainingRecipe, *,
          context: int, output: str, seed: int, device: torch.device, progress: bool,
          targets: tuple[torch.Tensor, torch.Tensor] | None = None, trainer: Any = None) -> Any:
    """Fit ``net`` (closed-form models first call their own ``fit``; WARP with ``ar_lags`` starts
    its lag term at the least-squares fit, `warp_phys.lag_readout.fit_lag_readout`, a start that
    stays a candidate of the validation selection: `keep_fitted_start`) and train it with the
    `warp_phys.Trainer` (``trainer``, or `make_trainer` of ``plan``), selecting on the validation
    forecast error; returns the history. ``targets``: (y_train, y_val) of a sequence-to-sequence
    task, selected on the validation one-step loss against y_val instead. A run with no finite
    epoch raises `warp_phys.training_guard.TrainingFailedError`, with the `reconstruct` options that fix it."""
    from warp_phys.training_guard import TrainingFailedError

    if trainer is None:
        trainer = make_trainer(plan, context=context, output=output, seed=seed, device=device, progress=progress,
                               seq2seq=targets is not None)
    if callable(getattr(net, "fit", None)):
        if "x_val" in inspect.signature(net.fit).parameters:  # closed form, selected on validation windows
            net.fit(z_train, x_val=z_val, context=context)
        else:
            net.fit(z_train)
    fitted = isinstance(z_train, torch.Tensor) and getattr(innermost(net)[0], "lag_readout", None) is not None
    if fitted:  # WARP(ar_lags=p), on the windows as it reads them (inside known inputs / context scaling)
        fit_lag_readout(*innermost(net, z_train), tau)
    candidate = fitted and isinstance(z_val, torch.Tensor) and targets is None  # the start joins the selection
    start = {k: v.detach().clone() for k, v in net.state_dict().items()} if candidate else None
    y_train, y_val = targets if targets is not None else (None, None)
    try:
        history = trainer.fit(net, z_train, tau, z_val, y_train=y_train, y_val=y_val)
    except TrainingFailedError as err:
        if candidate and keep_fitted_start(net, start, trainer, z_val, tau, err.history):
            warnings.warn(f"{type(net).__name__}: {err}. The model is its fitted start (the lag term's least-squares "
                          f"AR fit; validation score {err.history.start_score:.4g}); history.status stays 'failed'",
                          RuntimeWarning, stacklevel=2)
            return err.history
        raise TrainingFailedError(f"{type(net).__name__}: {err}. With warp_phys.reconstruct: pass a lower lr= "
                                  "(and output_clip= for model='warp'); its grad_clip is 1.0", err.history) from None
    if candidate:
        keep_fitted_start(net, start, trainer, z_val, tau, history)
    return history


def keep_fitted_start(net: Any, start: dict[str, torch.Tensor], trainer: Any, z_val: torch.Tensor, tau: torch.Tensor,
                      history: Any) -> bool:
    """The fitted start (``start``, a state dict of ``net`` before training, e.g. WARP's lag term at its
    least-squares fit) is one more candidate of the validation selection: if its validation score
    (``trainer.evaluate`` on z_val (N, T, d) at times tau (T,)) is at most the trained model's best,
    ``net`` gets it back and ``history`` says so (``kept_start``, ``best_epoch`` -1, ``best_score``);
    ``history.start_score`` is the start's score either way. Returns whether the start was kept. A run
    that found no finite epoch (best_score inf) keeps a start with a finite score."""
    trained = {k: v.detach().clone() for k, v in net.state_dict().items()}
    net.load_state_dict(start)
    device = next(net.parameters()).device
    score = history.start_score = trainer.evaluate(net, z_val.to(device), tau.to(device))
    if math.isfinite(score) and score <= history.best_score:
        history.best_score, history.best_epoch, history.kept_start = score, -1, True
        return True
    net.load_state_dict(trained)
    return False


def forecast(net: Any, z: torch.Tensor, tau: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Forecast normalised (N, T, r) from the first ``context`` steps, in batches; returns the
    mean and std (zeros for point models), (N, T, r) on the CPU (`prediction.forecast_batches`)."""
    return forecast_batches(net, z, tau, context)


def _predict(job: Job, net: Any, ds: xr.Dataset, tau: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Physical mean and std of one test split (`prediction.predict`); warns about forecasts
    that diverged (their errors are NaN)."""
    mean, std = predict(net, job.encoder, job.spec.name, ds, tau, job.context, job.device)
    bad = ~np.isfinite(mean.reshape(mean.shape[0], -1)).all(1)
    if bad.any():
        warnings.warn(f"{int(bad.sum())} of {bad.size} test forecasts of model {job.spec.name!r} diverged "
                      "(non-finite values); their errors are NaN. Train longer / with a lower lr, or use p_force=1",
                      RuntimeWarning, stacklevel=3)
    return mean, std


def classical_forecasts(job: Job, bind: Any, z_train: torch.Tensor, z_val: torch.Tensor, tau: torch.Tensor,
                        context: int) -> dict[str, Any]:
    """The classical forecasters (`models.CLASSICAL`: seasonal naive, AR, ETS), each with its
    default options, fitted on the training windows and selected on the validation windows:
    {"models": {name: fitted model}, "forecasts": {split: {name: mean (N, T, d) in physical units}}}
    on every test split (the same windows and context as the run's model). Closed form: seconds."""
    enc = job.encoder
    d = getattr(enc, "n_targets", enc.n_features)  # known input channels: the classical forecasters ignore them
    nets = {}
    for name in CLASSICAL:
        net = build_model(ModelSpec(name=name, seed=job.seed), d, bind)
        nets[name] = net.fit(z_train[..., :d], x_val=z_val[..., :d], context=context)
    forecasts = {}
    for split, ds in job.splits.tests.items():
        z = enc.encode(ds)[..., :d]
        forecasts[split] = {name: enc.decode(*forecast(net, z, tau, context))[0] for name, net in nets.items()}
    return {"models": nets, "forecasts": forecasts}


def classical_metrics(job: Job, classical: dict[str, Any], context: int) -> dict[str, dict[str, Any]]:
    """Scores of `classical_forecasts` on every test split, like the run's model: {split: {"<name>_mse",
    "<name>_mae", "ar_order", "seasonal_naive_period", "ets_period" (0: no season), "ets_trend"
    (1: Holt's trend)}} in physical units."""
    from warp_phys.metrics import baseline_scores, forecast_window

    nets, out = classical["models"], {}
    for split, ds in job.splits.tests.items():
        window = forecast_window(int(ds.sizes["time"]), context, job.horizon)
        out[split] = {**baseline_scores(job.encoder.truth(ds), classical["forecasts"][split], window),
                      "ar_order": int(nets["ar"].order), "seasonal_naive_period": int(nets["seasonal_naive"].period),
                      "ets_period": int(nets["ets"].period or 0), "ets_trend": int(nets["ets"].trend)}
    return out


def add_baseline_forecasts(out: xr.Dataset, forecasts: dict[str, np.ndarray]) -> xr.Dataset:
    """``out`` with ``baseline_mean(baseline, trajectory, time, variable)``: the classical
    forecasts (physical units; steps before the context's end are one-step predictions)."""
    names = list(forecasts)
    dims = ("baseline", *out["prediction_mean"].dims)
    return out.assign({"baseline_mean": (dims, np.stack([forecasts[n] for n in names]), {
        "units": out["prediction_mean"].attrs.get("units", "1"),
        "long_name": "forecast mean of the classical baselines, fitted on the training windows"})}).assign_coords(
        baseline=("baseline", np.array(names, dtype=str), {"long_name": "classical forecaster"}))


def run(job: Job) -> Reconstruction:
    """Run the pipeline on a resolved `Job`; returns the `Reconstruction`."""
    from warp_phys.priors import BindContext

    t_start = _time.perf_counter()
    context = check_context(job.context, int(job.splits.train.sizes["time"]))
    trainer = make_trainer(job.recipe, context=context, output=job.spec.output, seed=job.seed, device=job.device,
                           progress=job.progress)  # settings checked before any work
    enc, splits = job.encoder, job.splits
    train_ds = enc.augment(splits.train)
    enc.fit(splits.train, splits.basis_data)
    t = np.asarray(splits.train["time"].values, dtype=np.float64)
    tau = normalised_time(t)
    bind = BindContext(n_variables=enc.n_features, dt=float(t[1] - t[0]), duration=float(t[-1] - t[0]),
                       scaler=enc.scaler, system=job.system)
    net = build_model(job.spec, enc.n_features, bind)
    if getattr(enc, "n_known", 0):  # known inputs (phases, covariates): read at every step, never predicted
        from warp_phys.known_inputs import KnownInputs

        net = KnownInputs(net, enc.n_known)
    if job.recipe.context_scaling:  # each window rescaled by its own context (outermost: known channels kept)
        net = ContextScaled(net, context)
    z_train, z_val = enc.encode(train_ds), enc.encode(splits.val)
    history = train(net, z_train, tau, z_val, job.recipe, context=context,
                    output=job.spec.output, seed=job.seed, device=job.device, progress=job.progress,
                    trainer=trainer)
    # the user's data (no system): the classical forecasts beside the result, on the same windows (not when
    # streamed from disk: their closed-form fit reads the whole training split)
    streamed = getattr(enc, "streams", False)
    baselines = classical_forecasts(job, bind, z_train, z_val, tau, context) \
        if job.system is None and not streamed else None
    classical = classical_metrics(job, baselines, context) if baselines is not None else {}
    net = net.to(job.device)

    provenance = {**job.provenance, "model": job.spec.name, "prior": job.spec.prior or "none", "seed": job.seed,
                  **({} if job.data_seed is None else {"data_seed": job.data_seed}),
                  "context_steps": context, "device": str(job.device), "warp_phys_version": __version__,
                  **enc.attrs(),
                  "recipe": json.dumps(job.recipe.to_dict(), sort_keys=True, default=str),
                  "model_options": json.dumps(job.spec.options, sort_keys=True, default=str)}
    std_name = ("predictive standard deviation" if job.spec.output == "gaussian" else
                "predictive standard deviation (0: the model gives point predictions, no uncertainty)")
    datasets, all_metrics, curve = {}, {}, None
    for name, ds in splits.tests.items():
        mean, std = _predict(job, net, ds, tau)
        met, extra = enc.score(enc.truth(ds), mean, ds, context, job.horizon, job.time_scale, std=std)
        met.update(classical.get(name, {}))
        all_metrics[name] = met
        out = result_dataset(ds, enc.variable, mean, std, context, {**provenance, "split": name}, met, std_name)
        if baselines is not None and enc.variable == "state":
            out = add_baseline_forecasts(out, baselines["forecasts"][name])
        if "relative_l2_error" in extra:
            out["relative_l2_error"] = (("trajectory", "time"), extra["relative_l2_error"], {
                "units": "1", "long_name": "relative L2 error ||prediction_mean - truth|| / ||truth|| over the grid"})
        if name == "test" and "error_curve" in extra:
            curve = xr.DataArray(extra["error_curve"], dims=("time",), coords={"time": out["time"]},
                                 name="relative_l2_error",
                                 attrs={"units": "1", "long_name": "mean relative L2 error over test windows"})
        datasets[name] = out
    return Reconstruction(dataset=datasets["test"], datasets=datasets, metrics=all_metrics["test"], model=net,
                          history=history, system=job.system, encoder=enc, recipe=job.recipe, context=context,
                          horizon=job.horizon, model_name=job.spec.name, prior_name=job.spec.prior,
                          device=job.device, seed=job.seed, all_metrics=all_metrics,
                          runtime_s=_time.perf_counter() - t_start, error_curve=curve)


__all__ = ["FORECAST_BATCH", "Job", "add_baseline_forecasts", "classical_forecasts", "classical_metrics", "forecast", "make_trainer", "run", "train"]
