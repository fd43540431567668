"""From the user's words to a `Job`: recipes, options, priors and the data source.

`system_job`, `field_job` and `user_job` resolve names and options for the three kinds of
input and check everything cheap *before* any simulation or training; the `Job` they return
is run by `warp_phys.pipeline.engine.run`.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr

from warp_phys.recipes import (PROTOCOL_OPTIONS, USER_DATA_MEMORY, USER_DATA_PRIOR, Recipe, get_recipe,
                              resolve_protocol, user_data_recipe)
from warp_phys.validation import InputError, check_context, check_int, check_memory, check_number, check_seed

from .encoders import FieldEncoder, StateEncoder
from .engine import Job, make_trainer
from .models import ModelSpec
from .sources import Splits, derive_seed, field_splits, series_splits, system_splits, user_splits

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

_TRANSFORMED = ("; in the record's units, the fitted trend and season added back and differences summed "
                "(series_transform); mse_transform: the transform alone (the model's residual forecast zero)")

#: Options that describe simulated data: they do nothing for the user's own data.
#: (``time_rescale`` is refused for user data by `StateEncoder`: they have no known symmetry.)
SIMULATION_ONLY = tuple(sorted({*PROTOCOL_OPTIONS, "protocol", "parameters", "data", "observation_noise"}
                              - {"context"}))


def resolve_prior(prior: Any, model: str, default: str | None) -> str | None:
    """``"auto"`` -> ``default`` (WARP only); "none"/None -> None; else a checked prior name."""
    from warp_phys import priors

    if prior is None or prior == "none":
        return None
    if not isinstance(prior, str):
        raise InputError(f"prior must be a name (str), 'auto' or None; got {prior!r} ({type(prior).__name__})")
    if prior == "auto":
        return default if model == "warp" else None
    if prior not in priors.available():
        raise InputError(f"unknown prior {prior!r}; choose one of {['auto', *priors.available()]} (or None)")
    return prior


def check_horizon(horizon: Any, context: int, n_steps: int) -> int | None:
    """``horizon`` (scored steps after the context) checked against the grid: None or
    1 <= horizon <= n_steps - context."""
    if horizon is None:
        return None
    horizon = check_int(horizon, "horizon", minimum=1)
    if context + horizon > n_steps:
        raise InputError(f"horizon ({horizon} steps) after a context of {context} steps needs {context + horizon} "
                         f"steps, but the trajectories have {n_steps}; use horizon <= {n_steps - context} or "
                         "horizon=None (to the end)")
    return horizon


def check_training(recipe: Any, output: str, context: int) -> None:
    """The training settings, checked by building the run's `Trainer` once (`engine.make_trainer`;
    nothing is trained): a bad setting fails here, before any simulation."""
    import torch

    check_number(recipe.lr, "lr", positive=True)  # stricter than the Trainer's (lr=0 only measures the loss)
    if not isinstance(recipe.context_scaling, (bool, np.bool_)):
        raise InputError(f"context_scaling must be True or False, got {recipe.context_scaling!r}")
    if recipe.context_scaling and context < 2:
        raise InputError(f"context_scaling rescales each window by its context's standard deviation, which needs "
                         f"at least 2 context steps; the context is {context}")
    try:
        make_trainer(recipe, context=context, output=output, seed=0, device=torch.device("cpu"), progress=False)
    except TypeError as err:  # a setting of the wrong type that the Trainer compared or converted
        raise InputError(f"a training setting has the wrong type ({err}); check epochs, batch_size, lr, "
                         "p_force and the schedule options (numbers, not strings)") from None


def _check_prior_options(prior: str | None, prior_options: Mapping | None) -> None:
    """prior_options without a prior would be dropped silently: refuse them."""
    if prior_options is not None and not isinstance(prior_options, Mapping):
        raise InputError(f"prior_options must be a dict of the prior's keyword arguments, got {prior_options!r}")
    if prior_options and prior is None:
        raise InputError(f"prior_options={dict(prior_options)!r} were given but the run has no prior (none by "
                         "default for your own data and for baselines); pass prior=<name> with model='warp', "
                         "or drop prior_options")


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


def _check_model(spec: ModelSpec, n_features: int, system: Any) -> Any:
    """Build the model once on dummy sizes: bad options fail before the expensive work; returns it."""
    from warp_phys.priors import BindContext
    from warp_phys.scaling import Scaler

    from .models import build_model

    return build_model(spec, n_features, BindContext(n_variables=n_features, dt=1.0, duration=1.0,
                                                     scaler=Scaler.identity(n_features), system=system))


def plan_system(system: Any, *, model: str, prior: Any = "auto", prior_options: Mapping | None = None,
                protocol: str | None = None, seed: int = 0, options: dict[str, Any] | None = None,
                ) -> tuple[Recipe, Any, ModelSpec]:
    """(recipe, `Protocol`, `ModelSpec`) of an ODE-system run, resolved and checked (the model
    is built once on dummy data) without simulating anything."""
    options = dict(options or {})
    seed = check_seed(seed)
    if protocol is not None and not isinstance(protocol, str):
        raise InputError(f"protocol must be a protocol name (str), got {protocol!r}; see system.protocols")
    recipe = get_recipe(system, protocol)
    if protocol is not None:
        recipe = recipe.replace(protocol=protocol)
    recipe, overrides, model_opts = split_options(recipe, options, model)
    if recipe.parameters not in ("sampled", "fixed"):
        raise InputError(f"parameters must be 'sampled' or 'fixed', got {recipe.parameters!r}")
    recipe = recipe.replace(observation_noise=check_number(recipe.observation_noise, "observation_noise",
                                                           minimum=0.0))
    proto = resolve_protocol(system, recipe, overrides)
    d = len(system.variable_names)
    n_traj = int(proto.n_train) + int(proto.resolved_n_val) + 2 * int(proto.n_test)
    check_memory(n_traj * int(proto.n_steps) * d,
                 f"the data of {system.name} (n_train={proto.n_train}, n_val={proto.resolved_n_val}, "
                 f"n_test={proto.n_test} (x2), n_steps={proto.n_steps}, {d} variables)",
                 "use smaller n_train / n_test / n_steps")
    prior_name = resolve_prior(prior, model, getattr(system, "recommended_prior", None))
    _check_prior_options(prior_name, prior_options)
    spec = _spec(model, recipe, prior_name, prior_options, seed, model_opts)
    _check_model(spec, d, system)
    check_training(recipe, spec.output, int(proto.n_ctx))
    return recipe, proto, spec


def data_seed_of(seed: int, common: Mapping[str, Any]) -> int:
    """The seed that draws the data or their split: ``data_seed`` where given, else ``seed``."""
    given = common.get("data_seed")
    return seed if given is None else given


def simulate_system(system: Any, recipe: Recipe, proto: Any, seed: int) -> Splits:
    """The splits of an ODE-system run planned by `plan_system` (simulated here)."""
    return system_splits(system, proto, sampled=recipe.parameters == "sampled", seed=seed,
                         n_train=proto.n_train, n_val=proto.resolved_n_val, n_test=proto.n_test,
                         t_span=tuple(proto.t_span), n_steps=int(proto.n_steps),
                         observation_noise=recipe.observation_noise, n_ctx=int(proto.n_ctx))


def system_job(system: Any, *, model: str, prior: Any, prior_options: Mapping | None, protocol: str | None,
               seed: int, options: dict[str, Any], splits: Splits | None = None, horizon: int | None = None,
               **common: Any) -> Job:
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
    if splits is not None and not isinstance(splits, Splits):
        raise InputError(f"splits must be a warp_phys.pipeline.Splits (from simulate_system), got "
                         f"{type(splits).__name__}")
    n_steps = int(splits.train.sizes["time"]) if splits is not None else int(proto.n_steps)
    horizon = check_horizon(horizon, int(proto.n_ctx), n_steps)
    encoder = StateEncoder(recipe.time_rescale, recipe.time_rescale_copies, system.time_rescaling,
                           seed=derive_seed(seed, 0, salt=(AUGMENT_SALT,)))
    if splits is None:
        splits = simulate_system(system, recipe, proto, data_seed_of(seed, common))
    lyap = getattr(system, "lyapunov_exponent", None)
    return Job(splits=splits, encoder=encoder, spec=spec, context=int(proto.n_ctx), horizon=horizon,
               system=system, recipe=recipe, seed=seed,
               time_scale=1.0 / lyap if lyap else None,
               provenance={"title": f"warp_phys reconstruction of {system.name}", "system": system.name,
                           "protocol": json.dumps({"name": proto.name, "t_span": list(proto.t_span),
                                                   "n_steps": int(proto.n_steps), "n_ctx": int(proto.n_ctx),
                                                   "n_train": int(proto.n_train), "n_val": int(proto.resolved_n_val),
                                                   "n_test": int(proto.n_test)}),
                           "metrics_description": METRICS_DESCRIPTION}, **common)


def _refuse_simulation_options(options: Mapping[str, Any]) -> None:
    ignored = sorted(k for k in options if k in SIMULATION_ONLY)
    if ignored:
        raise InputError(f"{ignored} describe simulated data and do nothing for your own data: drop them "
                         "(your data set the time grid and the number of trajectories)")


def _user_model(n_steps: int, model: str, prior: Any, prior_options: Mapping | None, seed: int,
                options: dict[str, Any]) -> tuple[Recipe, dict, ModelSpec]:
    """(recipe, protocol-like overrides, `ModelSpec`) of a run on the user's data of ``n_steps``
    steps per trajectory (`user_data_recipe` with the user's options)."""
    user_set = set(options)
    recipe, overrides, model_opts = split_options(user_data_recipe(n_steps), options, model)
    if recipe.transition != "subspace":  # the memory's defaults do not apply to another transition
        model_opts = {k: v for k, v in model_opts.items() if k in user_set or k not in USER_DATA_MEMORY}
    prior_name = resolve_prior(prior, model, USER_DATA_PRIOR)
    _check_prior_options(prior_name, prior_options)
    return recipe, overrides, _spec(model, recipe, prior_name, prior_options, seed, model_opts)


def user_job(data: Any, time: Any, variables: Sequence[str] | None, *, model: str, prior: Any,
             prior_options: Mapping | None, seed: int, options: dict[str, Any], horizon: int | None = None,
             **common: Any) -> Job:
    """The user's trajectories, split by trajectory. Everything is checked (the data, the
    options, the model built once) before any training."""
    from warp_phys.data import as_dataset

    seed = check_seed(seed)
    if isinstance(data, (list, tuple)):
        lengths = sorted({len(item) for item in data if hasattr(item, "__len__")})
        if len(lengths) > 1:
            raise InputError(f"the trajectories have different lengths {lengths}; WARP needs a common "
                             f"(trajectory, time, variable) array: trim them to {lengths[0]} steps or cut "
                             f"them into equal windows")
    _refuse_simulation_options(options)
    ds = as_dataset(data, time, variable_names=variables)
    n_steps = int(ds.sizes["time"])
    recipe, overrides, spec = _user_model(n_steps, model, prior, prior_options, seed, options)
    context = overrides.get("context", recipe.data["n_ctx"])
    context = check_context(context, n_steps)
    horizon = check_horizon(horizon, context, n_steps)
    encoder = StateEncoder(recipe.time_rescale, recipe.time_rescale_copies, None)  # no known symmetry: None only
    _check_model(spec, int(ds.sizes["variable"]), None)
    check_training(recipe, spec.output, context)
    splits = user_splits(ds, None, data_seed_of(seed, common))
    return Job(splits=splits, encoder=encoder, spec=spec, context=context, horizon=horizon, recipe=recipe, seed=seed,
               provenance={"title": "warp_phys reconstruction of user data", "system": "user data",
                           "metrics_description": METRICS_DESCRIPTION}, **common)


def series_job(data: Any, time: Any, variables: Sequence[str] | None, *, window: int, stride: int | None = None,
               gap: int | None = None, split: Sequence[float] | None = None, split_by: str | None = None,
               fill: str | None = None, model: str,
               prior: Any, prior_options: Mapping | None, seed: int, options: dict[str, Any],
               horizon: int | None = None, detrend: Any = None, deseason: Any = None, difference: Any = False,
               phases: Any = None, covariates: Any = None, future_covariates: Any = None, **common: Any) -> Job:
    """One long series (time,) or (time, variable) cut into windows of ``window`` steps (every
    ``stride``) and split in time order (``split`` fractions, ``gap`` unused steps between
    blocks, ``split_by`` what puts a window in the val/test block; `warp_phys.pipeline.series`).
    The windows are the trajectories of the run.
    ``detrend``/``deseason``/``difference``: the model sees the record minus a trend and a
    season fitted on the training block (and/or its first differences;
    `warp_phys.pipeline.series_transforms`); ``extra`` keeps the original record and the transform.
    ``phases``/``covariates``/``future_covariates``: known input channels read by the model and
    never predicted (`warp_phys.pipeline.known_channels`; not transformed).
    Everything is checked before any window is cut or trained on."""
    from .known_channels import KnownStateEncoder, check_known_inputs
    from .series import describe, plan_windows, read_series
    from .series_transforms import check_transform_options, transform_record

    seed = check_seed(seed)
    _refuse_simulation_options(options)
    transform_opts = check_transform_options(detrend, deseason, difference)
    options = dict(options)
    context = options.pop("context", None)
    record = read_series(data, time, variables, fill)
    known = check_known_inputs(phases, covariates, future_covariates, record.time)
    plan = plan_windows(record.n_steps - transform_opts.offset, len(record.names), window=window, context=context,
                        horizon=horizon, stride=stride, gap=gap, split=split, split_by=split_by)
    original, transform = record, None
    if transform_opts.active:
        record, transform = transform_record(record, plan, transform_opts)
    recipe, _, spec = _user_model(plan.window, model, prior, prior_options, seed, options)
    recipe = recipe.replace(data={"n_ctx": plan.context})  # the provenance names the context actually used
    encoder = StateEncoder(recipe.time_rescale, recipe.time_rescale_copies, None)  # no known symmetry: None only
    n_known = 0 if known is None else len(known.names)
    net = _check_model(spec, len(record.names) + n_known, None)
    if known is not None:
        _check_known_model(net, n_known, model)
        known = dataclasses.replace(known, offset=transform_opts.offset)
        record = dataclasses.replace(record, known=known)
        encoder = KnownStateEncoder(known)
    check_training(recipe, spec.output, plan.context)
    splits = series_splits(record, plan)
    extra = {} if transform is None else {"series_transform": transform.to_json()}
    if known is not None:
        extra["known_inputs"] = known.to_json()
    if transform is not None:
        splits.extra.update(original=original, transform=transform)
    return Job(splits=splits, encoder=encoder, spec=spec, context=plan.context,
               horizon=plan.horizon, recipe=recipe, seed=seed,
               provenance={"title": "warp_phys reconstruction of a measured series", "system": "user series",
                           "series": describe(original, plan, fill), **extra,
                           "metrics_description": METRICS_DESCRIPTION + "; over the test windows (the last block "
                                                  "of the record, chronological split)" + _TRANSFORMED * (transform is not None)},
               **common)


def _check_known_model(net: Any, n_known: int, model: str) -> None:
    """InputError unless ``model`` can read known input channels (`warp_phys.known_inputs.KnownInputs`)."""
    from warp_phys.known_inputs import KnownInputs

    try:
        KnownInputs(net, n_known)
    except ValueError as err:
        raise InputError(f"phases=/covariates= are read step by step by a model with a rollout (warp, gru, lstm, "
                         f"transformer, node); model={model!r} cannot: {err}") from None


def field_job(name_or_system: Any, *, model: str, prior: Any, prior_options: Mapping | None,
              system_options: Mapping | None, splits: Splits | None, horizon: int | None, seed: int,
              options: dict[str, Any], progress: bool, **common: Any) -> Job:
    """A field system: runs cut into windows, encoded on a reduced basis."""
    from warp_phys.fields.recipes import resolve_field_system

    seed = check_seed(seed)
    if system_options is not None and not isinstance(system_options, Mapping):
        raise InputError(f"system_options must be a dict of the system's options, got {system_options!r}")
    system, recipe = resolve_field_system(name_or_system, system_options)
    if "observation_noise" in options:
        raise InputError("observation_noise applies to ODE systems (state(trajectory, time, variable)); field "
                         "systems have no observation-noise option yet: drop it")
    protocol_like = sorted(set(options) & {"n_train", "n_val", "n_test", "t_span", "n_steps"})
    if protocol_like:
        raise InputError(f"{protocol_like}: n_train=, t_span= and the other protocol options apply to ODE systems; "
                         "field systems take FieldRecipe options instead (e.g. n_runs_train=, grid=, window=; see "
                         "warp_phys.fields.recipes)")
    if prior != "auto":
        options["prior"] = None if prior == "none" else prior
    if prior_options:
        options["prior_options"] = dict(prior_options)
    recipe, _, model_opts = split_options(recipe, options, model)
    if horizon is not None:
        horizon = check_int(horizon, "horizon", minimum=1)
        if splits is not None:
            raise InputError("horizon= cannot change the windows of precomputed splits=; cut them with cut_windows")
        changes = {"window": int(recipe.context) + int(horizon)}
        if recipe.window is None:  # one window per run, from its start
            changes["stride"] = changes["test_stride"] = 1 << 30
        recipe = recipe.replace(**changes)
    if not isinstance(recipe.rank, int) or isinstance(recipe.rank, bool) or recipe.rank < 1:
        raise InputError(f"rank must be a positive integer (number of basis modes), got {recipe.rank!r}")
    prior_name = resolve_prior(recipe.prior, model, None) if model == "warp" else None
    if model == "warp":
        _check_prior_options(prior_name, recipe.prior_options)
    spec = _spec(model, recipe, prior_name, recipe.prior_options if model == "warp" else None, seed, model_opts)
    _check_model(spec, recipe.rank, system)
    check_training(recipe, spec.output, int(recipe.context))
    if splits is None:
        grid = check_int(recipe.grid, "grid", minimum=2)
        runs = [check_int(getattr(recipe, f"n_runs_{k}"), f"n_runs_{k}", minimum=1) for k in ("train", "val", "test")]
        dt, duration = check_number(recipe.dt, "dt", positive=True), check_number(recipe.run_duration, "run_duration",
                                                                                 positive=True)
        T_run = int(round(duration / dt)) + 1
        shifts = check_int(recipe.augment_shifts, "augment_shifts", minimum=1)
        check_memory(sum(runs) * T_run * grid ** len(getattr(system, "dims", ("x",))) * shifts,
                     f"the runs of {system.name} (n_runs_train/val/test={runs}, {T_run} steps of dt={dt:g}, "
                     f"grid={grid}, augment_shifts={shifts})", "use a smaller grid, fewer runs or a shorter run_duration")
        T_win = min(recipe.window or T_run, T_run)
        if not 1 <= recipe.context < T_win:
            raise InputError(f"context ({recipe.context} steps) must be in [1, {T_win - 1}] for windows "
                             f"of {T_win} steps; use a smaller context or a longer window/run")
        splits = field_splits(system, recipe, data_seed_of(seed, common), progress=progress)
    scale = recipe.time_scale or getattr(system, "time_scale", None)
    kind = recipe.time_scale_kind or (getattr(system, "time_scale_kind", None) or "none")
    return Job(splits=splits, encoder=FieldEncoder(recipe.basis, recipe.rank, recipe.normalise, recipe.augment_shifts),
               spec=spec, context=int(recipe.context), system=system,
               recipe=recipe, seed=seed, time_scale=scale, progress=progress,
               provenance={"title": f"warp_phys field reconstruction of {system.name}", "system": system.name,
                           "time_scale": float(scale) if scale else float("nan"), "time_scale_kind": kind,
                           "metrics_description": FIELD_METRICS_DESCRIPTION}, **common)


__all__ = ["field_job", "plan_system", "resolve_prior", "series_job", "simulate_system", "split_options", "system_job",
           "user_job"]
