"""Default recipes of ``warp_phys.reconstruct``: how to train, and how to change the data.

A recipe never owns the data: an ODE system's time grid, parameter ranges, split sizes and
context belong to its `Protocol` (``system.protocol(name)``). A `Recipe` names the protocol
and lists the changes it makes to it (``data``: e.g. a shorter grid or fewer trajectories
for a CPU budget); `resolve_protocol` applies them, together with the user's own options,
in one place. Field systems use `warp_phys.fields.recipes.FieldRecipe`, which shares the
training settings of `TrainingRecipe`.

The recipes are sized for a 2-core CPU (the README gives measured run times).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

#: Options of ``reconstruct`` that change the protocol (``context`` is its ``n_ctx``).
PROTOCOL_OPTIONS = ("n_train", "n_val", "n_test", "t_span", "n_steps", "context")


class RecipeBase:
    """Shared by every recipe: checked copies and plain dicts."""

    def replace(self, **changes: Any):
        """A copy with ``changes`` applied (ValueError for unknown field names)."""
        valid = [f.name for f in fields(self)]
        unknown = sorted(set(changes) - set(valid))
        if unknown:
            raise ValueError(f"unknown recipe option(s) {unknown}; valid: {valid}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        """Names of the fields (the options ``reconstruct`` treats as recipe overrides)."""
        return [f.name for f in fields(cls)]


@dataclass(frozen=True)
class TrainingRecipe(RecipeBase):
    """How to build and train the model (`warp_phys.Trainer`).

    ``epochs``, ``batch_size``, ``lr``, ``p_force`` (teacher-forcing probability),
    ``batches_per_epoch`` (None: an epoch is one pass over the training set; k: k batches, so
    validation, selection and the schedules count units of k steps), ``val_horizon`` (None: the
    validation forecast is scored to the end; H: over its first H steps, e.g. about two
    Lyapunov times for a chaotic system),
    ``patience`` (early stopping, epochs; None: the Trainer's default), ``max_time`` (seconds,
    a wall-clock cap; None = none: a run cut by the clock depends on the machine's speed,
    breaking "same seed, same numbers"), ``forecast_weight`` (> 0 adds the MSE of the model's
    own forecast after the context over ``forecast_horizon`` steps, None = to the end; WARP
    only). Objectives for free-running forecasts (`warp_phys.Trainer` documents them; the
    defaults change nothing): ``p_force_schedule`` (None, "linear", "exponential",
    "inverse_sigmoid": teacher forcing falls from ``p_force`` to ``p_force_floor`` at epoch
    ``schedule_epochs``, None = the last), ``forecast_horizon_schedule`` ((start, growth): the
    forecast loss covers min(start + growth * epoch, full) steps), ``feedback_noise`` (std of the
    noise on fed-back predictions), ``feedback_passes`` / ``detach_feedback`` (parallel feedback
    passes instead of the sequential rollout; WARP only). WARP: ``width``/``depth`` of the root
    network and the ``transition``; ``output`` ("mean" or "gaussian": then the loss is the
    Gaussian NLL); ``model_options``: extra
    keyword arguments of the WARP constructor (not passed to baselines).
    ``context_scaling``: each window is rescaled by the mean and standard deviation of its own
    context before the model reads it, and its predictions are mapped back
    (`warp_phys.context_scaling.ContextScaled`; for records whose level or amplitude drifts).
    """

    epochs: int = 100
    batch_size: int = 64
    batches_per_epoch: int | None = None
    val_horizon: int | None = None
    lr: float = 1e-3
    p_force: float = 0.25
    patience: int | None = None
    max_time: float | None = None
    forecast_weight: float = 0.0
    forecast_horizon: int | None = None
    p_force_schedule: str | None = None
    p_force_floor: float = 0.0
    schedule_epochs: int | None = None
    forecast_horizon_schedule: tuple[int, int] | None = None
    feedback_noise: float = 0.0
    feedback_passes: int | None = None
    detach_feedback: bool = True
    width: int = 32
    depth: int = 2
    transition: str = "identity"
    output: str = "mean"
    model_options: dict[str, Any] = field(default_factory=dict)
    context_scaling: bool = False


@dataclass(frozen=True)
class Recipe(TrainingRecipe):
    """A reconstruction of an ODE system or of the user's data.

    ``protocol``: the system's data preset; ``data``: changes to it (`Protocol` field names:
    ``n_train``, ``n_val``, ``n_test``, ``t_span``, ``n_steps``, ``n_ctx``); ``parameters``:
    "sampled" (each trajectory draws its physical parameters from the protocol's train range,
    the out-of-distribution test set from its wider test range) or "fixed" (the system's
    current parameter values; only the initial conditions vary). ``time_rescale``: (low, high)
    in (0, 1]: add ``time_rescale_copies`` time-rescaled copies of each training trajectory
    (systems whose family is closed under t -> a t: `warp_phys.systems.symmetries`); None: off.
    ``observation_noise``: > 0 makes the simulated data noisy observations
    (`warp_phys.systems.observe`): Gaussian noise of that fraction of each variable's std (over
    the clean training split) on every step of the training and validation trajectories and on
    the context steps of the test trajectories; the scored future stays the true state, so the
    metrics measure how well the true motion is forecast from noisy measurements. 0: clean.
    """

    protocol: str = "default"
    parameters: str = "sampled"
    data: Mapping[str, Any] = field(default_factory=dict)
    time_rescale: tuple[float, float] | None = None
    time_rescale_copies: int = 1
    observation_noise: float = 0.0


def recipe_fields() -> list[str]:
    """Recipe field names and the protocol options: what ``reconstruct`` treats as settings
    rather than model-constructor options."""
    return [*Recipe.field_names(), *PROTOCOL_OPTIONS]


_CPU = dict(epochs=30, batch_size=32, lr=3e-3, p_force=1.0, width=32, depth=2)
#: 64 validation trajectories (not 16): the validation-chosen epoch and a band calibrated on validation
#: both rest on them (benchmarks/README.md, "The recipes' validation split").
_SIZES = dict(n_train=128, n_val=64, n_test=32)

# Canonical system name -> recipe. All train teacher-forced (p_force=1): with a grey-box
# prior the one-step loss already pins the physics down, and autoregressive training is
# much slower per step on a CPU (a sequential loop over time).
RECIPES: dict[str, Recipe] = {
    # Lorenz-63 at the classic parameters, initial conditions varied (test: wider ranges).
    # dt = 0.02, context 100 steps (2 time units), 300 forecast steps = 5.4 Lyapunov times.
    "lorenz63": Recipe(parameters="fixed", data=dict(_SIZES, t_span=(0.0, 8.0), n_steps=401, n_ctx=100),
                       **{**_CPU, "epochs": 40}),
    # Mass-spring-damper at the default parameters, initial conditions varied; t in [0, 1],
    # 256 steps (about 3 periods). The paper's protocol (parameters sampled per trajectory):
    # reconstruct("msd", protocol="paper", parameters="sampled").
    "mass_spring_damper": Recipe(parameters="fixed", data=dict(_SIZES, n_ctx=64), **_CPU),
    "lotka_volterra": Recipe(parameters="fixed", data=dict(_SIZES, n_ctx=64), **_CPU),
    # The paper's sine protocol: phase varies per trajectory, 16 steps, context 1.
    "sine": Recipe(protocol="paper", parameters="sampled", data=dict(n_train=100, n_val=20, n_test=64, n_ctx=1),
                   **{**_CPU, "epochs": 200, "batch_size": 20}),
    "pendulum": Recipe(parameters="fixed", data=dict(_SIZES, t_span=(0.0, 4.0), n_steps=401, n_ctx=100), **_CPU),
}


def generic_recipe(system: Any, protocol: str | None = None) -> Recipe:
    """A fallback recipe from the system's protocol: its grid (at most ~512 steps, by
    shortening t_span at the protocol's dt), the protocol's own context ``n_ctx`` when it fits
    in the grid (else a quarter of the steps, at least ~one time scale when the system has
    one), and a CPU-sized budget. Parameters are fixed for the "default" protocol and sampled
    for named (paper) protocols."""
    proto = system.protocol(protocol or "default")
    t0, t1 = (float(v) for v in proto.t_span)
    n_steps = int(proto.n_steps)
    dt = (t1 - t0) / (n_steps - 1)
    if n_steps > 512:
        n_steps = 512
        t1 = t0 + dt * (n_steps - 1)
    context = max(1, n_steps // 4)
    scale = getattr(system, "time_scale", None)
    if scale:
        context = min(max(context, int(round(scale / dt))), n_steps // 2)
    if 1 <= int(proto.n_ctx) < n_steps:
        context = int(proto.n_ctx)  # the protocol scores after its own context
    return Recipe(protocol=proto.name, parameters="fixed" if proto.name == "default" else "sampled",
                  data=dict(_SIZES, t_span=(t0, t1), n_steps=n_steps, n_ctx=context), **_CPU)


#: WARP's prior for the user's own data under ``prior="auto"``: increment decoding (x_t =
#: x_{t-1} + 0.1 raw; no physics), as the RNN baselines' residual heads. benchmarks/README.md
#: ("Real series") has the measurements behind it.
USER_DATA_PRIOR = "increment"
#: The subspace memory's settings of the user-data recipe (used when the transition is "subspace").
USER_DATA_MEMORY = {"rank": 8, "transition_options": {"input_scale": 10.0}}


def user_data_recipe(n_steps: int) -> Recipe:
    """Defaults for the user's own trajectories: context a quarter of the steps; the weights
    read the history through the ``subspace`` memory (`USER_DATA_MEMORY`), and the root network
    reads the previous observation (``prev_obs_input``) and emits the change of the state
    (`USER_DATA_PRIOR`)."""
    return Recipe(data={"n_ctx": max(1, n_steps // 4)}, epochs=100, batch_size=32, lr=3e-3, p_force=1.0,
                  width=32, depth=2, transition="subspace", model_options={"prev_obs_input": True, **USER_DATA_MEMORY})


def get_recipe(system: Any, protocol: str | None = None) -> Recipe:
    """The recipe for ``system`` (a System); the generic one when none is registered.
    A ``protocol`` other than the recipe's also falls back to the generic recipe."""
    recipe = RECIPES.get(system.name)
    if recipe is None or (protocol is not None and protocol != recipe.protocol):
        return generic_recipe(system, protocol)
    if recipe.protocol not in system.protocols:
        return generic_recipe(system, None)
    return recipe


def resolve_protocol(system: Any, recipe: Recipe, overrides: Mapping[str, Any]) -> Any:
    """The one `Protocol` of a run: the system's ``recipe.protocol`` with the recipe's
    ``data`` changes and then the user's ``overrides`` (``PROTOCOL_OPTIONS``) applied."""
    changes = {**recipe.data, **{("n_ctx" if k == "context" else k): v for k, v in overrides.items()}}
    return system.protocol(recipe.protocol).replace(**changes)


__all__ = ["PROTOCOL_OPTIONS", "RECIPES", "Recipe", "RecipeBase", "TrainingRecipe", "generic_recipe",
           "get_recipe", "recipe_fields", "resolve_protocol", "USER_DATA_MEMORY", "USER_DATA_PRIOR",
           "user_data_recipe"]
