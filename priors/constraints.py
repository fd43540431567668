"""Hard output constraints: positivity and box bounds, in physical units."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

from .base import BindContext, Prior, check_context, variable_indices


class _Constrained(Prior):
    """Shared decode: constrained variables get ``physical`` values, the others pass raw through
    (normalised units, as in the black-box model). Subclasses set ``self._idx`` at bind and
    implement ``_constrain(raw_c) -> physical (..., len(idx))``."""

    _idx: list[int]

    @property
    def n_outputs(self) -> int:
        return self._bound().n_variables

    def _constrain(self, raw_c: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def physical(self, raw: torch.Tensor) -> torch.Tensor:
        """Prediction in physical units (..., d); the constraint holds exactly here."""
        ctx = self._bound()
        x = ctx.scaler.denormalise(raw)
        idx = self._idx
        if idx:
            x = x.clone()
            x[..., idx] = self._constrain(raw[..., idx])
        return x

    def decode(self, raw: torch.Tensor, tau: torch.Tensor, z_prev: torch.Tensor) -> torch.Tensor:
        ctx = self._bound()
        idx = self._idx
        if not idx:
            return raw
        loc, scale = ctx.scaler.loc.to(raw)[idx], ctx.scaler.scale.to(raw)[idx]
        z = raw.clone()
        z[..., idx] = (self._constrain(raw[..., idx]) - loc) / scale
        return z


class Positive(_Constrained):
    """x_i = floor_i + scale_i * softplus(raw_i) >= floor_i (physical units), e.g. populations.

    Options: ``floor`` (a number, or one per constrained variable), ``variables`` (names or
    indices to constrain; None = all).
    """

    name = "positive"
    description = "hard positivity x = floor + scale * softplus(raw)"

    def __init__(self, floor: float | Sequence[float] = 0.0, variables: Sequence[str | int] | None = None) -> None:
        super().__init__()
        self.floor = float(floor) if isinstance(floor, (int, float)) else [float(f) for f in floor]
        self.variables = None if variables is None else list(variables)
        self.options = {"floor": self.floor, "variables": self.variables}

    def bind(self, ctx: BindContext) -> None:
        check_context(ctx, self.name)
        idx = variable_indices(ctx, self.variables, self.name)
        floor = self.floor if isinstance(self.floor, list) else [self.floor] * len(idx)
        if len(floor) != len(idx):
            raise ValueError(f"prior {self.name!r}: {len(floor)} floors given for {len(idx)} constrained variables")
        self._idx, self._floor = idx, torch.tensor(floor, dtype=torch.float64)
        self.ctx = ctx

    def _constrain(self, raw_c: torch.Tensor) -> torch.Tensor:
        scale = self.ctx.scaler.scale.to(raw_c)[self._idx]
        return self._floor.to(raw_c) + scale * F.softplus(raw_c)


class Bounded(_Constrained):
    """x_i = lo_i + (hi_i - lo_i) * sigmoid(raw_i) in [lo_i, hi_i] (physical units).

    Option ``bounds`` (required): a list of d entries, each (lo, hi) or None (unbounded),
    or a dict {variable name or index: (lo, hi)}.
    """

    name = "bounded"
    description = "hard bounds x in [lo, hi] per variable via a sigmoid"

    def __init__(self, bounds: Sequence | Mapping | None = None) -> None:
        super().__init__()
        if bounds is None:
            raise ValueError("prior 'bounded' needs bounds=[(lo, hi) or None per variable] "
                             "or bounds={variable: (lo, hi)}")

        def pair(b):
            if b is None:
                return None
            lo, hi = float(b[0]), float(b[1])
            if not lo < hi:
                raise ValueError(f"prior 'bounded': bounds ({lo}, {hi}) need lo < hi")
            return [lo, hi]

        if isinstance(bounds, Mapping):
            self.bounds = {k: pair(v) for k, v in bounds.items()}
        else:
            self.bounds = [pair(b) for b in bounds]
        self.options = {"bounds": self.bounds}

    def bind(self, ctx: BindContext) -> None:
        check_context(ctx, self.name)
        if isinstance(self.bounds, dict):
            by_idx = {}
            for key, b in self.bounds.items():  # JSON turns integer keys into strings
                key = int(key) if isinstance(key, str) and key.isdigit() else key
                (i,) = variable_indices(ctx, [key], self.name)
                by_idx[i] = b
        else:
            if len(self.bounds) != ctx.n_variables:
                raise ValueError(f"prior {self.name!r}: {len(self.bounds)} bounds given but the data has "
                                 f"{ctx.n_variables} variables (use None for an unbounded one)")
            by_idx = dict(enumerate(self.bounds))
        by_idx = {i: b for i, b in by_idx.items() if b is not None}
        self._idx = sorted(by_idx)
        self._lo = torch.tensor([by_idx[i][0] for i in self._idx], dtype=torch.float64)
        self._hi = torch.tensor([by_idx[i][1] for i in self._idx], dtype=torch.float64)
        self.ctx = ctx

    def _constrain(self, raw_c: torch.Tensor) -> torch.Tensor:
        lo, hi = self._lo.to(raw_c), self._hi.to(raw_c)
        # the clamp only guards against round-off of lo + (hi - lo) at saturation
        return torch.clamp(lo + (hi - lo) * torch.sigmoid(raw_c), lo, hi)
