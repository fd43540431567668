"""Known physics plus a learned correction (universal-differential-equation style)."""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from warp_phys.validation import check_int, check_seed

from .base import BindContext
from .grey_box import GreyBox


class Hybrid(GreyBox):
    """One RK4 step of ``f(t, x) = system.rhs(t, x, p) + (scale / duration) * NN(z)``.

    ``p`` comes from the root network exactly as in ``grey_box`` (same options);
    ``NN`` is a small MLP owned by the prior (learnable), fed the normalised state
    ``z = (x - loc) / scale``; its output is in normalised units per unit of tau, hence the
    factor ``scale / duration`` to physical units per time. Its last layer starts at zero,
    so an untrained hybrid equals ``grey_box``. The MLP is built at the first ``bind``
    (its size needs d), initialised from ``seed``; rebinding with the same d keeps it.
    """

    name = "hybrid"
    description = "grey_box step of the known RHS plus a learned neural correction (UDE)"

    def __init__(self, hidden: int = 32, depth: int = 2, seed: int = 0, **grey_box_options: Any) -> None:
        super().__init__(**grey_box_options)
        hidden = check_int(hidden, "hidden (width of the hybrid correction)", minimum=1)
        depth = check_int(depth, "depth (of the hybrid correction)", minimum=1)
        self.hidden, self.depth, self.seed = hidden, depth, check_seed(seed)
        self.options.update(hidden=hidden, depth=depth, seed=self.seed)
        self.correction: nn.Sequential | None = None

    def bind(self, ctx: BindContext) -> None:
        super().bind(ctx)
        d = ctx.n_variables
        if self.correction is not None and self.correction[0].in_features == d:
            return
        gen = torch.Generator().manual_seed(self.seed)
        layers: list[nn.Module] = []
        width = d
        for _ in range(self.depth):
            lin = nn.Linear(width, self.hidden)
            bound = (1.0 / width) ** 0.5
            with torch.no_grad():
                lin.weight.uniform_(-bound, bound, generator=gen)
                lin.bias.uniform_(-bound, bound, generator=gen)
            layers += [lin, nn.Tanh()]
            width = self.hidden
        last = nn.Linear(width, d)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        layers.append(last)
        device = ctx.scaler.loc.device
        self.correction = nn.Sequential(*layers).to(device)

    def vector_field(self, p: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        ctx = self._bound()
        known = super().vector_field(p)
        net = self.correction

        def f(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            z = ctx.scaler.normalise(x)
            w = next(net.parameters())
            corr = net(z.to(w.dtype)).to(x.dtype)
            return known(t, x) + corr * ctx.scaler.scale.to(x) / ctx.duration

        return f
