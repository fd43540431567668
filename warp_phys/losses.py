"""Training losses on one-step predictions. Shapes: predictions and targets (B, T, d);
``mask`` broadcastable to (B, T, d) (bool or 0/1), selecting the entries that count."""
from __future__ import annotations

import torch

from warp_phys.sequence import Prediction

LOSSES = ("mse", "nll")


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
    if kind not in LOSSES:
        raise ValueError(f"unknown loss {kind!r}; choose one of {list(LOSSES)}")
    T = x.shape[1]
    if not 0 <= start < T:
        raise ValueError(f"start={start} leaves no steps of a length-{T} sequence to score")
    mask = (torch.arange(T, device=x.device) >= start).view(1, T, 1)
    if kind == "mse":
        return mse_loss(prediction, x, mask)
    return gaussian_nll(prediction, x, mask)
