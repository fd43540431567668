"""Initial weight state theta_0: a tapering hypernetwork phi(x_0), or a free learned vector.

Both start at a standard root-network initialisation ``theta_init`` (D,): the hypernetwork's
last bias is theta_init and its last weights are small, so theta_0 ~ theta_init + O(0.01) x_0.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from warp_phys.root import get_activation


def taper_widths(d: int, D: int, n_hidden: int = 2, max_width: int = 64) -> list[int]:
    """Hidden widths growing geometrically from d towards D, each in [8, max_width]."""
    ratio = (D / max(d, 1)) ** (1.0 / (n_hidden + 1))
    return [int(min(max_width, max(8, round(d * ratio ** (k + 1))))) for k in range(n_hidden)]


def _uniform(shape: tuple[int, ...], bound: float, generator: torch.Generator | None) -> torch.Tensor:
    return (torch.rand(shape, generator=generator) * 2 - 1) * bound


class Hypernetwork(nn.Module):
    """theta_0 = phi(x_0): MLP d -> widths -> D. x0 (B, d) -> (B, D)."""

    def __init__(self, d: int, theta_init: torch.Tensor, *, widths: list[int] | None = None,
                 activation: str = "swish", out_scale: float = 1e-2,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        D = theta_init.shape[0]
        widths = taper_widths(d, D) if widths is None else widths
        self.act = get_activation(activation)
        self.layers = nn.ModuleList()
        sizes = [d, *widths, D]
        for i, (fi, fo) in enumerate(zip(sizes[:-1], sizes[1:])):
            lin = nn.Linear(fi, fo)
            bound = 1.0 / math.sqrt(fi)
            last = i == len(sizes) - 2
            with torch.no_grad():
                lin.weight.copy_(_uniform((fo, fi), bound * (out_scale if last else 1.0), generator))
                lin.bias.copy_(theta_init if last else _uniform((fo,), bound, generator))
            self.layers.append(lin)

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        h = x0
        for i, lin in enumerate(self.layers):
            h = lin(h)
            if i < len(self.layers) - 1:
                h = self.act(h)
        return h


class FreeInitialState(nn.Module):
    """theta_0 is one learned vector, the same for every trajectory. x0 (B, d) -> (B, D)."""

    def __init__(self, theta_init: torch.Tensor) -> None:
        super().__init__()
        self.theta = nn.Parameter(theta_init.clone())

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        return self.theta.expand(x0.shape[0], -1)
