"""Baselines for WARP, all `SequenceModel`s in normalised units: ``gru``, ``lstm``,
``transformer`` (decoder-only, causal), ``node`` (neural ODE), ``persistence``.

    model = warp_phys.baselines.get("gru", n_variables=2, hidden=64, output="gaussian")
"""
from __future__ import annotations

import importlib
from typing import Any

from warp_phys.sequence import SequenceModel

# name -> (module, class, fixed constructor options)
_REGISTRY: dict[str, tuple[str, str, dict[str, Any]]] = {
    "gru": ("rnn", "RNNBaseline", {"cell": "gru"}),
    "lstm": ("rnn", "RNNBaseline", {"cell": "lstm"}),
    "transformer": ("transformer", "TransformerBaseline", {}),
    "node": ("node", "NeuralODE", {}),
    "persistence": ("persistence", "Persistence", {}),
}


def available() -> list[str]:
    """Names accepted by `get`, sorted."""
    return sorted(_REGISTRY)


def get(name: str, n_variables: int, **options: Any) -> SequenceModel:
    """Build baseline ``name`` for ``n_variables`` state variables; ``options`` go to its
    constructor (hidden, layers, output="mean"|"gaussian", std_floor, seed, ...)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown baseline {name!r}; choose one of {available()}")
    module, cls, fixed = _REGISTRY[name]
    for key, value in fixed.items():
        if options.setdefault(key, value) != value:
            raise ValueError(f"baseline {name!r} fixes {key}={value!r}; got {key}={options[key]!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)(n_variables, **options)


__all__ = ["available", "get"]
