"""Physics priors: constrained structures for the WARP root network (installed as warp_phys.priors).

``available()`` lists the prior names; ``get(name, **options)`` builds an unbound prior, which a
model binds once with a `BindContext`. ``prior.options`` holds the JSON-able options, so
``get(prior.name, **prior.options)`` rebuilds it (e.g. from a checkpoint).
"""
from __future__ import annotations

import inspect

from .analytic import DampedOscillator, Sinusoid
from .base import BindContext, Identity, Prior, roll_out
from .constraints import Bounded, Positive
from .grey_box import GreyBox, parameter_bounds, parameter_vector
from .hybrid import Hybrid
from .increment import Increment
from .integrators import rk4_step
from .residual import Residual, time_derivative

_REGISTRY: dict[str, type[Prior]] = {
    cls.name: cls for cls in (Identity, DampedOscillator, Sinusoid, GreyBox, Positive, Bounded, Residual, Hybrid, Increment)
}


def available() -> list[str]:
    """Names accepted by ``get``, sorted."""
    return sorted(_REGISTRY)


def describe() -> dict[str, str]:
    """{name: one-line description} of every prior."""
    return {n: _REGISTRY[n].description for n in available()}


def _option_names(cls: type[Prior]) -> list[str]:
    names = []
    for c in cls.__mro__:  # a subclass forwarding **kwargs accepts its parents' options too
        if not (isinstance(c, type) and issubclass(c, Prior)):
            continue
        params = inspect.signature(c.__init__).parameters.values()
        names += [p.name for p in params
                  if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return sorted(set(names))


def get(name: str | None, **options) -> Prior:
    """Build the prior ``name`` (unbound) with ``options``; ``None`` means ``"none"``.

    Raises ValueError for an unknown name (listing the valid ones) or an unknown option
    (listing the prior's options).
    """
    key = "none" if name is None else str(name).lower().replace("-", "_")
    if key not in _REGISTRY:
        raise ValueError(f"unknown prior {name!r}; valid priors: {', '.join(available())}")
    cls = _REGISTRY[key]
    valid = _option_names(cls)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"prior {key!r} has no option(s) {unknown}; valid options: {valid or 'none'}")
    return cls(**options)


__all__ = [
    "BindContext", "Bounded", "DampedOscillator", "GreyBox", "Hybrid", "Identity", "Positive", "Prior",
    "Residual", "Sinusoid", "available", "describe", "get", "parameter_bounds", "parameter_vector",
    "rk4_step", "roll_out", "time_derivative",
]
