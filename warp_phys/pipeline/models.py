"""The model factory of the pipeline: a name -> a `SequenceModel` on r input features.

One registry for every model the pipeline can train: ``"warp"``, the baselines
(`warp_phys.baselines`), ``"dmd"`` (closed-form linear fit), ``"ode_fit"`` (the
system's own equations with parameters fitted per trajectory: the classical reference,
ODE systems only) and the classical forecasters ``"seasonal_naive"``, ``"ar"`` and ``"ets"``
(`warp_phys.baselines.classical`, `warp_phys.baselines.ets`: fitted in closed form on the
training windows, order / period chosen on the validation windows). Options are checked
against the constructor before anything is built.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from warp_phys.registry import Registry, check_options


@dataclass(frozen=True)
class ModelSpec:
    """What the factory needs besides the data: the model's ``name``, WARP's root network
    (``width``, ``depth``, ``transition``), the ``output`` head ("mean" or "gaussian"), a
    physics ``prior`` (name or None) with its ``prior_options``, the ``seed`` and the extra
    constructor ``options``."""

    name: str
    width: int = 32
    depth: int = 2
    transition: str = "identity"
    output: str = "mean"
    prior: str | None = None
    prior_options: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)


def _warp(spec: ModelSpec, n: int, bind_context: Any) -> Any:
    from warp_phys import priors
    from warp_phys.model import WARP

    check_options(WARP, spec.options, "model 'warp'",
                  reserved=("n_variables", "width", "depth", "transition", "output", "prior", "bind_context", "seed"))
    prior = priors.get(spec.prior, **spec.prior_options) if spec.prior else None
    return WARP(n, width=spec.width, depth=spec.depth, transition=spec.transition, output=spec.output,
                prior=prior, bind_context=bind_context, seed=spec.seed, **spec.options)


def _ode_fit(spec: ModelSpec, n: int, bind_context: Any) -> Any:
    from warp_phys.baselines.ode_fit import ODEFit

    system = bind_context.system
    if system is None or getattr(system, "kind", "ode") != "ode":
        raise ValueError("model='ode_fit' fits the system's own equations, so it needs system=<an ODE system>; "
                         "these data have none attached")
    check_options(ODEFit, spec.options, "model 'ode_fit'", reserved=("n_variables", "bind_context", "output", "seed"))
    return ODEFit(n, bind_context=bind_context, output=spec.output, seed=spec.seed, **spec.options)


def _dmd(spec: ModelSpec, n: int, bind_context: Any) -> Any:
    from warp_phys.fields.dmd import DMD

    check_options(DMD, spec.options, "model 'dmd'", reserved=("n_variables",))
    return DMD(n, **spec.options)


#: The classical forecasters: name -> "module:Class" (closed form; no gradient training).
CLASSICAL: dict[str, str] = {"seasonal_naive": "warp_phys.baselines.classical:SeasonalNaive",
                             "ar": "warp_phys.baselines.classical:AR",
                             "ets": "warp_phys.baselines.ets:ETS"}


def _classical(name: str):
    def build(spec: ModelSpec, n: int, bind_context: Any) -> Any:
        import importlib

        module, cls_name = CLASSICAL[name].split(":")
        cls = getattr(importlib.import_module(module), cls_name)
        check_options(cls, spec.options, f"model {name!r}", reserved=("n_variables", "output", "seed"))
        return cls(n, output=spec.output, seed=spec.seed, **spec.options)
    return build


def _baseline(name: str):
    def build(spec: ModelSpec, n: int, bind_context: Any) -> Any:
        from warp_phys import baselines

        return baselines.get(name, n, output=spec.output, seed=spec.seed, **spec.options)
    return build


MODELS: Registry = Registry("model")
MODELS.register("warp", _warp)
for _name in ("gru", "lstm", "transformer", "node", "persistence"):
    MODELS.register(_name, _baseline(_name))
MODELS.register("dmd", _dmd)
MODELS.register("ode_fit", _ode_fit)
for _name in CLASSICAL:
    MODELS.register(_name, _classical(_name))


def available_models() -> list[str]:
    """Names accepted by ``reconstruct(model=...)``."""
    return ["warp", "gru", "lstm", "transformer", "node", "persistence", "dmd", "ode_fit", *CLASSICAL]


def build_model(spec: ModelSpec, n_features: int, bind_context: Any) -> Any:
    """The `SequenceModel` ``spec.name`` on ``n_features`` normalised inputs; ``bind_context``
    (`warp_phys.priors.BindContext`) tells priors the time step, the scaler and the system."""
    if spec.prior and spec.name != "warp":
        raise ValueError(f"prior={spec.prior!r} applies to model='warp' only (physics priors shape WARP's root "
                         f"network); model={spec.name!r} takes prior=None or 'auto'")
    if spec.prior_options and spec.name != "warp":
        raise ValueError("prior_options apply to model='warp' only")
    return MODELS.get(spec.name)(spec, n_features, bind_context)


__all__ = ["CLASSICAL", "MODELS", "ModelSpec", "available_models", "build_model"]
