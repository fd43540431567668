"""Pseudo-spectral PDE toys (fields): 2-D Navier-Stokes, Burgers, Kuramoto-Sivashinsky."""
from .navier_stokes import NavierStokes2D

FIELD_SYSTEMS = [NavierStokes2D]

__all__ = ["FIELD_SYSTEMS", "NavierStokes2D"]
