"""Safe resume of a `Trainer` checkpoint: the checkpoint records the Trainer's settings and a
fingerprint of the data (SHA-256 of each tensor's bytes, with its shape and dtype), and a run
that resumes it with other settings or other data is refused with `ResumeMismatchError`, which
lists what differs (``Trainer(resume_mismatch="warn")`` resumes anyway, with a warning).

Not compared: ``epochs`` (a resumed run may be extended), ``max_time``, ``device``, ``progress``,
``checkpoint_path`` and ``resume_mismatch`` itself.
"""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any

import torch

from warp_phys.checkpoint import atomic_save, load_verified
from warp_phys.validation import InputError

#: The `Trainer` attributes a checkpoint records and a resumed run must match.
RESUME_SETTINGS = ("lr", "batch_size", "weight_decay", "grad_clip", "loss", "p_force", "patience", "lr_patience",
                   "lr_factor", "val_n_ctx", "forecast_weight", "forecast_context", "forecast_horizon", "seed",
                   "nan_retries", "p_force_schedule", "p_force_floor", "schedule_epochs",
                   "forecast_horizon_schedule", "feedback_noise", "feedback_passes", "detach_feedback",
                   "nan_validation")


class ResumeMismatchError(InputError):
    """A training checkpoint was written with other settings or data than the run resuming it."""


def _plain(v: Any) -> Any:
    """A JSON-like value that `torch.load(weights_only=True)` reads back unchanged."""
    if isinstance(v, (tuple, list)):
        return [_plain(u) for u in v]
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return float(v)
    return str(v)


def trainer_settings(trainer: Any) -> dict[str, Any]:
    """The ``RESUME_SETTINGS`` of ``trainer`` as plain values (``schedule_epochs``: None without a
    p_force_schedule, where it has no effect), and ``batches_per_epoch`` and ``val_horizon`` when
    set (absent at their defaults, so checkpoints written before they existed still resume)."""
    out = {k: _plain(getattr(trainer, k)) for k in RESUME_SETTINGS}
    if trainer.p_force_schedule is None:
        out["schedule_epochs"] = None
    if getattr(trainer, "batches_per_epoch", None) is not None:
        out["batches_per_epoch"] = int(trainer.batches_per_epoch)
    if getattr(trainer, "val_horizon", None) is not None:
        out["val_horizon"] = int(trainer.val_horizon)
    return out


def data_fingerprint(**tensors: torch.Tensor | None) -> dict[str, Any]:
    """{name: {"shape", "dtype", "sha256"}} of CPU tensors (None: "none"); cheap (one pass over the bytes)."""
    out: dict[str, Any] = {}
    for name, t in tensors.items():
        if t is None:
            out[name] = "none"
            continue
        a = t.detach().cpu().contiguous()
        digest = hashlib.sha256(a.reshape(-1).view(torch.uint8).numpy())
        out[name] = {"shape": list(a.shape), "dtype": str(a.dtype).replace("torch.", ""),
                     "sha256": digest.hexdigest()}
    return out


def _show(v: Any) -> str:
    if isinstance(v, dict) and "sha256" in v:
        return f"shape {tuple(v['shape'])} {v['dtype']} sha256 {v['sha256'][:12]}"
    return repr(v)


def differences(ck: dict[str, Any], settings: dict[str, Any], fingerprint: dict[str, Any]) -> list[str]:
    """Lines "name: checkpoint A, now B" for each recorded setting or data tensor that differs."""
    if "settings" not in ck or "data" not in ck:
        return ["the checkpoint records no settings or data fingerprint (written by an older warp_phys)"]
    lines = []
    for recorded, now in ((ck["settings"], settings), (ck["data"], fingerprint)):
        for key in sorted(set(recorded) | set(now)):
            a, b = recorded.get(key, "absent"), now.get(key, "absent")
            if a != b:
                lines.append(f"{key}: checkpoint {_show(a)}, now {_show(b)}")
    return lines


