"""Decoder-only causal transformer baseline (pre-LayerNorm blocks).

Token t embeds [x_t, tau_{t+1} - tau_t] plus a positional encoding of tau_t (sinusoidal
in tau, or a learned MLP of tau); its output predicts x_{t+1} = x_t + head(z_t).
forecast caches every layer's keys and values, so each new step projects one token per layer.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from .base import Baseline

POSITIONAL = ("sinusoidal", "learned")


class _Block(nn.Module):
    """Pre-LN block; new tokens h (B, L, H) attend to the cached keys and values of earlier
    tokens and causally to themselves. The weights live in an ``nn.MultiheadAttention``;
    attention is computed here so that keys and values can be cached."""

    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.attn = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(hidden, 4 * hidden), nn.GELU(), nn.Linear(4 * hidden, hidden),
                                 nn.Dropout(dropout))

    def _heads(self, z: torch.Tensor) -> torch.Tensor:
        """(B, L, H) -> (B, heads, L, H / heads)."""
        B, L, H = z.shape
        return z.view(B, L, self.attn.num_heads, H // self.attn.num_heads).transpose(1, 2)

    def forward(self, h: torch.Tensor, cache: tuple[torch.Tensor, torch.Tensor] | None):
        """-> (new h (B, L, H), (keys, values) of all tokens so far, each (B, heads, M + L, H / heads))."""
        a, (B, L, H) = self.attn, h.shape
        q, k, v = (self._heads(z) for z in F.linear(self.ln1(h), a.in_proj_weight, a.in_proj_bias).chunk(3, -1))
        if cache is not None:
            k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
        M = k.shape[2] - L
        allowed = torch.ones(L, M + L, dtype=torch.bool, device=h.device).tril(M)  # token M + i sees j <= M + i
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=a.dropout if self.training else 0.0)
        h = h + a.out_proj(o.transpose(1, 2).reshape(B, L, H))
        return h + self.mlp(self.ln2(h)), (k, v)


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
        """state: per layer, the (keys, values) of all earlier tokens (None: none yet)."""
        B, L, _ = inp.shape
        tau_in, tau_out = tau_in.to(inp), tau_out.to(inp)
        dt = (tau_out - tau_in).expand(B, L)[..., None]
        h = self.embed(torch.cat([inp, dt], -1)) + self._encode_time(tau_in)
        new_state = []
        for block, cache in zip(self.blocks, state or [None] * len(self.blocks)):
            h, kv = block(h, cache)
            new_state.append(kv)
        return (*self._residual_head(self.head(self.norm(h)), inp), new_state)
