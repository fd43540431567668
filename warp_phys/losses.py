"""Training losses. One-step predictions: predictions and targets (B, T, d); ``mask``
broadcastable to (B, T, d) (bool or 0/1), selecting the entries that count. Classification:
logits (B, K) and integer class labels (B,) in [0, K) (`classification_loss`, `accuracy`)."""
from __future__ import annotations

import torch

from torch.nn import functional as F

from warp_phys.sequence import Prediction

#: ``Trainer(loss=...)``: the one-step losses, and "cross_entropy" for class labels.
SEQUENCE_LOSSES = ("mse", "nll")
LOSSES = (*SEQUENCE_LOSSES, "cross_entropy")


def _masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return values.mean()
    w = torch.broadcast_to(mask.to(values.dtype), values.shape)
    return (values * w).sum() / w.sum().clamp_min(1.0)


def _mean_of(pred: Prediction | torch.Tensor) -> torch.Tensor:
    return pred.mean if isinstance(pred, Prediction) else pred


def mse_loss(pred: Prediction | torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error of the predicted mean over the masked entries (scalar)."""
    return _masked_mean((_mean_of(pred) - target) ** 2, mask)


def gaussian_nll(pred: Prediction, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Gaussian negative log-likelihood ``log s + (x - m)^2 / (2 s^2)`` (without the constant
    0.5 log 2 pi), averaged over the masked entries. Needs ``pred.std``."""
    if not isinstance(pred, Prediction) or pred.std is None:
        raise ValueError("gaussian_nll needs a Prediction with a std; build the model with output='gaussian' "
                         "or use loss='mse'")
    s = pred.std
    return _masked_mean(torch.log(s) + (target - pred.mean) ** 2 / (2 * s**2), mask)


def sequence_loss(prediction: Prediction, x: torch.Tensor, kind: str = "mse", start: int = 1) -> torch.Tensor:
    """Loss of one-step predictions (B, T, d) against x (B, T, d) over steps t >= start."""
    if kind not in SEQUENCE_LOSSES:
        raise ValueError(f"unknown loss {kind!r} of one-step predictions; choose one of {list(SEQUENCE_LOSSES)}")
    T = x.shape[1]
    if not 0 <= start < T:
        raise ValueError(f"start={start} leaves no steps of a length-{T} sequence to score")
    mask = (torch.arange(T, device=x.device) >= start).view(1, T, 1)
    if kind == "mse":
        return mse_loss(prediction, x, mask)
    return gaussian_nll(prediction, x, mask)


def classification_loss(logits: Prediction | torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy (nats per sequence) of class logits (B, K) (a tensor, or a Prediction
    whose ``mean`` holds them) against integer labels (B,) in [0, K)."""
    logits = _mean_of(logits)
    if logits.dim() != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(f"cross_entropy needs logits (B, K) and labels (B,), got {tuple(logits.shape)} and "
                         f"{tuple(labels.shape)}; a classifier's forward must return one row of logits per sequence")
    return F.cross_entropy(logits, labels.long())


def accuracy(logits: Prediction | torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fraction (0..1) of rows of logits (B, K) whose argmax equals the label (B,)."""
    return (_mean_of(logits).argmax(dim=-1) == labels).to(torch.float64).mean()
