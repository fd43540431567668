"""The library of dynamical systems (installed as warp_phys.systems)."""
from .base import Parameter, Protocol, System, Variable

__all__ = ["Parameter", "Protocol", "System", "Variable"]
