"""The system registry: ``available()`` and ``get(name, **params)`` with friendly aliases.

Built on the package's shared ``warp_phys.registry.Registry`` (case- and dash-insensitive
names, aliases, did-you-mean errors). Parameter and structural-option overrides are checked
by the System constructor itself, which names the valid parameters and options.
"""
from __future__ import annotations

from warp_phys.registry import Registry

from .base import System
from .fluids import FIELD_SYSTEMS
from .lorenz import LORENZ_SYSTEMS
from .oscillators import OSCILLATOR_SYSTEMS
from .pendulums import PENDULUM_SYSTEMS
from .population import POPULATION_SYSTEMS
from .sine import SINE_SYSTEMS

ODE_SYSTEMS: list[type[System]] = [*LORENZ_SYSTEMS, *PENDULUM_SYSTEMS, *OSCILLATOR_SYSTEMS,
                                   *POPULATION_SYSTEMS, *SINE_SYSTEMS]

SYSTEMS: Registry[type[System]] = Registry("system")
for _cls in [*ODE_SYSTEMS, *FIELD_SYSTEMS]:
    SYSTEMS.register(_cls.name, _cls, aliases=_cls.aliases)


def system_classes() -> dict[str, type[System]]:
    """Canonical name -> class for every registered system (ODE then field)."""
    return {cls.name: cls for cls in [*ODE_SYSTEMS, *FIELD_SYSTEMS]}


def aliases() -> dict[str, str]:
    """Every accepted spelling (normalised) -> canonical name."""
    return SYSTEMS.aliases()


def available() -> list[str]:
    """Canonical names of all registered systems, sorted."""
    return SYSTEMS.names()


def resolve_name(name: str) -> str:
    """Canonical name for ``name`` or an alias; ValueError listing the known names and the closest."""
    return SYSTEMS.resolve(name)


def get(name: str, **params) -> System:
    """An instance of the named system with parameter (and structural option) overrides,
    e.g. ``get("lorenz", rho=35.0)``, ``get("lorenz96", N=20)``.

    ValueError for an unknown name (with the closest match) or an unknown override (listing
    the system's parameters and structural options)."""
    return SYSTEMS.get(name)(**params)


__all__ = ["ODE_SYSTEMS", "SYSTEMS", "aliases", "available", "get", "resolve_name", "system_classes"]
