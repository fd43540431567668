"""The one-call workflow: ``warp_phys.reconstruct(system="lorenz")`` -> `Reconstruction`.

This module only resolves names: which kind of input (an ODE system, a field system or the
user's data) and which device, seed and model. The work is done by one pipeline
(`warp_phys.pipeline`): data -> encoder -> model -> trainer -> forecast -> decode -> score.
"""
from __future__ import annotations

import time as _time
from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr

from warp_phys.device import resolve_device
from warp_phys.pipeline import Reconstruction, Splits, available_models, field_job, run, system_job, user_job
from warp_phys.pipeline.models import MODELS
from warp_phys.validation import check_seed


def reconstruct(system: Any = None, data: xr.Dataset | np.ndarray | None = None, *, time: Any = None,
                context: int | None = None, horizon: int | None = None, prior: str | None = "auto",
                model: str = "warp", epochs: int | None = None, seed: int = 0, device: str = "auto",
                progress: bool = True, protocol: str | None = None, prior_options: Mapping | None = None,
                variables: Sequence[str] | None = None, splits: Splits | None = None,
                system_options: Mapping | None = None, **options: Any) -> Reconstruction:
    """Reconstruct and forecast a dynamical system with WARP (or a baseline).

    Args:
        system: a system name (``warp_phys.systems.available()``) or a `System`. ODE systems
            are simulated from their protocol (train, a validation set from the training
            distribution, in- and out-of-distribution tests); field systems as runs cut into
            windows, modelled on a reduced (POD) basis.
        data: the user's trajectories instead: an xarray Dataset with ``state(trajectory,
            time, variable)``, or an array (trajectory, time, variable) with ``time`` (T,)
            uniform and strictly increasing. Split 70/15/15 by trajectory (seeded).
        context: observed steps before the forecast (default: the recipe's).
        horizon: forecast steps to score after the context (default: to the end).
        prior: "auto" (the system's recommended prior for WARP; none for user data or
            baselines), a name from ``warp_phys.priors.available()``, or None.
        model: "warp" or another name of ``warp_phys.pipeline.available_models()``.
        epochs: training epochs (default: the recipe's).
        seed: seeds data generation, splits, initialisation and training.
        device: "auto" (CUDA when present), "cpu", "cuda", ...
        protocol: an ODE system's data preset (default: the recipe's).
        prior_options: keyword arguments of the prior (``warp_phys.priors.get``).
        variables: names of the variables of array ``data`` (default "x0", "x1", ...).
        splits: precomputed splits, to compare models on one data set
            (``warp_phys.pipeline.simulate_system`` for ODE systems, ``field_splits`` for fields).
        system_options: a named field system's options, replacing its recipe's.
        **options: recipe fields (``warp_phys.recipes.recipe_fields()``: the protocol's
            n_train, n_val, n_test, t_span, n_steps; training and WARP settings; for fields
            the `FieldRecipe` fields), else keyword arguments of the model's constructor.

    Returns a `Reconstruction`; its ``metrics`` are scored in physical units over the
    forecast window of the primary test split.
    """
    t_start = _time.perf_counter()
    if (system is None) == (data is None):
        raise ValueError("pass exactly one of system=<name> (simulated data) or data=<your trajectories>")
    if system is not None and variables is not None:
        raise ValueError("variables= names the variables of your own data=; a system names its own "
                         "(warp_phys.systems.get(name).variable_names)")
    common = dict(model=MODELS.resolve(model), prior=prior, prior_options=prior_options, seed=check_seed(seed),
                  device=resolve_device(device))
    options = {**options, **{k: v for k, v in (("epochs", epochs), ("context", context)) if v is not None}}
    if data is not None:
        if protocol is not None or splits is not None or system_options is not None:
            raise ValueError("protocol=, splits= and system_options= apply to system= only")
        job = user_job(data, time, variables, options=options, progress=progress, **common)
    else:
        from warp_phys import systems

        sys_obj = systems.get(system) if isinstance(system, str) else system
        if getattr(sys_obj, "kind", "ode") == "field":
            if protocol is not None:
                raise ValueError("protocol= applies to ODE systems; field systems take FieldRecipe options "
                                 "instead (e.g. n_runs_train=, grid=, window=; see warp_phys.fields.recipes)")
            job = field_job(system, system_options=system_options, splits=splits, horizon=horizon,
                            options=options, progress=progress, **common)
        else:
            if system_options is not None:
                raise ValueError("system_options= applies to field systems; pass an ODE system's "
                                 "parameters with warp_phys.systems.get(name, **parameters)")
            job = system_job(sys_obj, protocol=protocol, options=options, splits=splits, progress=progress,
                             **common)
    if job.horizon is None:
        job.horizon = horizon
    rec = run(job)
    rec.runtime_s = _time.perf_counter() - t_start
    return rec


__all__ = ["Reconstruction", "available_models", "reconstruct"]
