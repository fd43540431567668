"""The one-call workflow: ``warp_phys.reconstruct(system="lorenz")`` -> `Reconstruction`.

This module only resolves names: which kind of input (an ODE system, a field system or the
user's data) and which device, seed and model. The work is done by one pipeline
(`warp_phys.pipeline`): data -> encoder -> model -> trainer -> forecast -> decode -> score.
"""
from __future__ import annotations

import os
import time as _time
from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr

from warp_phys.device import resolve_device
from warp_phys.distributed import is_main_process
from warp_phys.pipeline import Reconstruction, Splits, available_models, field_job, run, system_job, user_job
from warp_phys.pipeline.jobs import SIMULATION_ONLY, series_job
from warp_phys.pipeline.models import MODELS
from warp_phys.pipeline.series import finish as finish_series
from warp_phys.pipeline.streamed import is_paths, open_lazy, stream_job
from warp_phys.validation import InputError, check_int, check_output_path, check_seed

#: Arguments of `reconstruct` that apply to system= only.
_SYSTEM_ONLY = ("protocol", "splits", "system_options")
#: Trainer settings that `reconstruct` derives from ``context=`` (the validation forecast and the
#: forecast loss read the same context as the test forecast).
_FROM_CONTEXT = ("val_n_ctx", "forecast_context")
#: Arguments of `reconstruct` that cut one long series (data= with window=).
_SERIES = ("window", "stride", "gap", "split", "split_by", "fill", "detrend", "deseason", "difference", "phases",
           "covariates", "future_covariates")


def _check_common(system: Any, data: Any, time: Any, variables: Any, model: Any, progress: Any,
                  context: Any, epochs: Any, horizon: Any, options: Mapping[str, Any]) -> None:
    """The cheap checks of `reconstruct`'s own arguments (types and ranges), before anything else."""
    if (system is None) == (data is None):
        raise InputError("pass exactly one of system=<name> (simulated data) or data=<your trajectories>")
    if system is not None:
        if not isinstance(system, str) and not callable(getattr(system, "simulate", None)):
            raise InputError(f"system must be a system name (str) or a System, got {system!r} "
                             f"({type(system).__name__}); see warp_phys.systems.available()")
        if variables is not None:
            raise InputError("variables= names the variables of your own data=; a system names its own "
                             "(warp_phys.systems.get(name).variable_names)")
        if time is not None:
            raise InputError("time= is the time axis of your own data=; a system's time grid comes from its "
                             "protocol (change it with t_span= and n_steps=)")
    if not isinstance(model, str):
        raise InputError(f"model must be a model name (str), got {model!r}; choose one of {available_models()}")
    if not isinstance(progress, bool):
        raise InputError(f"progress must be True or False, got {progress!r}")
    if context is not None:
        check_int(context, "context", minimum=1)
    if epochs is not None:
        check_int(epochs, "epochs", minimum=0)
    if horizon is not None:
        check_int(horizon, "horizon", minimum=1)
    derived = sorted(k for k in options if k in _FROM_CONTEXT)
    if derived:
        raise InputError(f"{derived}: reconstruct sets these from context= (validation and the forecast loss read "
                         f"the same context as the test forecast); pass context=<steps> instead")


