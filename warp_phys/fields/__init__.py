"""Flow fields: reduced coordinates (POD / Fourier), windows, field metrics, the DMD
baseline and the default field recipes. ``warp_phys.reconstruct(system="kolmogorov")`` runs
them through the one pipeline (`warp_phys.pipeline`, with a `FieldEncoder`)."""
from .data import cut_windows, field_name
from .dmd import DMD
from .metrics import field_metrics, isotropic_spectrum, persistence_fields, relative_l2
from .recipes import FIELD_RECIPES, FieldRecipe, get_field_recipe
from .reduction import POD, FieldBasis, FourierTruncation, fit_basis

__all__ = [
    "DMD", "FIELD_RECIPES", "FieldBasis", "FieldRecipe", "FourierTruncation", "POD", "cut_windows",
    "field_metrics", "field_name", "fit_basis", "get_field_recipe", "isotropic_spectrum",
    "persistence_fields", "relative_l2",
]
