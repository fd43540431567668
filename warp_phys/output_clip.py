"""The clamp of WARP's predictions to a band (``output_clip``) and its gradient.

    clip_output(mean, bound, gradient="zero" | "inward")   # mean (...), bound > 0 -> (...)

The forward pass is ``mean.clamp(-bound, bound)`` either way. Outside the band the clamp's
true derivative is zero, so a rollout that has run out to the band passes no gradient back:
training cannot pull it in again, and a run whose forecasts saturate early stays saturated.
``gradient="inward"`` passes the incoming gradient through at a clamped entry when a gradient
step would move the entry back towards the band (above it: gradient > 0; below it: gradient
< 0), and zero otherwise; inside the band both modes are the identity's gradient.
"""
from __future__ import annotations

from typing import Any

import torch

CLIP_GRADIENTS = ("zero", "inward")


class _InwardClamp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, bound: float) -> torch.Tensor:  # noqa: D102
        ctx.save_for_backward(x)
        ctx.bound = bound
        return x.clamp(-bound, bound)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: D102
        (x,) = ctx.saved_tensors
        b = ctx.bound
        keep = (x.abs() <= b) | ((x > b) & (grad > 0)) | ((x < -b) & (grad < 0))
        return grad * keep, None


def check_output_clip(output_clip: Any, clip_gradient: Any) -> tuple[float | None, str]:
    """(output_clip as a float or None, clip_gradient); ValueError for a bound that is not a number > 0
    (or None) or an unknown ``clip_gradient``."""
    if output_clip is not None and (isinstance(output_clip, bool) or not isinstance(output_clip, (int, float))
                                    or not output_clip > 0):
        raise ValueError(f"output_clip must be a number > 0 (normalised units) or None, got {output_clip!r}")
    if clip_gradient not in CLIP_GRADIENTS:
        raise ValueError(f"unknown clip_gradient {clip_gradient!r}; choose one of {list(CLIP_GRADIENTS)}")
    return (float(output_clip) if output_clip is not None else None), clip_gradient


def clip_output(mean: torch.Tensor, bound: float, gradient: str = "zero") -> torch.Tensor:
    """``mean`` clamped to [-bound, bound]; ``gradient`` (`CLIP_GRADIENTS`) as in the module docstring."""
    if gradient == "inward":
        return _InwardClamp.apply(mean, bound)
    return mean.clamp(-bound, bound)


__all__ = ["CLIP_GRADIENTS", "check_output_clip", "clip_output"]
