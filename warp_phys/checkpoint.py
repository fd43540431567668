"""Saving and loading sequence models (WARP and baselines) and training checkpoints, with
checksums.

A model file holds the class's import path ("module:QualName"), its JSON-able ``config``
(constructor keyword arguments) and its ``state_dict``. Priors are stored as
{"name", "options"} and rebuilt with ``warp_phys.priors.get``; a bound system is rebuilt
with ``warp_phys.systems.get`` (both looked up only when needed).

On disk (`atomic_save`, used by `save_model` and the Trainer's checkpoints) a file is::

    MAGIC (13 bytes: 0x89, "WARPPHYS", CR, LF, 0x1a, LF)
    SHA-256 (32 bytes) of everything after it, i.e. of the body:
    body = format version (uint16, big-endian, 1) | payload size (uint64, big-endian) | payload
    payload = torch.save(obj) bytes

`load_verified` checks the size and the digest before unpickling (``weights_only=True``):
one flipped bit anywhere, a truncated or an empty file raises `CorruptFileError`. Files
written before checksums (plain torch.save files of warp_phys 0.1.0) still load, with an
`UnverifiedFileWarning`; saving them again adds the checksum.
"""
from __future__ import annotations

import copy
import hashlib
import importlib
import io
import os
import pickle
import struct
import warnings
from pathlib import Path
from typing import Any

import torch

from warp_phys._version import __version__
from warp_phys.atomic import (FIX, RESTORE, CorruptFileError, UnverifiedFileWarning, atomic_write,
                              near_signature, sha256_hex)
from warp_phys.device import resolve_device
from warp_phys.validation import InputError

FORMAT = "warp_phys.model/1"
MAGIC = b"\x89WARPPHYS\r\n\x1a\n"
FILE_VERSION = 1
_BODY_HEAD = struct.Struct(">HQ")  # format version, payload size
_HEADER = len(MAGIC) + 32 + _BODY_HEAD.size


def atomic_save(obj: Any, path: str | os.PathLike, *, overwrite: bool = True) -> None:
    """torch.save ``obj`` with a SHA-256 header to a temporary file beside ``path``, then move
    it into place, so that ``path`` is never left half-written (format: module docstring)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    payload = buf.getbuffer()
    head = _BODY_HEAD.pack(FILE_VERSION, payload.nbytes)
    digest = hashlib.sha256(head)
    digest.update(payload)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(MAGIC + digest.digest() + head)
            fh.write(payload)

    atomic_write(path, write, make_parents=True, overwrite=overwrite)


def _torch_load(data: Any, path: Path, verified: bool) -> Any:
    """torch.load (weights only, on the CPU) with errors that name the file and the fix."""
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except MemoryError:
        raise
    except Exception as err:  # noqa: BLE001 - a damaged zip/pickle raises many kinds
        reason = f"{type(err).__name__}: {str(err)[:120]}"
        if isinstance(err, pickle.UnpicklingError) and "eights only" in str(err):
            raise InputError(f"{path} holds pickled Python objects that are not tensors or plain "
                             f"containers; warp_phys loads only those (weights_only=True) for safety. "
                             f"Re-create the file with warp_phys.save_model") from None
        if verified:  # the checksum matched: not damage, an unreadable payload
            raise InputError(f"{path} passed its checksum but torch cannot read its payload ({reason}); it "
                             f"was written by an incompatible torch or warp_phys version: re-create it") from None
        raise CorruptFileError(f"{path} cannot be read as a torch file ({reason}); it has no checksum (older "
                               f"format): it is probably truncated or damaged; {RESTORE}", path=path) from None


def load_verified(path: str | os.PathLike) -> Any:
    """The object that ``atomic_save`` wrote to ``path``, after checking its size and SHA-256,
    loaded on the CPU (tensors only, no pickled code).

    Raises FileNotFoundError, `CorruptFileError` (damaged, truncated, empty) or `InputError`
    (not a warp_phys file). Older files without a checksum load with an `UnverifiedFileWarning`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    data = memoryview(path.read_bytes())
    if len(data) == 0:
        raise CorruptFileError(f"{path} is empty (0 bytes): it was never completely written or was "
                               f"truncated; {FIX}", path=path)
    head = bytes(data[:len(MAGIC)])
    if head == MAGIC or near_signature(head, MAGIC):
        if head != MAGIC:
            raise CorruptFileError(f"{path} has a damaged header (its signature {head!r} has flipped bits); "
                                   f"{FIX}", path=path)
        if len(data) < _HEADER:
            raise CorruptFileError(f"{path} is truncated: {len(data)} bytes, shorter than its "
                                   f"{_HEADER}-byte header; {FIX}", path=path)
        expected = bytes(data[len(MAGIC):len(MAGIC) + 32]).hex()
        body = data[len(MAGIC) + 32:]
        version, size = _BODY_HEAD.unpack(body[:_BODY_HEAD.size])
        found = len(body) - _BODY_HEAD.size
        if found != size:
            what = "truncated" if found < size else "longer than written"
            raise CorruptFileError(f"{path} is {what}: it holds {found} payload bytes, its header declares "
                                   f"{size}; {FIX}", path=path)
        actual = sha256_hex(body)
        if actual != expected:
            raise CorruptFileError(f"{path} failed its SHA-256 check (expected {expected}, got {actual}): "
                                   f"{FIX}", path=path, expected=expected, actual=actual)
        if version != FILE_VERSION:
            raise InputError(f"{path} has file format version {version}; this warp_phys ({__version__}) "
                             f"reads version {FILE_VERSION}: upgrade warp_phys to load it")
        return _torch_load(body[_BODY_HEAD.size:], path, verified=True)
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":  # plain torch.save (zip or legacy pickle)
        warnings.warn(f"{path} has no checksum (written by warp_phys 0.1.0 or plain torch.save); it is "
                      f"loaded without an integrity check. Save it again (save_model(load_model(path), "
                      f"path)) to add one", UnverifiedFileWarning, stacklevel=3)
        return _torch_load(data, path, verified=False)
    raise InputError(f"{path} is not a warp_phys model or checkpoint file (it starts with "
                     f"{bytes(data[:16])!r}); pass a file written by warp_phys.save_model or a Trainer "
                     f"checkpoint (if it was one, {FIX})")


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


