"""Per-system default recipes for ``warp_phys.reconstruct``: data sizes, time grid,
context, and the training budget.

The recipes are sized for a 2-core CPU: ``reconstruct(system="lorenz")`` trains in
about two minutes there and forecasts the out-of-distribution test set for more than
one Lyapunov time (see the measurements quoted beside each recipe). Every field can be
overridden through ``reconstruct(..., **options)``; unknown systems fall back to
:func:`generic_recipe`, derived from the system's protocol and time scale.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any


class RecipeBase:
    """Shared by `Recipe` and the field recipes: checked copies and plain dicts."""

    def replace(self, **changes: Any):
        """A copy with ``changes`` applied (ValueError for unknown field names)."""
        valid = [f.name for f in fields(self)]
        unknown = sorted(set(changes) - set(valid))
        if unknown:
            raise ValueError(f"unknown recipe option(s) {unknown}; valid: {valid}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Recipe(RecipeBase):
    """Defaults of one reconstruction.

    Data: ``n_train``/``n_val``/``n_test`` trajectories; ``t_span`` (system time units) and
    ``n_steps`` of the grid (None: the protocol's); ``protocol`` the system's preset;
    ``parameters``: "sampled" (each trajectory draws its physical parameters from the
    protocol's train range, the out-of-distribution test set from its wider test range)
    or "fixed" (every trajectory uses the system's current parameter values; only the
    initial conditions vary, the out-of-distribution test set drawing them from the
    wider test range); ``context`` observed steps before the forecast.
    Training (`warp_phys.Trainer`): ``epochs``, ``batch_size``, ``lr``, ``p_force``
    (teacher-forcing probability), ``patience`` (early stopping, epochs), ``max_time``
    (seconds, a wall-clock cap; None = none: recipes leave it off because a run cut by
    the clock depends on the machine's speed, breaking "same seed, same numbers");
    ``forecast_weight`` (> 0 adds the MSE of the model's own forecast after the context over
    ``forecast_horizon`` steps, None = to the end, to the loss: `warp_phys.Trainer`; WARP only).
    WARP model: ``width``/``depth`` of the root network, ``transition``, ``output``
    ("mean" or "gaussian": then the loss is the Gaussian NLL); ``model_options`` are
    extra keyword arguments for the model constructor.
    """

    n_train: int = 256
    n_val: int = 32
    n_test: int = 32
    t_span: tuple[float, float] | None = None
    n_steps: int | None = None
    protocol: str = "default"
    parameters: str = "sampled"
    context: int | None = None
    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    p_force: float = 0.25
    patience: int | None = None
    max_time: float | None = None
    forecast_weight: float = 0.0
    forecast_horizon: int | None = None
    width: int = 32
    depth: int = 2
    transition: str = "identity"
    output: str = "mean"
    model_options: dict[str, Any] = field(default_factory=dict)



def recipe_fields() -> list[str]:
    """Names of the Recipe fields (the options ``reconstruct`` treats as recipe overrides)."""
    return [f.name for f in fields(Recipe)]


# Canonical system name -> recipe. All use teacher-forced training (p_force=1): with a
# grey-box prior the one-step loss already pins the physics down, and autoregressive
# training (p_force<1) costs ~40x more per step on CPU (a sequential loop over T).
# Timings: the full reconstruct() call (simulation + training + forecast) on the
# project's shared 2-core CPU, `warp-phys reconstruct NAME -o x.nc`.
RECIPES: dict[str, Recipe] = {
    # Lorenz-63 at the classic parameters, initial conditions varied (test: wider ranges).
    # dt = 0.02, context 100 steps (2 time units), 300 forecast steps = 5.4 Lyapunov times.
    # Measured: see the README / issue report (about two minutes, median VPT > 3 Lyapunov times).
    "lorenz63": Recipe(n_train=128, n_val=16, n_test=32, t_span=(0.0, 8.0), n_steps=401,
                       parameters="fixed", context=100, epochs=40, batch_size=32, lr=3e-3,
                       p_force=1.0, width=32, depth=2),
    # Mass-spring-damper at the default parameters, initial conditions varied; t in [0, 1],
    # 256 steps (about 3 periods). The paper's protocol (parameters sampled per trajectory):
    # reconstruct("msd", protocol="paper", parameters="sampled").
    "mass_spring_damper": Recipe(n_train=128, n_val=16, n_test=32, parameters="fixed", context=64,
                                 epochs=30, batch_size=32, lr=3e-3, p_force=1.0, width=32, depth=2),
    "lotka_volterra": Recipe(n_train=128, n_val=16, n_test=32, parameters="fixed", context=64,
                             epochs=30, batch_size=32, lr=3e-3, p_force=1.0, width=32, depth=2),
    # The paper's sine protocol: phase varies per trajectory, 16 steps, context 1.
    "sine": Recipe(n_train=100, n_val=20, n_test=64, protocol="paper", parameters="sampled", context=1,
                   epochs=200, batch_size=20, lr=3e-3, p_force=1.0, width=32, depth=2),
    "pendulum": Recipe(n_train=128, n_val=16, n_test=32, t_span=(0.0, 4.0), n_steps=401,
                       parameters="fixed", context=100, epochs=30, batch_size=32, lr=3e-3,
                       p_force=1.0, width=32, depth=2),
}


def generic_recipe(system: Any, protocol: str | None = None) -> Recipe:
    """A fallback recipe from the system's protocol: its grid (at most ~512 steps, by
    shortening t_span at the protocol's dt), the protocol's own context ``n_ctx`` when it
    fits in the grid (else a quarter of the steps, at least ~one time scale when the system
    has one), and a CPU-sized budget. Parameters are
    fixed for the "default" protocol and sampled for named (paper) protocols."""
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
        context = int(proto.n_ctx)  # the protocol scores after its own context (DESIGN.md §5)
    return Recipe(n_train=128, n_val=16, n_test=32, t_span=(t0, t1), n_steps=n_steps,
                  protocol=proto.name, parameters="fixed" if proto.name == "default" else "sampled",
                  context=context, epochs=30, batch_size=32, lr=3e-3, p_force=1.0, width=32, depth=2)


def user_data_recipe(n_steps: int) -> Recipe:
    """Defaults for the user's own trajectories: context a quarter of the steps. The root
    network reads the previous observation (``prev_obs_input``): measured in tutorial 05,
    forecast MSE 0.090 with it against 1.18 without (predict-zero 2.13)."""
    return Recipe(context=max(1, n_steps // 4), epochs=100, batch_size=32, lr=3e-3, p_force=1.0,
                  width=32, depth=2, model_options={"prev_obs_input": True})


def get_recipe(system: Any, protocol: str | None = None) -> Recipe:
    """The recipe for ``system`` (a System); the generic one when none is registered.
    A ``protocol`` other than the recipe's also falls back to the generic recipe."""
    recipe = RECIPES.get(system.name)
    if recipe is None or (protocol is not None and protocol != recipe.protocol):
        return generic_recipe(system, protocol)
    if recipe.protocol not in system.protocols:
        return generic_recipe(system, None)
    return recipe
