"""The root network: a small MLP whose weights and biases live in one flat vector theta.

Layout of theta (size D): for each layer l = 0..depth (``depth`` hidden layers, then the
output layer), the weight matrix W_l of shape (out_l, in_l) flattened row-major, followed
by the bias b_l of shape (out_l,). Layer sizes: n_in -> width -> ... -> width -> n_out.

Two evaluations that agree to float rounding:

* ``evaluate`` (plain): theta is given per row, shape (..., D); each row gets its own MLP.
  Costs O(rows * D) memory because every row carries a whole weight vector.
* ``evaluate_factored``: theta_{b,t} = theta0_b + sum_k c_{b,t,k} M_k with a per-batch base
  theta0 (B, D), a small shared basis M (K, D) and coefficients c (B, T, K). Each layer is

      W_{b,t} h = W0_b h + sum_k c_k W^(k) h
                = bmm(h, W0_b^T) + [c (outer) h] @ [W^(1); ...; W^(K)]^T      (expand: one GEMM)
                = bmm(h, W0_b^T) + sum_k c_k [h @ [W^(1)^T, ..., W^(K)^T]]_k   (contract: one GEMM,
                                                                         then a sum over k per row)

  so no D-sized tensor exists per (batch, time) row: per layer the largest intermediate is
  c (outer) h, (B, T, K * in), or h @ [W^(k)^T], (B, T, K * out), whichever is smaller (a layer
  that narrows, out <= in, contracts), instead of a (B, T, D) weight trajectory.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch
from torch.nn import functional as F

from warp_phys.validation import check_int

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "swish": F.silu,
    "silu": F.silu,
    "tanh": torch.tanh,
    "relu": F.relu,
    "gelu": F.gelu,
    "softplus": F.softplus,
    "sin": torch.sin,
}


def get_activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """Return the activation function named ``name`` (ValueError lists the valid names)."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}") from None


#: How `RootNetwork.evaluate_factored` adds the basis terms (module docstring).
FACTORED_FORMS = ("auto", "expand", "contract")


class _Layer(NamedTuple):
    w_off: int
    b_off: int
    n_out: int
    n_in: int


class FactoredLayers(NamedTuple):
    """Per-layer tensors prepared once by `RootNetwork.factored_layers` (reused across steps)."""

    w0t: list[torch.Tensor]  # (B, in, out) transposed base weights
    b0: list[torch.Tensor]  # (B, 1, out) base biases
    wk: list[torch.Tensor]  # (K * in, out) stacked basis weights (the expand form)
    bk: list[torch.Tensor]  # (K, out) basis biases
    wko: list[torch.Tensor]  # (in, K * out) the basis weights side by side (the contract form)