def save_model(model: torch.nn.Module, path: str | os.PathLike, *, overwrite: bool = True) -> None:
    """Save ``model`` (any SequenceModel with a ``config``) to ``path`` atomically, with a
    SHA-256 checksum. ``overwrite=False`` raises FileExistsError if ``path`` exists."""
    atomic_save(model_payload(model), path, overwrite=overwrite)


def _check_state(model: torch.nn.Module, state: dict[str, Any], source: str) -> None:
    """InputError naming the differences when ``state`` does not fit ``model``."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    shapes = [f"{k!r}: saved {tuple(state[k].shape)}, model {tuple(v.shape)}" for k, v in expected.items()
              if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(v.shape)]
    if not (missing or extra or shapes):
        return
    parts = []
    if shapes:
        parts.append(f"{len(shapes)} tensor shapes differ ({'; '.join(shapes[:3])})")
    if missing:
        parts.append(f"{len(missing)} tensors missing ({', '.join(missing[:3])})")
    if extra:
        parts.append(f"{len(extra)} unexpected tensors ({', '.join(extra[:3])})")
    raise InputError(f"the weights in {source} do not fit the {type(model).__name__} that its config "
                     f"builds: {'; '.join(parts)}. The weights belong to another model configuration "
                     f"(or the file was edited); re-create the file with save_model from the trained model")


def model_from_payload(payload: dict[str, Any], device: str | torch.device = "auto", *,
                       source: str = "the payload") -> torch.nn.Module:
    """Rebuild a model from a `model_payload` dictionary and move it to ``device``. ``source``
    (e.g. the file name) is named in errors."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        fmt = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        hint = (" (it is a training checkpoint: resume it with Trainer(checkpoint_path=...))"
                if isinstance(payload, dict) and "optimizer" in payload else "")
        raise InputError(f"{source} is not a warp_phys model file (format {fmt!r}, expected {FORMAT!r}){hint}; "
                         f"pass a file written by warp_phys.save_model")
    missing = [k for k in ("class", "config", "state_dict") if k not in payload]
    if missing:
        raise InputError(f"{source} lacks {missing} of a warp_phys model file; re-create it with save_model")
    try:
        model = model_from_config(payload["class"], payload["config"])
    except (ImportError, AttributeError) as err:
        raise InputError(f"{source}: model class {payload['class']!r} is not available in warp_phys "
                         f"{__version__} ({err}); load it with the warp_phys version that wrote it") from None
    except TypeError as err:
        raise InputError(f"{source}: its config does not fit {payload['class']} in warp_phys {__version__} "
                         f"({err}); load it with the warp_phys version that wrote it") from None
    _check_state(model, payload["state_dict"], source)
    model.load_state_dict(payload["state_dict"])
    return model.to(resolve_device(device)).eval()


def load_model(path: str | os.PathLike, device: str | torch.device = "auto") -> torch.nn.Module:
    """Load a model written by `save_model`, after verifying its checksum; predictions are
    bit-identical on the same device. Raises `CorruptFileError` for a damaged file."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"model file {str(path)!r} does not exist; check the path (save_model writes it)")
    if path.is_dir():
        raise InputError(f"model file {str(path)!r} is a directory; pass the file save_model wrote")
    return model_from_payload(load_verified(path), device, source=str(path))
