"""Saving and loading sequence models (WARP and baselines) and atomic file writes.

A model file holds the class's import path ("module:QualName"), its JSON-able ``config``
(constructor keyword arguments) and its ``state_dict``. Priors are stored as
{"name", "options"} and rebuilt with ``warp_phys.priors.get``; a bound system is rebuilt
with ``warp_phys.systems.get`` (both looked up only when needed).
"""
from __future__ import annotations

import copy
import importlib
import os

from pathlib import Path
from typing import Any

import torch

from warp_phys._version import __version__
from warp_phys.atomic import atomic_write
from warp_phys.device import resolve_device

FORMAT = "warp_phys.model/1"


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """torch.save ``obj`` to a temporary file beside ``path``, then rename it into place, so
    that ``path`` is never left half-written."""
    atomic_write(path, lambda tmp: torch.save(obj, tmp), make_parents=True)


def load_verified(path: str | os.PathLike) -> Any:
    """The object that ``atomic_save`` wrote to ``path``, loaded on the CPU (tensors only, no
    pickled code)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def _class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _import_class(path: str) -> type:
    module, _, qualname = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _registry_get(package: str, kind: str, name: str, options: dict[str, Any]) -> Any:
    mod = importlib.import_module(package)
    get = getattr(mod, "get", None)
    if get is None:
        raise ValueError(f"cannot rebuild {kind} {name!r}: {package}.get is not available in this version")
    return get(name, **options)


def _rebuild_prior(spec: dict[str, Any] | None) -> Any:
    if spec is None:
        return None
    if spec.get("name") == "none" and not spec.get("options"):
        from warp_phys.priors.base import Identity
        return Identity()
    return _registry_get("warp_phys.priors", "prior", spec["name"], dict(spec.get("options") or {}))


def _rebuild_bind_context(spec: dict[str, Any] | None) -> Any:
    if spec is None:
        return None
    from warp_phys.priors.base import BindContext
    from warp_phys.scaling import Scaler

    system = None
    if spec.get("system") is not None:
        sys_spec = spec["system"]
        system = _registry_get("warp_phys.systems", "system", sys_spec["name"], dict(sys_spec.get("params") or {}))
    scaler = Scaler(torch.tensor(spec["scaler"]["loc"], dtype=torch.float32),
                    torch.tensor(spec["scaler"]["scale"], dtype=torch.float32))
    return BindContext(n_variables=int(spec["n_variables"]), dt=float(spec["dt"]),
                       duration=float(spec["duration"]), scaler=scaler, system=system)


def model_from_config(class_path: str, config: dict[str, Any]) -> torch.nn.Module:
    """Construct a model of class ``class_path`` from its saved ``config``."""
    cls = _import_class(class_path)
    kwargs = copy.deepcopy(dict(config))
    if "prior" in kwargs:
        kwargs["prior"] = _rebuild_prior(kwargs["prior"])
    if "bind_context" in kwargs:
        kwargs["bind_context"] = _rebuild_bind_context(kwargs["bind_context"])
    return cls(**kwargs)


def model_payload(model: torch.nn.Module) -> dict[str, Any]:
    """The dictionary `save_model` writes (class path, config, CPU state_dict)."""
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise ValueError(f"{type(model).__name__} has no `config` dict of constructor arguments; "
                         f"only models that record their config can be saved")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return {"format": FORMAT, "version": __version__, "class": _class_path(type(model)),
            "config": copy.deepcopy(config), "state_dict": state}


def save_model(model: torch.nn.Module, path: str | os.PathLike) -> None:
    """Save ``model`` (any SequenceModel with a ``config``) to ``path`` atomically."""
    atomic_save(model_payload(model), path)


def model_from_payload(payload: dict[str, Any], device: str | torch.device = "auto") -> torch.nn.Module:
    """Rebuild a model from a `model_payload` dictionary and move it to ``device``."""
    if payload.get("format") != FORMAT:
        raise ValueError(f"not a warp_phys model file (format {payload.get('format')!r}, expected {FORMAT!r})")
    model = model_from_config(payload["class"], payload["config"])
    model.load_state_dict(payload["state_dict"])
    return model.to(resolve_device(device)).eval()


def load_model(path: str | os.PathLike, device: str | torch.device = "auto") -> torch.nn.Module:
    """Load a model written by `save_model`; predictions are bit-identical on the same device."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"model file {str(path)!r} does not exist")
    payload = load_verified(path)
    return model_from_payload(payload, device)
