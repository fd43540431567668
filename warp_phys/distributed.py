"""Data-parallel training with ``torchrun``: `Trainer(distributed="auto")` (the default) trains
with `torch.nn.parallel.DistributedDataParallel` when the process runs under torchrun with
WORLD_SIZE > 1, and exactly as before in a single process.

The rules (`Parallel`, the Trainer's view of the ranks; one process: every method is the identity):

* **Batches.** Every rank draws the same permutation (same generator, same seed) and cuts it into
  the same global batches of ``batch_size``; rank r trains on ``batch[r::world]``. DDP averages
  the ranks' gradients, and each rank's loss is multiplied by ``n_r * world / B`` (n_r: its shard,
  B: the global batch; exactly 1 when B is divisible by the world size), so the update is the
  gradient of the global-batch mean loss, as in one process. A rank whose shard is empty (B <
  world) runs the batch's first trajectory with weight 0, so it still joins the gradient all-reduce.
* **Random draws inside the forward** (p_force < 1, feedback noise) come, under DDP, from a
  generator per rank and epoch (seeded from seed, epoch and rank), so the batch generator stays
  the same on every rank; those draws then differ from a one-process run's (same distribution).
* **Agreement.** The validation score is computed on shards (rank r: ``x_val[r::world]``) and
  all-reduced (a trajectory-weighted mean), the epoch's training loss likewise, a non-finite
  batch loss and the ``max_time`` budget are all-reduced flags: best epoch, lr schedule,
  recovery and stopping are the same on every rank.
* **Same data, every rank.** Every rank calls fit with the same data (checked: each tensor's shape
  and sums are all-reduced, InputError otherwise; a streamed `warp_phys.streaming.TrajectorySource`
  by its shape and trajectory positions: each rank then reads only its shard of every batch from
  disk, and its shard of the validation set); the loss goes through one DDP forward
  (`BatchLoss`: model forward, penalty, forecast loss) with ``find_unused_parameters=True`` (torch
  then warns once per rank when every parameter was used). Devices: device "auto"/"cuda" becomes
  cuda:LOCAL_RANK and the group's backend NCCL; on CPU gloo. The process group, once initialised
  by fit, stays for the life of the process.
* **Files.** Only rank 0 writes checkpoints (the unwrapped model's state dict, no ``module.``
  keys); every rank reads one to resume, so ``checkpoint_path`` must be on a file system all
  ranks see. A checkpoint of any world size resumes under any other (with p_force = 1 and no
  feedback noise the resumed run continues the uninterrupted one: the batch generator is the same).
"""
from __future__ import annotations

import hashlib
import os
from typing import Any, Callable

import torch

from warp_phys.device import resolve_device
from warp_phys.validation import InputError

#: ``Trainer(distributed=...)``: "auto" (DDP under torchrun with WORLD_SIZE > 1 or in an initialised
#: process group of more than one rank), "on" (needs an initialised process group), "off".
DISTRIBUTED = ("auto", "on", "off")


def check_distributed(value: Any) -> str:
    """``value`` if it is one of `DISTRIBUTED`, else InputError."""
    if not isinstance(value, str) or value not in DISTRIBUTED:
        raise InputError(f"distributed={value!r} must be one of {list(DISTRIBUTED)} ('auto': data-parallel "
                         "under torchrun, 'on': in an initialised process group, 'off': one process)")
    return value


def _dist() -> Any:
    import torch.distributed as dist

    return dist if dist.is_available() else None


def initialised() -> bool:
    """True when torch.distributed is available and its default process group is initialised."""
    dist = _dist()
    return dist is not None and dist.is_initialized()


def world_info() -> tuple[int, int, int]:
    """(rank, world size, local rank): from the initialised process group, else from torchrun's
    environment variables (RANK, WORLD_SIZE, LOCAL_RANK), else (0, 1, 0)."""
    local = int(os.environ.get("LOCAL_RANK", "0") or 0)
    if initialised():
        dist = _dist()
        return dist.get_rank(), dist.get_world_size(), local
    return int(os.environ.get("RANK", "0") or 0), int(os.environ.get("WORLD_SIZE", "1") or 1), local