def model_differences(saved: dict[str, torch.Tensor], model: torch.nn.Module) -> list[str]:
    """Lines naming each parameter or buffer whose shape differs between a checkpoint's state dict
    ``saved`` and ``model``, or that only one of them has."""
    now = model.state_dict()
    lines = [f"{k}: checkpoint shape {tuple(saved[k].shape)}, model {tuple(now[k].shape)}"
             for k in saved if k in now and tuple(saved[k].shape) != tuple(now[k].shape)]
    lines += [f"{k}: only in the checkpoint" for k in saved if k not in now]
    return lines + [f"{k}: only in the model" for k in now if k not in saved]


def check_resume(ck: dict[str, Any], settings: dict[str, Any], fingerprint: dict[str, Any], *,
                 mode: str, path: str | Path, model: torch.nn.Module | None = None) -> None:
    """ResumeMismatchError (``mode`` "error") or a RuntimeWarning (``mode`` "warn") listing what
    differs between the checkpoint ``ck`` and the run's ``settings`` and data ``fingerprint``.
    A checkpoint of another ``model`` configuration (other parameter shapes) cannot be resumed:
    ResumeMismatchError whatever the mode."""
    shapes = model_differences(ck.get("model", {}), model) if model is not None else []
    if shapes:
        raise ResumeMismatchError(
            f"checkpoint_path={str(path)!r} holds the weights of another model configuration:\n  "
            + "\n  ".join(shapes[:8]) + (f"\n  ... ({len(shapes) - 8} more)" if len(shapes) > 8 else "")
            + "\nFix: build the model with the settings the run was started with (width, depth, rank, "
            "transition, prior), or delete the file or pick another checkpoint_path to start afresh")
    diff = differences(ck, settings, fingerprint)
    if not diff:
        return
    listing = "\n  ".join(diff)
    if mode == "warn":
        warnings.warn(f"resuming checkpoint {str(path)!r} although it was written with other settings or data "
                      f"(resume_mismatch='warn'):\n  {listing}\nThe checkpoint's parameters, optimiser state "
                      "(its lr included) and random state are kept; the other settings are this Trainer's.",
                      RuntimeWarning, stacklevel=3)
        return
    raise ResumeMismatchError(
        f"checkpoint_path={str(path)!r} holds a run with other settings or data than this one, so resuming it "
        f"would silently mix the two:\n  {listing}\nFix: use the settings and data it was started with, delete "
        "the file or pick another checkpoint_path to start afresh, or pass resume_mismatch='warn' to resume "
        "it anyway")


def save_checkpoint(path: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                    generator: torch.Generator, epoch: int, history: dict[str, Any], bad_epochs: int, done: bool,
                    best_state: dict[str, torch.Tensor], settings: dict[str, Any],
                    fingerprint: dict[str, Any] | None) -> None:
    """Write a `Trainer` checkpoint atomically: the model, optimiser, lr scheduler and random
    state after ``epoch`` epochs, the history (a dict), the early-stopping counter, the best
    parameters so far (on the CPU), the settings and the data fingerprint."""
    atomic_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "rng": generator.get_state(), "epoch": epoch,
                 "history": history, "bad_epochs": bad_epochs, "done": done,
                 "best_state": {k: v.cpu() for k, v in best_state.items()},
                 "settings": settings, "data": fingerprint}, path)


def load_checkpoint(path: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                    generator: torch.Generator, settings: dict[str, Any], fingerprint: dict[str, Any] | None,
                    mode: str, device: torch.device) -> dict[str, Any]:
    """Resume a checkpoint written by `save_checkpoint`: check it against this run (`check_resume`),
    load the model, optimiser, scheduler and random state in place, and return
    {"history" (dict), "best_state" (on ``device``), "bad_epochs", "epoch", "done"}."""
    ck = load_verified(path)
    check_resume(ck, settings, fingerprint, mode=mode, path=path, model=model)
    model.load_state_dict(ck["model"])
    optimizer.load_state_dict(ck["optimizer"])
    scheduler.load_state_dict(ck["scheduler"])
    generator.set_state(ck["rng"])
    return {"history": ck["history"], "best_state": {k: v.to(device) for k, v in ck["best_state"].items()},
            "bad_epochs": ck["bad_epochs"], "epoch": ck["epoch"], "done": ck["done"]}


__all__ = ["RESUME_SETTINGS", "ResumeMismatchError", "check_resume", "data_fingerprint", "differences",
           "load_checkpoint", "model_differences", "save_checkpoint", "trainer_settings"]
