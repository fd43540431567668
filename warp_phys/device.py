"""Device selection shared by every part of the package."""
from __future__ import annotations

import torch

from warp_phys.validation import InputError


def available_devices() -> list[str]:
    """The device names this machine can run on: "auto", "cpu", and "cuda", "cuda:0", ... / "mps"
    when present."""
    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        names += ["cuda", *(f"cuda:{i}" for i in range(torch.cuda.device_count()))]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Return a torch device; ``"auto"`` (or None) picks CUDA when present, else CPU.

    Raises InputError (a ValueError) naming the devices available for a name torch does not
    know, a CUDA/MPS request on a machine without it, or a CUDA index beyond the GPUs present.
    """
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise InputError(f"device must be a device name (str) or torch.device, got {device!r} "
                         f"({type(device).__name__}); available: {available_devices()}")
    try:
        dev = torch.device(device.strip() if isinstance(device, str) else device)
    except (RuntimeError, ValueError, TypeError):
        raise InputError(f"device={str(device)!r} is not a device; choose one of {available_devices()}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device={str(device)!r} was requested but CUDA is not available on this machine; "
                             f"use device='cpu' or 'auto' (available: {available_devices()})")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(f"device={str(device)!r}: this machine has {torch.cuda.device_count()} CUDA device(s); "
                             f"choose one of {available_devices()}")
    elif dev.type == "mps" and "mps" not in available_devices():
        raise InputError(f"device={str(device)!r} was requested but MPS is not available; "
                         f"choose one of {available_devices()}")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"device={str(device)!r} is not supported by warp_phys; choose one of {available_devices()}")
    return dev
