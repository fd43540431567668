"""Baselines for WARP, all `SequenceModel`s in normalised units: ``gru``, ``lstm``,
``transformer`` (decoder-only, causal), ``node`` (neural ODE), ``persistence``.

    model = warp_phys.baselines.get("gru", n_variables=2, hidden=64, output="gaussian")

The classes load on first use (``node`` needs torchdiffeq). ``ode_fit`` (the system's own
equations fitted per trajectory, `warp_phys.baselines.ode_fit.ODEFit`) needs a bound
problem, so the workflow builds it directly rather than through `get`. Neither are the
classical forecasters in `get`'s registry: ``seasonal_naive`` and ``ar``
(`warp_phys.baselines.classical`) and ``ets`` (`warp_phys.baselines.ets`) are fitted in closed
form with validation windows (``model.fit(x_train, x_val, context)``), and are
``reconstruct(model=...)`` choices through `warp_phys.pipeline.models`.
"""
from __future__ import annotations

from typing import Any

from warp_phys.registry import Registry
from warp_phys.sequence import SequenceModel

#: name -> baseline class ("module:Class", imported on first use).
REGISTRY: Registry[type[SequenceModel]] = Registry("baseline")
REGISTRY.register("gru", "warp_phys.baselines.rnn:RNNBaseline")
REGISTRY.register("lstm", "warp_phys.baselines.rnn:RNNBaseline")
REGISTRY.register("transformer", "warp_phys.baselines.transformer:TransformerBaseline")
REGISTRY.register("node", "warp_phys.baselines.node:NeuralODE")
REGISTRY.register("persistence", "warp_phys.baselines.persistence:Persistence")

#: Constructor options a name fixes (``gru`` and ``lstm`` are one class with two cells).
FIXED_OPTIONS: dict[str, dict[str, Any]] = {"gru": {"cell": "gru"}, "lstm": {"cell": "lstm"}}


def available() -> list[str]:
    """Names accepted by `get`, sorted."""
    return REGISTRY.names()


def get(name: str, n_variables: int, **options: Any) -> SequenceModel:
    """Build baseline ``name`` for ``n_variables`` state variables; ``options`` go to its
    constructor (hidden, layers, output="mean"|"gaussian", std_floor, seed, ...).

    The options are checked against the constructor before it is built: an unknown name or
    option raises a ValueError naming it, the closest match and the valid ones.
    """
    canonical = REGISTRY.resolve(name)
    for key, value in FIXED_OPTIONS.get(canonical, {}).items():
        if options.setdefault(key, value) != value:
            raise ValueError(f"baseline {canonical!r} fixes {key}={value!r}; got {key}={options[key]!r}")
    return REGISTRY.create(canonical, n_variables, reserved=("n_variables",), **options)


__all__ = ["FIXED_OPTIONS", "REGISTRY", "available", "get"]
