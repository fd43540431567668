"""Decoder-only causal transformer baseline (pre-LayerNorm blocks).

Token t embeds [x_t, tau_{t+1} - tau_t] plus a positional encoding of tau_t (sinusoidal
in tau, or a learned MLP of tau); its output predicts x_{t+1} = x_t + head(z_t).
forecast caches every layer's inputs, so each new step costs one token per layer.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .base import Baseline

POSITIONAL = ("sinusoidal", "learned")


class _Block(nn.Module):
    """Pre-LN block; new tokens h (B, L, H) attend to cached ``past`` (B, M, H) and causally to themselves."""

    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.attn = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(hidden, 4 * hidden), nn.GELU(), nn.Linear(4 * hidden, hidden),
                                 nn.Dropout(dropout))

    def forward(self, h: torch.Tensor, past: torch.Tensor) -> torch.Tensor:
        M, L = past.shape[1], h.shape[1]
        mask = torch.ones(L, M + L, dtype=torch.bool, device=h.device).triu(M + 1)  # True: j > M + i
        q, kv = self.ln1(h), self.ln1(torch.cat([past, h], 1))
        h = h + self.attn(q, kv, kv, attn_mask=mask, need_weights=False)[0]
        return h + self.mlp(self.ln2(h))


class TransformerBaseline(Baseline):
    """Causal transformer: ``layers`` blocks of width ``hidden`` with ``heads`` heads."""

    name = "transformer"

    def __init__(self, n_variables: int, *, hidden: int = 64, layers: int = 2, heads: int = 4,
                 positional: str = "sinusoidal", max_frequency: float = 512.0, dropout: float = 0.0,
                 output: str = "mean", std_floor: float = 1e-3, seed: int = 0) -> None:
        if positional not in POSITIONAL:
            raise ValueError(f"positional must be one of {POSITIONAL}; got {positional!r}")
        if hidden % heads or hidden % 2:
            raise ValueError(f"hidden={hidden} must be even and divisible by heads={heads}")
        super().__init__(n_variables, output=output, std_floor=std_floor, seed=seed, hidden=int(hidden),
                         layers=int(layers), heads=int(heads), positional=positional,
                         max_frequency=float(max_frequency), dropout=float(dropout))
        with self._seeded():
            self.embed = nn.Linear(n_variables + 1, hidden)
            if positional == "learned":
                self.pos = nn.Sequential(nn.Linear(1, hidden), nn.GELU(), nn.Linear(hidden, hidden))
            else:  # angular frequencies pi .. pi * max_frequency, geometric
                n = hidden // 2
                self.register_buffer("freqs", math.pi * max_frequency ** (torch.arange(n) / max(n - 1, 1)))
            self.blocks = nn.ModuleList(_Block(hidden, heads, dropout) for _ in range(layers))
            self.norm = nn.LayerNorm(hidden)
            self.head = nn.Linear(hidden, self.n_raw)
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def _encode_time(self, tau: torch.Tensor) -> torch.Tensor:
        """tau (L,) -> (L, hidden)."""
        if self.config["positional"] == "learned":
            return self.pos(tau[:, None])
        a = tau[:, None] * self.freqs.to(tau)
        return torch.cat([a.sin(), a.cos()], -1)

    def _advance(self, inp: torch.Tensor, tau_in: torch.Tensor, tau_out: torch.Tensor, state: Any):
        """state: list with each layer's inputs for all earlier tokens, (B, M, hidden)."""
        B, L, _ = inp.shape
        tau_in, tau_out = tau_in.to(inp), tau_out.to(inp)
        dt = (tau_out - tau_in).expand(B, L)[..., None]
        h = self.embed(torch.cat([inp, dt], -1)) + self._encode_time(tau_in)
        if state is None:
            state = [h.new_zeros(B, 0, h.shape[-1])] * len(self.blocks)
        new_state = []
        for block, past in zip(self.blocks, state):
            new_state.append(torch.cat([past, h], 1))
            h = block(h, past)
        return (*self._residual_head(self.head(self.norm(h)), inp), new_state)
