"""From the user's words to a `Job`: recipes, options, priors and the data source.

`system_job`, `field_job` and `user_job` resolve names and options for the three kinds of
input and check everything cheap *before* any simulation or training; the `Job` they return
is run by `warp_phys.pipeline.engine.run`.
"""
from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr

from warp_phys.recipes import PROTOCOL_OPTIONS, Recipe, get_recipe, resolve_protocol, user_data_recipe
from warp_phys.validation import InputError

from .encoders import FieldEncoder, StateEncoder
from .engine import Job
from .models import ModelSpec
from .sources import Splits, derive_seed, field_splits, system_splits, user_splits

AUGMENT_SALT = 6007  # keeps the augmentation's draws apart from the simulation seeds

METRICS_DESCRIPTION = (
    "mse/mae on the raw state over the forecast window (steps context..context+horizon-1), "
    "mean over trajectories, steps and variables; mse_<var>: per variable; mse_persistence/"
    "mse_zero: trivial forecasts; vpt (chaotic systems): median over trajectories of the valid "
    "prediction time in Lyapunov times")
FIELD_METRICS_DESCRIPTION = (
    "relative L2 error of the decoded field over the forecast steps (time >= context), mean over "
    "test windows; rel_l2_persistence: last observed snapshot held; horizon_persistence_50: lead "
    "time where the persistence error first reaches 0.5 (rel_l2_at_persistence_50: this model's "
    "error there); rel_l2_projection: the truth projected onto the basis (the floor)")


def resolve_prior(prior: Any, model: str, default: str | None) -> str | None:
    """``"auto"`` -> ``default`` (WARP only); "none"/None -> None; else a checked prior name."""
    from warp_phys import priors

    if prior is None or prior == "none":
        return None
    if not isinstance(prior, str):
        raise ValueError(f"prior must be a name (str), 'auto' or None; got {type(prior).__name__}")
    if prior == "auto":
        return default if model == "warp" else None
    if prior not in priors.available():
        raise ValueError(f"unknown prior {prior!r}; choose one of {['auto', *priors.available()]} (or None)")
    return prior


def split_options(recipe: Any, options: dict[str, Any], model: str) -> tuple[Any, dict, dict]:
    """(recipe with its fields overridden, protocol overrides, model-constructor options).
    The recipe's own ``model_options`` are WARP settings and apply to model="warp" only."""
    names = set(type(recipe).field_names()) - {"model_options"}
    changes = {k: options.pop(k) for k in list(options) if k in names}
    protocol = {k: options.pop(k) for k in list(options) if k in PROTOCOL_OPTIONS}
    recipe = recipe.replace(**changes) if changes else recipe
    return recipe, protocol, {**(recipe.model_options if model == "warp" else {}), **options}


def _spec(model: str, recipe: Any, prior: str | None, prior_options: Mapping | None, seed: int,
          options: dict) -> ModelSpec:
    return ModelSpec(name=model, width=recipe.width, depth=recipe.depth, transition=recipe.transition,
                     output=recipe.output, prior=prior, prior_options=dict(prior_options or {}), seed=seed,
                     options=options)


def _check_model(spec: ModelSpec, n_features: int, system: Any) -> None:
    """Build the model once on dummy sizes: bad options fail before the expensive work."""
    from warp_phys.priors import BindContext
    from warp_phys.scaling import Scaler

    from .models import build_model

    build_model(spec, n_features, BindContext(n_variables=n_features, dt=1.0, duration=1.0,
                                              scaler=Scaler.identity(n_features), system=system))