class RootNetwork:
    """Layout and evaluation of the root MLP on flat weight vectors (holds no parameters)."""

    def __init__(self, n_in: int, n_out: int, width: int = 48, depth: int = 3, activation: str = "swish",
                 factored_form: str = "auto") -> None:
        """``factored_form``: how `evaluate_factored` adds the basis terms of each layer, "auto"
        (default: contract a layer that narrows, out <= in, expand the others), "expand" or
        "contract" everywhere; the same outputs to float rounding (benchmarks/warp_step.py times them)."""
        if factored_form not in FACTORED_FORMS:
            raise ValueError(f"factored_form={factored_form!r} is not one of {FACTORED_FORMS}")
        self.factored_form = factored_form
        n_in = check_int(n_in, "root network n_in", minimum=1)
        n_out = check_int(n_out, "root network n_out", minimum=1)
        width = check_int(width, "width (of the root network)", minimum=1)
        depth = check_int(depth, "depth (of the root network)", minimum=0)
        self.n_in, self.n_out, self.width, self.depth = n_in, n_out, width, depth
        self.activation_name = activation
        self.act = get_activation(activation)
        sizes = [n_in] + [width] * depth + [n_out]
        self.layers: list[_Layer] = []
        off = 0
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            self.layers.append(_Layer(off, off + fan_in * fan_out, fan_out, fan_in))
            off += fan_in * fan_out + fan_out
        self.size = off  # D

    def init_theta(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """A standard initial weight vector (D,): W, b ~ U(-1/sqrt(in), 1/sqrt(in)) per layer."""
        theta = torch.empty(self.size)
        for L in self.layers:
            bound = 1.0 / math.sqrt(L.n_in)
            n = L.n_in * L.n_out + L.n_out
            theta[L.w_off : L.w_off + n] = (torch.rand(n, generator=generator) * 2 - 1) * bound
        return theta

    def _check(self, theta: torch.Tensor) -> None:
        if theta.shape[-1] != self.size:
            raise ValueError(f"theta has last dimension {theta.shape[-1]}, the root network needs D={self.size}")

    def evaluate(self, theta: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Plain evaluation: theta (..., D), inputs (..., n_in) -> outputs (..., n_out)."""
        self._check(theta)
        h = inputs
        last = len(self.layers) - 1
        for i, L in enumerate(self.layers):
            W = theta[..., L.w_off : L.b_off].unflatten(-1, (L.n_out, L.n_in))
            b = theta[..., L.b_off : L.b_off + L.n_out]
            h = (W @ h.unsqueeze(-1)).squeeze(-1) + b
            if i < last:
                h = self.act(h)
        return h

    def factored_layers(self, theta0: torch.Tensor, basis: torch.Tensor) -> FactoredLayers:
        """Split theta0 (B, D) and the basis (K, D) into per-layer blocks for factored evaluation."""
        self._check(theta0)
        self._check(basis)
        K = basis.shape[0]
        out = FactoredLayers([], [], [], [], [])
        for L in self.layers:
            w0 = theta0[:, L.w_off : L.b_off].unflatten(-1, (L.n_out, L.n_in))
            out.w0t.append(w0.transpose(1, 2))
            out.b0.append(theta0[:, None, L.b_off : L.b_off + L.n_out])
            wk = basis[:, L.w_off : L.b_off].unflatten(-1, (L.n_out, L.n_in))  # (K, out, in)
            out.wk.append(wk.transpose(1, 2).reshape(K * L.n_in, L.n_out))
            out.bk.append(basis[:, L.b_off : L.b_off + L.n_out])
            out.wko.append(wk.permute(2, 0, 1).reshape(L.n_in, K * L.n_out))
        return out

    def contracts(self, n_in: int, n_out: int) -> bool:
        """Whether `evaluate_factored` adds a layer n_in -> n_out's basis terms in the contract
        form; "auto": where its intermediate, K * out per row, is no larger than the expand
        form's K * in."""
        return self.factored_form == "contract" or (self.factored_form == "auto" and n_out <= n_in)

    def evaluate_factored(
        self,
        theta0: torch.Tensor | FactoredLayers,
        basis: torch.Tensor | None,
        coeff: torch.Tensor,
        inputs: torch.Tensor,
    ) -> torch.Tensor:
        """Factored evaluation of theta_{b,t} = theta0_b + coeff_{b,t} @ basis.

        theta0 (B, D) and basis (K, D), or a prepared `FactoredLayers` (then basis=None);
        coeff (B, T, K); inputs (B, T, n_in) -> outputs (B, T, n_out).
        """
        layers = theta0 if isinstance(theta0, FactoredLayers) else self.factored_layers(theta0, basis)
        B, T, K = coeff.shape
        h = inputs
        last = len(self.layers) - 1
        for i, L in enumerate(self.layers):
            y = torch.baddbmm(layers.b0[i], h, layers.w0t[i])  # (B, T, out)
            if self.contracts(L.n_in, L.n_out):  # sum_k c_k (h W^(k)T): a broadcast product summed over k
                hw = (h @ layers.wko[i]).view(B, T, K, L.n_out)  # (faster than B*T tiny bmm's with autograd)
                y = y + (hw * coeff.unsqueeze(-1)).sum(-2)
            else:  # batched outer products c (outer) h (B, T, K*in), then one GEMM
                y = y + (coeff.unsqueeze(-1) @ h.unsqueeze(-2)).flatten(-2) @ layers.wk[i]
            y = y + coeff @ layers.bk[i]
            h = self.act(y) if i < last else y
        return h
