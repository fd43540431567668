"""Small helpers shared by the benchmark scripts: machine description and Markdown tables."""
from __future__ import annotations

import datetime as _dt
import os
import platform
from typing import Any, Sequence

import numpy as np


def machine_info(device: Any = None) -> dict[str, Any]:
    """Date (UTC), platform, CPU count, Python/torch versions, the torch thread count and the
    device (name of the GPU when CUDA), as a JSON-friendly dict."""
    import torch

    info: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": str(device) if device is not None else "cpu",
    }
    if device is not None and str(device).startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    try:
        info["load_average_1min"] = round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        pass
    return info


def format_machine(info: dict[str, Any]) -> str:
    """One Markdown bullet per entry of `machine_info`."""
    return "\n".join(f"- {k}: {v}" for k, v in info.items())


def mean_std(values: Sequence[float], unit: float = 1.0, digits: int = 3) -> str:
    """'mean ± std' of ``values / unit`` (std over the values, ddof=0; just the value when
    there is one); '—' for an empty sequence, 'nan' when any value is not finite."""
    if len(values) == 0:
        return "—"
    v = np.asarray(values, dtype=np.float64) / unit
    if not np.all(np.isfinite(v)):
        return "nan"
    m = f"{v.mean():.{digits}g}"
    return m if v.size == 1 else f"{m} ± {v.std():.{digits - 1 if digits > 1 else 1}g}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub Markdown table (cells converted with str)."""
    lines = ["| " + " | ".join(map(str, headers)) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines)