def is_main_process() -> bool:
    """True in a single process and on rank 0 of a distributed run (the one that prints and writes files)."""
    return world_info()[0] == 0


def init_distributed(device: torch.device) -> None:
    """Initialise the default process group from torchrun's environment (``env://``): backend NCCL
    for a CUDA device, gloo otherwise. Does nothing if it is initialised already."""
    if not initialised():
        _dist().init_process_group(backend="nccl" if device.type == "cuda" else "gloo", init_method="env://")


def forward_seed(seed: int, epoch: int, rank: int) -> int:
    """The seed of rank ``rank``'s forward draws in ``epoch`` (a SHA-256 of the three, below 2**63)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{epoch}:{rank}".encode()).digest()[:8], "big") >> 1


class BatchLoss(torch.nn.Module):
    """``loss_fn(model, *args, **kwargs)`` as the forward of a module, so that DDP sees every use
    of the parameters in the loss (forward, penalty, forecast loss) inside its own forward."""

    def __init__(self, model: torch.nn.Module, loss_fn: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.loss_fn(self.model, *args, **kwargs)


class Parallel:
    """The ranks of a `Trainer.fit` run: ``rank``, ``world``, ``device`` (this rank's), ``active``
    (DDP in use) and ``main`` (rank 0). Built by `Parallel.setup`; with one process every method
    returns its input unchanged, so a single-process run is exactly the plain loop."""

    def __init__(self, device: torch.device, rank: int = 0, world: int = 1) -> None:
        self.device, self.rank, self.world = device, rank, world
        self.active, self.main = world > 1, rank == 0
        dist = _dist() if self.active else None
        self._comm = device if dist is not None and dist.get_backend() == "nccl" else torch.device("cpu")

    @classmethod
    def setup(cls, mode: str, device: str | torch.device) -> "Parallel":
        """The ranks for ``Trainer(distributed=mode, device=device)``. "auto": DDP when the process
        group is initialised with more than one rank, or when torchrun's WORLD_SIZE > 1 (the group
        is then initialised here); "on": the process group must be initialised (InputError otherwise);
        "off": one process. Under DDP a CUDA device without an index becomes cuda:LOCAL_RANK."""
        device = resolve_device(device)
        check_distributed(mode)
        if mode == "off":
            return cls(device)
        if mode == "on" and not initialised():
            raise InputError("distributed='on' needs an initialised torch.distributed process group: run under "
                             "torchrun with distributed='auto', or call torch.distributed.init_process_group first")
        if not initialised() and (_dist() is None or world_info()[1] <= 1):
            return cls(device)
        if device.type == "cuda" and device.index is None:
            local = world_info()[2]
            if local >= torch.cuda.device_count():
                raise InputError(f"local rank {local} has no GPU of its own ({torch.cuda.device_count()} on this "
                                 "node): start at most one process per GPU (torchrun --nproc_per_node)")
            device = torch.device("cuda", local)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        init_distributed(device)
        rank, world, _ = world_info()
        if world > 1 and device.type != "cuda" and _dist().get_backend() == "nccl":
            raise InputError(f"the process group uses NCCL, which needs CUDA tensors, but device={str(device)!r}; "
                             "train on device='cuda' or initialise the group with backend 'gloo'")
        return cls(device, rank, world)

    # ------------------------------------------------------------------ batches
    def shard(self, idx: torch.Tensor) -> tuple[torch.Tensor, float, int]:
        """This rank's part of the global batch ``idx``: (indices, loss weight, trajectories counted).
        The weight n_r * world / B makes the DDP gradient average the global-batch mean; an empty
        shard runs idx[:1] with weight 0 and counts 0 trajectories."""
        if not self.active:
            return idx, 1.0, int(idx.shape[0])
        part = idx[self.rank :: self.world]
        n = int(part.shape[0])
        if n == 0:
            return idx[:1], 0.0, 0
        return part, n * self.world / idx.shape[0], n

    def wrap(self, model: torch.nn.Module, loss_fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        """The batch loss ``loss_fn(model, ...)`` as a callable; under DDP through a
        DistributedDataParallel wrapper (``find_unused_parameters=True``: a WARP model or a prior may
        leave parameters out of a forward), so the gradients are all-reduced in backward."""
        if not self.active:
            return lambda *args, **kwargs: loss_fn(model, *args, **kwargs)
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(BatchLoss(model, loss_fn), device_ids=ids, output_device=ids and ids[0],
                                       find_unused_parameters=True)

    def forward_generator(self, gen: torch.Generator, seed: int, epoch: int) -> torch.Generator:
        """The generator of the forward's random draws: ``gen`` in one process, else one per rank and epoch."""
        if not self.active:
            return gen
        return torch.Generator().manual_seed(forward_seed(seed, epoch, self.rank))

    # ------------------------------------------------------------------ agreement
    def _reduce(self, values: list[float], op: str) -> list[float]:
        dist = _dist()
        t = torch.tensor(values, dtype=torch.float64, device=self._comm)
        dist.all_reduce(t, op={"sum": dist.ReduceOp.SUM, "min": dist.ReduceOp.MIN, "max": dist.ReduceOp.MAX}[op])
        return [float(v) for v in t.cpu()]

    def all_true(self, flag: Any) -> bool:
        """``bool(flag)`` on every rank (one process), else True only if it is true on all ranks."""
        flag = bool(flag)
        return flag if not self.active else self._reduce([1.0 if flag else 0.0], "min")[0] > 0.5

    def any_true(self, flag: Any) -> bool:
        """``bool(flag)`` (one process), else True if it is true on any rank."""
        flag = bool(flag)
        return flag if not self.active else self._reduce([1.0 if flag else 0.0], "max")[0] > 0.5

    def same(self, flag: bool, what: str) -> bool:
        """``flag``, checked to be the same on every rank (InputError naming ``what`` otherwise)."""
        if self.active and self.all_true(flag) != self.any_true(flag):
            raise InputError(f"{what} differs between the ranks of a distributed run; put it on a file system "
                             "that every rank sees")
        return flag

    def same_data(self, **tensors: torch.Tensor | None) -> None:
        """InputError unless every rank holds the same tensors (compared by shape and float64 sum):
        each rank indexes the same global batches, so every rank must call fit with the same data."""
        if not self.active:
            return
        for name, t in tensors.items():
            v = [-1.0] if t is None else t.signature() if callable(getattr(t, "signature", None)) else [
                *map(float, t.shape), float(t.double().sum()), float(t.double().abs().sum())]
            v = v + [0.0] * (8 - len(v))
            if self._reduce(v, "min") != self._reduce(v, "max"):
                raise InputError(f"{name} differs between the ranks of a distributed run; every rank must call "
                                 "Trainer.fit with the same data (same seed, same files)")

    def mean(self, total: float, count: int) -> float:
        """total / count summed over the ranks (a trajectory-weighted mean; count 0 gives total / 1)."""
        if self.active:
            total, count = self._reduce([total, float(count)], "sum")
        return total / max(count, 1)

    def evaluate(self, fn: Callable[[torch.Tensor, torch.Tensor | None], float], x: torch.Tensor,
                 y: torch.Tensor | None) -> float:
        """``fn(x, y)`` (a mean over the trajectories of x) in one process; under DDP rank r scores
        ``x[r::world]`` and the ranks' means are all-reduced, weighted by their trajectories."""
        if not self.active:
            return fn(x, y)
        xs, ys = x[self.rank :: self.world], None if y is None else y[self.rank :: self.world]
        n = int(xs.shape[0])
        return self.mean(fn(xs, ys) * n if n else 0.0, n)


__all__ = ["DISTRIBUTED", "BatchLoss", "Parallel", "check_distributed", "forward_seed", "init_distributed",
           "initialised", "is_main_process", "world_info"]
