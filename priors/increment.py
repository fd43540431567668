"""Increment (residual-in-time) decoding: the root network emits the change of the state.

    x_t = x_{t-1} + gain * raw_t          (normalised units)

An untrained model (raw ~ small) is close to persistence, the natural starting point for
slowly varying, high-dimensional states such as the POD coefficients of a flow field
(``warp_phys.fields``), where a black-box decode must otherwise rebuild the whole state
from the weights at every step. ``gain`` sets the scale of one step's change in normalised
units (default 0.1).
"""
from __future__ import annotations

import math

import torch

from .base import BindContext, Prior, check_context


class Increment(Prior):
    """x_t = x_{t-1} + gain * raw (one raw output per state variable)."""

    name = "increment"
    description = "the root network emits the one-step change of the state: x_t = x_{t-1} + gain * raw"
    uses_previous_state = True

    def __init__(self, gain: float = 0.1) -> None:
        super().__init__()
        if not (isinstance(gain, (int, float)) and math.isfinite(gain) and gain > 0):
            raise ValueError(f"increment: gain must be a positive number, got {gain!r}")
        self.gain = float(gain)
        self.options = {"gain": self.gain}

    def bind(self, ctx: BindContext) -> None:
        check_context(ctx, self.name)
        self.ctx = ctx

    @property
    def n_outputs(self) -> int:
        return self._bound().n_variables

    def decode(self, raw: torch.Tensor, tau: torch.Tensor, z_prev: torch.Tensor) -> torch.Tensor:
        return z_prev + self.gain * raw


__all__ = ["Increment"]
