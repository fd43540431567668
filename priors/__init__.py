"""Physics priors: constrained structures for the WARP root network (installed as warp_phys.priors)."""
from .base import BindContext, Identity, Prior

__all__ = ["BindContext", "Identity", "Prior"]