def reconstruct(system: Any = None, data: xr.Dataset | np.ndarray | str | os.PathLike | None = None, *,
                time: Any = None, context: int | None = None, horizon: int | None = None, prior: str | None = "auto",
                model: str = "warp", epochs: int | None = None, seed: int = 0, device: str = "auto",
                progress: bool = True, protocol: str | None = None, prior_options: Mapping | None = None,
                variables: Sequence[str] | None = None, splits: Splits | None = None,
                system_options: Mapping | None = None, to_netcdf: str | os.PathLike | None = None,
                window: int | None = None, stride: int | None = None, gap: int | None = None,
                split: Sequence[float] | None = None, split_by: str | None = None, fill: str | None = None,
                detrend: int | str | None = None,
                deseason: int | None = None, difference: bool = False,
                phases: float | str | Sequence[float | str] | None = None, covariates: Any = None,
                future_covariates: Any = None, data_seed: int | None = None, **options: Any) -> Reconstruction:
    """Reconstruct and forecast a dynamical system with WARP (or a baseline).

    Args:
        system: a system name (``warp_phys.systems.available()``) or a `System`. ODE systems
            are simulated from their protocol (train, a validation set from the training
            distribution, in- and out-of-distribution tests); field systems as runs cut into
            windows, modelled on a reduced (POD) basis.
        data: the user's trajectories instead: an xarray Dataset with ``state(trajectory,
            time, variable)``, or an array (trajectory, time, variable) with ``time`` (T,)
            uniform and strictly increasing. Split 70/15/15 by trajectory (seeded).
            Or, with ``window=``, ONE long measured series: an array (time,) or (time, variable)
            with ``time`` (numbers or numpy datetime64), a pandas Series/DataFrame (its index is
            the time unless ``time=`` is given; a DatetimeIndex works), or a Dataset
            ``state(time[, variable])``. A 1-D or 2-D array without ``window=`` is refused.
            Data larger than memory: a path to a Zarr store (``"x.zarr"``, e.g. from
            `warp_phys.sharded.simulate_to_zarr`), to NetCDF file(s) (a path, a glob such as
            ``"runs/*.nc"`` or a list, joined along ``trajectory``), or an open dask-backed
            Dataset (``xr.open_zarr(...)``) is streamed from disk (`warp_phys.pipeline.streamed`):
            scaler fit in one pass, training and validation batches read as needed, at most
            ``max_test_trajectories=`` (default 1024) test trajectories read and scored; the
            classical baselines are left out and closed-form models refused.
        context: observed steps before the forecast (default: the recipe's; for a series a
            quarter of the window, or ``window - horizon`` when ``horizon`` is given).
        horizon: forecast steps to score after the context (default: to the end; for a series
            ``window - context``, also the length of the forecast beyond the record).
        prior: "auto" (WARP: the system's recommended prior; for user data "increment", the
            root network emits the change of the state; baselines: none), a name from
            ``warp_phys.priors.available()``, or None (WARP decodes the state directly).
        model: "warp" or another name of ``warp_phys.pipeline.available_models()``.
        epochs: training epochs (default: the recipe's).
        seed: seeds data generation, splits, initialisation and training.
        data_seed: seeds the data alone where given (the simulated trajectories of a system, the
            random split of your trajectories; a series' chronological split has no seed), so that
            runs with different ``seed`` share one data set and test windows, e.g. the members of
            `warp_phys.ensemble`. Recorded as the ``data_seed`` attribute. Default: ``seed``.
        device: "auto" (CUDA when present), "cpu", "cuda", ...
        protocol: an ODE system's data preset (default: the recipe's).
        prior_options: keyword arguments of the prior (``warp_phys.priors.get``).
        variables: names of the variables of array ``data`` (default "x0", "x1", ...).
        splits: precomputed splits, to compare models on one data set
            (``warp_phys.pipeline.simulate_system`` for ODE systems, ``field_splits`` for fields).
        system_options: a named field system's options, replacing its recipe's.
        to_netcdf: a path to write the result to (``Reconstruction.to_netcdf``); checked (an
            existing, writable directory) before anything is simulated or trained. Under torchrun
            (data-parallel training, `warp_phys.distributed`) only rank 0 writes it; every rank
            returns the same `Reconstruction`.
        window: series only: steps per window (context + forecast). The record is split in
            time order into train / val / test blocks (``split``) and cut into windows that lie
            wholly inside one block, so no test (or validation) step is ever in a training
            window; the windows are then the trajectories of the run (seeded as usual).
            (For field systems ``window``/``stride`` are `FieldRecipe` options, as before.)
        stride: series only: steps between the starts of consecutive windows (default 1).
        gap: series only: steps left unused before the val and before the test block
            (default 0: windows of different blocks are already disjoint in time; a gap also
            keeps them apart by ``gap`` steps, for strongly autocorrelated records).
        split: series only: (train, val, test) fractions of the record's time steps, in time
            order (default (0.7, 0.15, 0.15); normalised). Each block must hold a window.
        split_by: series only: "window" (default): a val or test window lies wholly inside its
            block; "forecast": its forecast steps do and its context reads the steps before,
            which may belong to the block before (rolling-origin evaluation: every forecast
            origin of the block is scored, B - (window - context) + 1 windows in a block of B
            steps instead of B - window + 1; no val or test forecast step is ever in a training
            window). Training windows always lie wholly inside the train block.
        fill: series only: None (default) refuses NaN in the series, naming the first NaN
            step; "linear" interpolates NaN between steps (not at the record's ends). An
            irregular time axis (e.g. a missing date) is always refused, naming the first
            irregular index: resample or interpolate onto a regular grid first.
        detrend: series only: None (default) or "linear" (= 1) or a polynomial degree 0..5: a
            polynomial in time fitted per variable by least squares on the training block only
            and subtracted from the whole record before the windows are cut.
        deseason: series only: None (default) or a period P >= 2 in steps: the mean of the
            (detrended) training steps per phase (record step index mod P) and variable,
            subtracted likewise; P must not exceed the training block.
        difference: series only: False (default) or True: the model sees first differences of
            the (detrended, deseasoned) record; its forecasts are summed from the last observed
            level of each window's context. With any of the three, everything in the result is
            in the record's units again (the trend and season extrapolated past its end in
            ``datasets["future"]``), the metrics are recomputed there (``mse_transform``: the
            transform alone; with detrend/deseason only the errors equal those on the residual
            windows, with differencing they are those of the summed forecast, and the classical
            ``ar_``/``ets_``/``seasonal_naive_`` scores, made on differences, are left out), and
            ``attrs["series_transform"]`` (JSON) holds the degree, coefficients, period and
            profile; ``rec.forecast(new_data)`` is refused (the model reads residuals).
        phases: series only: known periodic inputs: a period P > 1 in record steps, or several
            (e.g. ``(52.18,)`` for weekly data with a yearly cycle); for a date axis also "year",
            "week", "day" (converted with the record's step; "year" = 12 calendar months). Each
            adds the channels sin(2 pi i / P) and cos(2 pi i / P), i = the step's index in the
            record (i = 0 at its first time, the phase origin kept in ``attrs["known_inputs"]``),
            so the phase runs on across windows and into the forecast past the record's end.
        covariates: series only: known inputs aligned with the record: (time,) or (time, k)
            array, pandas Series/DataFrame (column names kept) or DataArray, one finite row
            per record step (not detrended or differenced). Phases and covariates are channels
            the model reads at every step (the prediction of step t reads them up to step t-1)
            and never predicts: in training, validation and every forecast they hold their
            given values; losses, metrics, Datasets and plots cover ``data``'s variables only.
            Models with a rollout only (warp, gru, lstm, transformer, node); the classical
            forecasters ignore them. ``rec.forecast(new_data, start=t0, covariates=c)`` computes
            the phases from the training record's step index of ``t0`` (the time of new_data's
            first step on the record's axis) and reads ``c`` for every forecast step.
        future_covariates: series only: the covariates' values on the steps right after the
            record, (F, k) with F >= horizon, for ``datasets["future"]``; without them that
            forecast is left out (a warning says so) and the test scores are unaffected.
        **options: recipe fields (``warp_phys.recipes.recipe_fields()``: the protocol's
            n_train, n_val, n_test, t_span, n_steps; training and WARP settings; for fields
            the `FieldRecipe` fields), else keyword arguments of the model's constructor.
            Among the training settings, ``context_scaling=True`` rescales each window by the
            mean and standard deviation of its own context before the model reads it and maps
            the forecast back (`warp_phys.context_scaling`; any model; for records whose level
            or amplitude drifts between the blocks; default False).

    Returns a `Reconstruction`; its ``metrics`` are scored in physical units over the
    forecast window of the primary test split. For a series (``window=``), ``rec.dataset`` holds
    the test windows with coordinates ``time`` (since the window's first step, in the record's
    units, seconds for dates), ``window_start``, ``window_start_index`` and ``record_time``
    (trajectory, time; dates stay dates), and ``rec.datasets["future"]`` the forecast from the
    record's last ``context`` steps to ``horizon`` steps beyond its end (truth NaN there; its
    ``record_time`` continues the record's time axis with its step). Every argument is checked before any
    simulation or training; a bad one raises `warp_phys.validation.InputError` (a ValueError)
    naming it, its value and the fix.
    """
    t_start = _time.perf_counter()
    _check_common(system, data, time, variables, model, progress, context, epochs, horizon, options)
    out_path = None if to_netcdf is None else check_output_path(to_netcdf, "to_netcdf")
    common = dict(model=MODELS.resolve(model), prior=prior, prior_options=prior_options, seed=check_seed(seed),
                  device=resolve_device(device))
    if data_seed is not None:
        common["data_seed"] = check_seed(data_seed, "data_seed")
    options = {**options, **{k: v for k, v in (("epochs", epochs), ("context", context)) if v is not None}}
    series = {k: v for k, v in zip(_SERIES, (window, stride, gap, split, split_by, fill, detrend, deseason, difference,
                                             phases, covariates, future_covariates))
              if v is not None and v is not False}
    if system is not None:  # window= and stride= stay FieldRecipe options of field systems, as before
        options.update({k: series.pop(k) for k in ("window", "stride") if k in series})
    if series and "window" not in series:
        raise InputError(f"{sorted(series)} cut one long measured series into windows: pass data=<series> with "
                         "window=<steps>, or drop them")
    if data is not None:
        given = [name for name, v in zip(_SYSTEM_ONLY, (protocol, splits, system_options)) if v is not None]
        given += sorted(k for k in options if k in SIMULATION_ONLY)
        if given:
            raise InputError(f"{given} apply to simulated systems (system=) and do nothing for your own data=: "
                             "drop them (your data set the time grid and the number of trajectories)")
        if series:
            if isinstance(data, (str, os.PathLike, list, tuple)) and is_paths(data):
                raise InputError("window= reads one series into memory: open the file (warp_phys.open_trajectories"
                                 " or xarray) and pass the Dataset or array")
            job = series_job(data, time, variables, options=options, progress=progress, horizon=horizon,
                             **series, **common)
        elif (lazy := open_lazy(data, time, variables)) is not None:  # a path or a dask-backed Dataset: streamed
            job = stream_job(lazy, options=options, progress=progress, horizon=horizon, **common)
        else:
            job = user_job(data, time, variables, options=options, progress=progress, horizon=horizon, **common)
    else:
        from warp_phys import systems

        sys_obj = systems.get(system) if isinstance(system, str) else system
        if getattr(sys_obj, "kind", "ode") == "field":
            if protocol is not None:
                raise InputError("protocol= applies to ODE systems; field systems take FieldRecipe options "
                                 "instead (e.g. n_runs_train=, grid=, window=; see warp_phys.fields.recipes)")
            job = field_job(system, system_options=system_options, splits=splits, horizon=horizon,
                            options=options, progress=progress, **common)
        else:
            if system_options is not None:
                raise InputError("system_options= applies to field systems; pass an ODE system's "
                                 "parameters with warp_phys.systems.get(name, **parameters)")
            job = system_job(sys_obj, protocol=protocol, options=options, splits=splits, progress=progress,
                             horizon=horizon, **common)
    if job.horizon is None:
        job.horizon = horizon
    rec = run(job)
    if "series" in job.splits.extra:
        finish_series(job, rec)
    rec.runtime_s = _time.perf_counter() - t_start
    if out_path is not None and is_main_process():  # under torchrun only rank 0 writes
        rec.to_netcdf(out_path)
    return rec


__all__ = ["Reconstruction", "available_models", "reconstruct"]
