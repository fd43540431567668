"""JSON-able descriptions of a WARP model's settings (its ``config``): values, the prior, the bind context."""
from __future__ import annotations

from typing import Any

import torch

from warp_phys.priors.base import BindContext, Prior


def _jsonable(value: Any) -> Any:
    """Convert tensors / numpy scalars / containers to plain JSON-able Python values."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().tolist()
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return value.tolist()
    return value


def bind_context_to_config(ctx: BindContext) -> dict[str, Any]:
    """JSON-able description of a BindContext (the system by name and parameters)."""
    system = None
    if ctx.system is not None:
        params = dict(getattr(ctx.system, "params", {}) or {})
        options = getattr(ctx.system, "options", None)  # structural options, e.g. Lorenz-96's N
        if callable(options):
            params.update(options())
        system = {"name": getattr(ctx.system, "name", type(ctx.system).__name__), "params": _jsonable(params)}
    return {"n_variables": int(ctx.n_variables), "dt": float(ctx.dt), "duration": float(ctx.duration),
            "scaler": {"loc": _jsonable(ctx.scaler.loc), "scale": _jsonable(ctx.scaler.scale)},
            "system": system}


def prior_to_config(prior: Prior | None) -> dict[str, Any] | None:
    """{"name", "options"} of a prior (options from ``prior.options`` when it has them)."""
    if prior is None:
        return None
    return {"name": prior.name, "options": _jsonable(dict(getattr(prior, "options", {}) or {}))}


__all__ = ["bind_context_to_config", "prior_to_config"]
