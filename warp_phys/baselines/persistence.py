"""Persistence: the prediction of x_t is x_{t-1}; a forecast holds the last context value."""
from __future__ import annotations

from typing import Any

import torch

from .base import Baseline


class Persistence(Baseline):
    """No parameters (do not train it). mean[:, t] = x[:, t-1], mean[:, 0] = x[:, 0].

    Only ``output="mean"``: there is nothing to learn a std from. ``hidden``/``layers``
    are accepted and ignored so that the registry can pass the same options to all.
    """

    name = "persistence"

    def __init__(self, n_variables: int, *, output: str = "mean", std_floor: float = 1e-3,
                 seed: int = 0, hidden: int | None = None, layers: int | None = None) -> None:
        if output != "mean":
            raise ValueError(f"persistence has no parameters and only supports output='mean'; got {output!r}")
        super().__init__(n_variables, output=output, std_floor=std_floor, seed=seed)

    def _advance(self, inp: torch.Tensor, tau_in: torch.Tensor, tau_out: torch.Tensor, state: Any):
        return inp, None, None
