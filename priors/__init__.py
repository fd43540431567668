"""Physics priors: constrained structures for the WARP root network (installed as warp_phys.priors).

``available()`` lists the prior names; ``get(name, **options)`` builds an unbound prior, which a
model binds once with a `BindContext`. ``prior.options`` holds the JSON-able options, so
``get(prior.name, **prior.options)`` rebuilds it (e.g. from a checkpoint).
"""
from __future__ import annotations

from typing import Any

from warp_phys.registry import Registry

from .analytic import DampedOscillator, Sinusoid
from .base import BindContext, Identity, Prior, roll_out
from .constraints import Bounded, Positive
from .grey_box import GreyBox, parameter_bounds, parameter_vector
from .hybrid import Hybrid
from .increment import Increment
from .quadratic import QuadraticField
from warp_phys.systems.integrators import rk4_step
from .residual import Residual, time_derivative

#: name -> prior class.
REGISTRY: Registry[type[Prior]] = Registry("prior")
for _cls in (Identity, DampedOscillator, Sinusoid, GreyBox, Positive, Bounded, Residual, Hybrid, Increment,
             QuadraticField):
    REGISTRY.register(_cls.name, _cls)


def available() -> list[str]:
    """Names accepted by ``get``, sorted."""
    return REGISTRY.names()


def describe() -> dict[str, str]:
    """{name: one-line description} of every prior."""
    return {n: REGISTRY.get(n).description for n in available()}


def get(name: str | None, **options: Any) -> Prior:
    """Build the prior ``name`` (unbound) with ``options``; ``None`` means ``"none"``.

    Names are case- and dash-insensitive. The options are checked against the prior's
    constructor before it is built: an unknown name or option raises a ValueError naming it,
    the closest match and the valid ones.
    """
    return REGISTRY.create("none" if name is None else name, **options)


__all__ = [
    "REGISTRY", "BindContext", "Bounded", "DampedOscillator", "GreyBox", "Hybrid", "Identity", "Increment",
    "Positive", "Prior", "QuadraticField", "Residual", "Sinusoid", "available", "describe", "get", "parameter_bounds",
    "parameter_vector",
    "rk4_step", "roll_out", "time_derivative",
]
