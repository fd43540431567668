"""The registry: ``available()`` and ``get(name, **params)`` with friendly aliases."""
from __future__ import annotations

import difflib
import importlib

from .base import System
from .lorenz import LORENZ_SYSTEMS
from .oscillators import OSCILLATOR_SYSTEMS
from .pendulums import PENDULUM_SYSTEMS
from .population import POPULATION_SYSTEMS
from .sine import SINE_SYSTEMS

ODE_SYSTEMS: list[type[System]] = [*LORENZ_SYSTEMS, *PENDULUM_SYSTEMS, *OSCILLATOR_SYSTEMS,
                                   *POPULATION_SYSTEMS, *SINE_SYSTEMS]


def _field_systems() -> list[type[System]]:
    """Field (PDE) systems from ``systems/fluids`` (an empty list until they exist)."""
    try:
        fluids = importlib.import_module(f"{__package__}.fluids")
    except ModuleNotFoundError as err:
        if err.name and err.name.endswith("fluids"):
            return []
        raise
    return list(getattr(fluids, "FIELD_SYSTEMS", []))


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def system_classes() -> dict[str, type[System]]:
    """Canonical name -> class for every registered system (ODE then field)."""
    return {cls.name: cls for cls in [*ODE_SYSTEMS, *_field_systems()]}


def aliases() -> dict[str, str]:
    """Every accepted spelling (normalised) -> canonical name."""
    out: dict[str, str] = {}
    for name, cls in system_classes().items():
        out[_normalise(name)] = name
        for alias in cls.aliases:
            out.setdefault(_normalise(alias), name)
    return out


def available() -> list[str]:
    """Canonical names of all registered systems, sorted."""
    return sorted(system_classes())


def resolve_name(name: str) -> str:
    """Canonical name for ``name`` or an alias; ValueError listing the known names and the closest."""
    if not isinstance(name, str):
        raise ValueError(f"a system name must be a string, got {type(name).__name__}")
    table = aliases()
    key = _normalise(name)
    if key in table:
        return table[key]
    close = difflib.get_close_matches(key, list(table), n=1, cutoff=0.5)
    hint = f" Did you mean {table[close[0]]!r}?" if close else ""
    raise ValueError(f"unknown system {name!r}.{hint} Known systems: {', '.join(available())} "
                     f"(aliases: {', '.join(sorted(a for a in table if a not in table.values()))})")


def get(name: str, **params) -> System:
    """An instance of the named system with parameter (and structural option) overrides,
    e.g. ``get("lorenz", rho=35.0)``, ``get("lorenz96", N=20)``."""
    return system_classes()[resolve_name(name)](**params)
