"""One training epoch of `warp_phys.Trainer.fit`: the minibatches of a permutation, each a
gradient step. An epoch is one pass over the training set, or, with the Trainer's
``batches_per_epoch``, that many batches (`epoch_order`). The data are tensors (N, T, d) in
memory, or a `warp_phys.streaming.TrajectorySource` whose batches are read from disk as they
are needed.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

from warp_phys.streaming import take


def epoch_order(n: int, generator: torch.Generator, *, batch_size: int,
                batches_per_epoch: int | None = None) -> torch.Tensor:
    """The trajectory indices (int64) of one epoch, drawn from ``generator``: a permutation of
    range(n) (one pass), or with ``batches_per_epoch`` the first batches_per_epoch * batch_size
    entries of consecutive permutations (no repeat within an epoch shorter than one pass;
    each trajectory once per full pass in a longer one)."""
    if batches_per_epoch is None:
        return torch.randperm(n, generator=generator)
    want = int(batches_per_epoch) * int(batch_size)
    parts = [torch.randperm(n, generator=generator) for _ in range(-(-want // n))]
    return torch.cat(parts)[:want]


def train_epoch(*, batch_size: int, grad_clip: float | None, batch_loss: Callable[..., torch.Tensor],
                opt: torch.optim.Optimizer, params: list[torch.Tensor], par: Any, x_train: Any, y_train: Any,
                tau: torch.Tensor, perm: torch.Tensor, p_force: float, fgen: torch.Generator,
                horizon: int | None, feedback: dict[str, Any],
                out_of_time: Callable[[], bool]) -> tuple[float, int, bool, str | None]:
    """Train over ``perm`` (the epoch's order of the N training trajectories) in batches of
    ``batch_size`` (this rank's shard of each, `warp_phys.distributed.Parallel.shard`).
    ``y_train`` is x_train itself (the targets are the inputs) or separate targets.
    Returns (sum of batch losses * trajectories, trajectories, timed out, "training" if a batch
    loss was non-finite (the epoch stops there) else None)."""
    total, count, timed_out, bad = 0.0, 0, False, None
    for i in range(0, perm.shape[0], batch_size):
        idx, weight, n = par.shard(perm[i : i + batch_size])  # this rank's part of the batch
        xb = take(x_train, idx)
        loss = batch_loss(xb, xb if y_train is x_train else take(y_train, idx), tau, p_force, fgen, horizon,
                          feedback)
        if not par.all_true(torch.isfinite(loss)):
            bad = "training"
            break
        opt.zero_grad(set_to_none=True)
        (loss if weight == 1.0 else loss * weight).backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        opt.step()
        total += float(loss.detach()) * n
        count += n
        if out_of_time():
            timed_out = True
            break
    return total, count, timed_out, bad


__all__ = ["epoch_order", "train_epoch"]
