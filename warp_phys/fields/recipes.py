"""Default recipes of field reconstructions (``warp_phys.reconstruct(system=<field system>)``).

Sized for a 2-core CPU. Every field can be overridden by a keyword of the same name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from warp_phys.recipes import TrainingRecipe


@dataclass(frozen=True)
class FieldRecipe(TrainingRecipe):
    """Defaults of one field reconstruction.

    System: ``system_options`` are applied when the system is named (``systems.get(name,
    **system_options)``); a System object is used as given. Parameters are the system's
    values for every run (``params=None``); runs differ by their random initial fields.
    Data: ``n_runs_*`` runs of ``run_duration`` (time units, after the system's spin-up),
    saved every ``dt``, on a ``grid``; cut into windows of ``window`` steps every ``stride``
    (train/val) or ``test_stride`` (test) steps (``window=None``: one window per run).
    ``context``: observed steps of each window before the forecast. ``augment_shifts``: copies
    of every training run/window shifted along x (exact for x-invariant flows; 1 = none).
    Reduction: ``basis`` ("pod" or "fourier") of ``rank`` modes; ``normalise``: "global" (one
    scale for all coefficients, so the loss is the field L2 error) or "per_mode".
    Training: as `warp_phys.recipes.TrainingRecipe`; WARP's root network also reads the
    previous coefficients (``model_options={"prev_obs_input": True}``). ``prior``/
    ``prior_options``: WARP's decoder on the coefficients (default "increment": x_t = x_{t-1}
    + gain * root output). ``time_scale`` (time units) and ``time_scale_kind`` give the flow's
    time scale for reporting lead times.
    """

    system_options: dict[str, Any] = field(default_factory=dict)
    grid: int = 32
    dt: float = 0.2
    run_duration: float = 200.0
    spinup: float | None = None
    n_runs_train: int = 8
    n_runs_val: int = 2
    n_runs_test: int = 2
    window: int | None = 64
    stride: int | None = 8
    test_stride: int | None = 32
    context: int = 16
    augment_shifts: int = 1
    basis: str = "pod"
    rank: int = 24
    normalise: str = "global"
    epochs: int = 60
    lr: float = 2e-3
    p_force: float = 1.0
    patience: int | None = 15
    width: int = 64
    prior: str | None = "increment"
    prior_options: dict[str, Any] = field(default_factory=dict)
    time_scale: float | None = None
    time_scale_kind: str | None = None
    model_options: dict[str, Any] = field(default_factory=lambda: {"prev_obs_input": True})


def field_recipe_fields() -> list[str]:
    return FieldRecipe.field_names()


FIELD_RECIPES: dict[str, FieldRecipe] = {
    # Kolmogorov flow resolvable on 32^2: forcing wavenumber 3, nu = 0.05, drag 0.1 (the
    # default nu = 0.02 at k_f = 4 needs a finer grid). Windows of 64 steps, 16 observed,
    # POD rank 32, 4 x-shifted copies of every training run (the flow is invariant under x
    # translations), teacher forcing. Why these settings: benchmarks/README.md.
    "navier_stokes_2d": FieldRecipe(
        system_options={"forcing": "kolmogorov", "k_f": 3, "nu": 0.05, "drag": 0.1},
        grid=32, dt=0.2, run_duration=200.0, n_runs_train=8, n_runs_val=2, n_runs_test=2,
        window=64, stride=16, test_stride=32, context=16, augment_shifts=4, basis="pod", rank=32, epochs=40,
        time_scale=1 / 0.061, time_scale_kind="Lyapunov time"),
    # Viscous Burgers from random initial fields (shocks form and decay): one window per run.
    "burgers_1d": FieldRecipe(
        grid=128, dt=0.05, run_duration=5.0, n_runs_train=128, n_runs_val=16, n_runs_test=32,
        window=None, stride=None, test_stride=None, context=20, basis="pod", rank=16),
}


def get_field_recipe(system: Any) -> FieldRecipe:
    """The recipe of ``system`` (by its canonical name), else a generic one."""
    return FIELD_RECIPES.get(getattr(system, "name", system), FieldRecipe())


def resolve_field_system(system: Any, system_options: Mapping[str, Any] | None = None) -> tuple[Any, FieldRecipe]:
    """(the field `System`, its recipe): a name is built with the recipe's ``system_options``
    (or the given ones); a System object is used as given. ValueError for an ODE system."""
    from warp_phys import systems

    if isinstance(system, str):
        recipe = get_field_recipe(systems.get(system))
        opts = recipe.system_options if system_options is None else system_options
        system = systems.get(system, **opts)
    else:
        recipe = get_field_recipe(system)
    if getattr(system, "kind", "ode") != "field":
        raise ValueError(f"{system.name} is not a field system (kind {getattr(system, 'kind', '?')!r}); "
                         "field recipes apply to field systems only")
    return system, recipe


__all__ = ["FIELD_RECIPES", "FieldRecipe", "field_recipe_fields", "get_field_recipe", "resolve_field_system"]
