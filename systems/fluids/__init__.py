"""Pseudo-spectral PDE toys (fields): 2-D Navier-Stokes, Burgers, Kuramoto-Sivashinsky.

Each is a ``warp_phys.systems.System`` with ``kind == "field"`` whose ``simulate`` returns
``vorticity(trajectory, time, y, x)`` or ``u(trajectory, time, x)``. ``diagnostics`` holds
kinetic energy, enstrophy, E(k) and the velocity from the stream function.
"""
from ._field import FieldSystem
from .burgers import Burgers1D
from .kuramoto_sivashinsky import KuramotoSivashinsky
from .navier_stokes import NavierStokes2D

FIELD_SYSTEMS = [NavierStokes2D, Burgers1D, KuramotoSivashinsky]

__all__ = ["FIELD_SYSTEMS", "FieldSystem", "NavierStokes2D", "Burgers1D", "KuramotoSivashinsky"]
