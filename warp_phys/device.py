"""Device selection shared by every part of the package."""
from __future__ import annotations

import torch


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Return a torch device; ``"auto"`` (or None) picks CUDA when present, else CPU.

    Raises ValueError for a CUDA request on a machine without CUDA, naming the fix.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} was requested but CUDA is not available; use device='cpu' or 'auto'")
    return dev
