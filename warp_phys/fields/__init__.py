"""WARP on flow fields: reduced coordinates (POD / Fourier), the DMD baseline, and
``reconstruct_field(system="kolmogorov")`` -> `FieldReconstruction`.

``warp_phys.reconstruct(system=<field system>)`` dispatches here.
"""
from .data import cut_windows, field_name
from .dmd import DMD
from .metrics import field_metrics, isotropic_spectrum, persistence_fields, relative_l2
from .recipes import FIELD_RECIPES, FieldRecipe, get_field_recipe
from .reconstruct import FIELD_MODELS, FieldReconstruction, reconstruct_field, simulate_splits
from .reduction import POD, FieldBasis, FourierTruncation, fit_basis

__all__ = [
    "DMD", "FIELD_MODELS", "FIELD_RECIPES", "FieldBasis", "FieldRecipe", "FieldReconstruction",
    "FourierTruncation", "POD", "cut_windows", "field_metrics", "field_name", "fit_basis",
    "get_field_recipe", "isotropic_spectrum", "persistence_fields", "reconstruct_field",
    "relative_l2", "simulate_splits",
]