def plan_system(system: Any, *, model: str, prior: Any = "auto", prior_options: Mapping | None = None,
                protocol: str | None = None, seed: int = 0, options: dict[str, Any] | None = None,
                ) -> tuple[Recipe, Any, ModelSpec]:
    """(recipe, `Protocol`, `ModelSpec`) of an ODE-system run, resolved and checked (the model
    is built once on dummy data) without simulating anything."""
    options = dict(options or {})
    if protocol is not None and not isinstance(protocol, str):
        raise ValueError(f"protocol must be a protocol name, got {protocol!r}")
    recipe = get_recipe(system, protocol)
    if protocol is not None:
        recipe = recipe.replace(protocol=protocol)
    recipe, overrides, model_opts = split_options(recipe, options, model)
    if recipe.parameters not in ("sampled", "fixed"):
        raise ValueError(f"parameters must be 'sampled' or 'fixed', got {recipe.parameters!r}")
    proto = resolve_protocol(system, recipe, overrides)
    spec = _spec(model, recipe, resolve_prior(prior, model, getattr(system, "recommended_prior", None)),
                 prior_options, seed, model_opts)
    _check_model(spec, len(system.variable_names), system)
    return recipe, proto, spec


def simulate_system(system: Any, recipe: Recipe, proto: Any, seed: int) -> Splits:
    """The splits of an ODE-system run planned by `plan_system` (simulated here)."""
    return system_splits(system, proto, sampled=recipe.parameters == "sampled", seed=seed,
                         n_train=proto.n_train, n_val=proto.resolved_n_val, n_test=proto.n_test,
                         t_span=tuple(proto.t_span), n_steps=int(proto.n_steps))


def system_job(system: Any, *, model: str, prior: Any, prior_options: Mapping | None, protocol: str | None,
               seed: int, options: dict[str, Any], splits: Splits | None = None, **common: Any) -> Job:
    """An ODE system simulated from its protocol (with the recipe's and the user's changes),
    or the precomputed ``splits`` of such a run (`simulate_system`), to compare models on one
    data set."""
    recipe, proto, spec = plan_system(system, model=model, prior=prior, prior_options=prior_options,
                                      protocol=protocol, seed=seed, options=options)
    if proto.task != "forecast":
        raise InputError(f"protocol {proto.name!r} of {system.name} is a {proto.task!r} task, not a forecast: "
                         f"{proto.description}. reconstruct() forecasts; build that task with "
                         f"warp_phys.systems.segment_repeat and train with Trainer.fit(..., y_train=, y_val=) "
                         f"(benchmarks/paper_table.py --datasets lv_segment does both)")
    encoder = StateEncoder(recipe.time_rescale, recipe.time_rescale_copies, system.time_rescaling,
                           seed=derive_seed(seed, 0, salt=(AUGMENT_SALT,)))
    if splits is None:
        splits = simulate_system(system, recipe, proto, seed)
    lyap = getattr(system, "lyapunov_exponent", None)
    return Job(splits=splits, encoder=encoder, spec=spec, context=int(proto.n_ctx),
               system=system, recipe=recipe, seed=seed,
               time_scale=1.0 / lyap if lyap else None,
               provenance={"title": f"warp_phys reconstruction of {system.name}", "system": system.name,
                           "protocol": json.dumps({"name": proto.name, "t_span": list(proto.t_span),
                                                   "n_steps": int(proto.n_steps), "n_ctx": int(proto.n_ctx),
                                                   "n_train": int(proto.n_train), "n_val": int(proto.resolved_n_val),
                                                   "n_test": int(proto.n_test)}),
                           "metrics_description": METRICS_DESCRIPTION}, **common)


def user_job(data: Any, time: Any, variables: Sequence[str] | None, *, model: str, prior: Any,
             prior_options: Mapping | None, seed: int, options: dict[str, Any], **common: Any) -> Job:
    """The user's trajectories, split by trajectory."""
    if isinstance(data, (list, tuple)):
        lengths = sorted({len(item) for item in data})
        if len(lengths) > 1:
            raise ValueError(f"the trajectories have different lengths {lengths}; WARP needs a common "
                             f"(trajectory, time, variable) array: trim them to {lengths[0]} steps or cut "
                             f"them into equal windows")
    n_steps = np.shape(data["state"])[1] if isinstance(data, xr.Dataset) and "state" in data else (
        np.shape(data)[1] if np.ndim(data) >= 2 else 2)
    recipe, overrides, model_opts = split_options(user_data_recipe(int(n_steps)), options, model)
    ignored = sorted(set(overrides) - {"context"})
    if ignored:
        raise ValueError(f"{ignored} describe simulated data and do nothing for your own data: drop them "
                         "(your data set the time grid and the number of trajectories)")
    spec = _spec(model, recipe, resolve_prior(prior, model, None), prior_options, seed, model_opts)
    encoder = StateEncoder(recipe.time_rescale, recipe.time_rescale_copies, None)  # no known symmetry: None only
    splits = user_splits(data, time, seed, variables)
    _check_model(spec, splits.train.sizes["variable"], None)
    return Job(splits=splits, encoder=encoder, spec=spec,
               context=overrides.get("context", recipe.data["n_ctx"]), recipe=recipe, seed=seed,
               provenance={"title": "warp_phys reconstruction of user data", "system": "user data",
                           "metrics_description": METRICS_DESCRIPTION}, **common)


