"""GRU / LSTM baselines: one class, parameterised by the cell type.

Step t reads [x_t, tau_t, tau_{t+1} - tau_t] and predicts x_{t+1} = x_t + head(h_t)
(residual; the head starts at zero, so an untrained model is persistence).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .base import Baseline

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}


class RNNBaseline(Baseline):
    """Stacked GRU or LSTM (``cell``), ``layers`` layers of width ``hidden``.

    forecast is O(T): the hidden state is carried from the context into the rollout.
    """

    def __init__(self, n_variables: int, *, cell: str = "gru", hidden: int = 64, layers: int = 2,
                 output: str = "mean", std_floor: float = 1e-3, seed: int = 0) -> None:
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}; got {cell!r}")
        super().__init__(n_variables, output=output, std_floor=std_floor, seed=seed,
                         cell=cell, hidden=int(hidden), layers=int(layers))
        self.name = cell
        with self._seeded():
            self.rnn = CELLS[cell](n_variables + 2, hidden, num_layers=layers, batch_first=True)
            self.head = nn.Linear(hidden, self.n_raw)
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def _advance(self, inp: torch.Tensor, tau_in: torch.Tensor, tau_out: torch.Tensor, state: Any):
        h, state = self.rnn(self._time_features(inp, tau_in, tau_out), state)
        return (*self._residual_head(self.head(h), inp), state)
