"""Per-variable normalisation shared by models, priors and the workflow."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Scaler:
    """Per-variable affine normalisation ``z = (x - loc) / scale``; tensors of shape (d,)."""

    loc: torch.Tensor
    scale: torch.Tensor

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.loc.to(x)) / self.scale.to(x)

    def denormalise(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.scale.to(z) + self.loc.to(z)

    @classmethod
    def identity(cls, d: int) -> "Scaler":
        return cls(torch.zeros(d), torch.ones(d))