def field_job(name_or_system: Any, *, model: str, prior: Any, prior_options: Mapping | None,
              system_options: Mapping | None, splits: Splits | None, horizon: int | None, seed: int,
              options: dict[str, Any], progress: bool, **common: Any) -> Job:
    """A field system: runs cut into windows, encoded on a reduced basis."""
    from warp_phys.fields.recipes import resolve_field_system

    system, recipe = resolve_field_system(name_or_system, system_options)
    if set(options) & {"n_train", "n_val", "n_test", "t_span", "n_steps"}:
        raise ValueError("n_train=, t_span= and the other protocol options apply to ODE systems; field systems "
                         "take FieldRecipe options instead (e.g. n_runs_train=, grid=, window=; see "
                         "warp_phys.fields.recipes)")
    if prior != "auto":
        options["prior"] = None if prior == "none" else prior
    if prior_options:
        options["prior_options"] = dict(prior_options)
    recipe, _, model_opts = split_options(recipe, options, model)
    if horizon is not None:
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
            raise ValueError(f"horizon must be a positive number of steps, got {horizon!r}")
        if splits is not None:
            raise ValueError("horizon= cannot change the windows of precomputed splits=; cut them with cut_windows")
        changes = {"window": int(recipe.context) + int(horizon)}
        if recipe.window is None:  # one window per run, from its start
            changes["stride"] = changes["test_stride"] = 1 << 30
        recipe = recipe.replace(**changes)
    if not isinstance(recipe.rank, int) or isinstance(recipe.rank, bool) or recipe.rank < 1:
        raise ValueError(f"rank must be a positive integer (number of basis modes), got {recipe.rank!r}")
    spec = _spec(model, recipe, resolve_prior(recipe.prior, model, None) if model == "warp" else None,
                 recipe.prior_options if model == "warp" else None, seed, model_opts)
    _check_model(spec, recipe.rank, system)
    if splits is None:
        T_run = int(round(recipe.run_duration / recipe.dt)) + 1
        T_win = min(recipe.window or T_run, T_run)
        if not 1 <= recipe.context < T_win:
            raise ValueError(f"context ({recipe.context} steps) must be in [1, {T_win - 1}] for windows "
                             f"of {T_win} steps; use a smaller context or a longer window/run")
        splits = field_splits(system, recipe, seed, progress=progress)
    scale = recipe.time_scale or getattr(system, "time_scale", None)
    kind = recipe.time_scale_kind or (getattr(system, "time_scale_kind", None) or "none")
    return Job(splits=splits, encoder=FieldEncoder(recipe.basis, recipe.rank, recipe.normalise, recipe.augment_shifts),
               spec=spec, context=int(recipe.context), system=system,
               recipe=recipe, seed=seed, time_scale=scale, progress=progress,
               provenance={"title": f"warp_phys field reconstruction of {system.name}", "system": system.name,
                           "time_scale": float(scale) if scale else float("nan"), "time_scale_kind": kind,
                           "metrics_description": FIELD_METRICS_DESCRIPTION}, **common)


__all__ = ["field_job", "plan_system", "resolve_prior", "simulate_system", "split_options", "system_job", "user_job"]
