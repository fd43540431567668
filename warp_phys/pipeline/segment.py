"""The segment-repeat task (the WARP paper's Lotka-Volterra benchmark) on the pipeline's parts.

    simulate (protocol with task="segment_repeat") -> systems.segment_repeat per split
    -> min-max scale (training bounds) -> build model -> Trainer.fit(x, y) selected on the
    validation one-step loss -> score every step t >= 1 of the test split

The same models, recipes, options and seeds as ``reconstruct``; the difference is the data:
the model reads the inputs (a segment then zeros) and is scored against the targets (the
segment repeated), all teacher forced (the inputs are given at every step).
"""
from __future__ import annotations

import time as _time
from typing import Any

import numpy as np
import torch

from warp_phys.data import normalised_time
from warp_phys.device import resolve_device

from .engine import train
from .jobs import plan_system, simulate_system
from .models import build_model
from .sources import Splits, derive_seed

_SALT = (104729,)  # keeps the segment-length draws apart from the simulation seeds


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(a, dtype=torch.float32)


def _mse(pred: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean((pred[:, 1:] - target[:, 1:]) ** 2))


def segment_task(system: Any, *, model: str = "warp", protocol: str = "paper_segment", seed: int = 0,
                 options: dict[str, Any] | None = None, splits: Splits | None = None,
                 device: str = "auto", progress: bool = True) -> dict[str, Any]:
    """Train ``model`` on ``system``'s segment-repeat ``protocol`` and score it on the test split.

    ``options``: ``reconstruct``'s recipe, size and model options (n_train, epochs, max_time,
    width, ...). ``splits``: simulated splits of that protocol (`simulate_system`) to share
    between models. Returns {"mse", "zero_mse", "hold_mse", "history", "model", "bounds"}: MSE
    over every step t >= 1 in min-max units (the training split's (min, max)); "zero" predicts
    0, "hold" repeats the previous input (inputs[:, t - 1]).
    """
    from warp_phys.systems import minmax_bounds, minmax_scale, segment_repeat

    t0 = _time.perf_counter()
    recipe, proto, spec = plan_system(system, model=model, prior=None, protocol=protocol, seed=seed,
                                      options=options)
    if proto.task != "segment_repeat":
        raise ValueError(f"protocol {proto.name!r} is a {proto.task!r} task; segment_task needs one with "
                         f"task='segment_repeat' (lotka_volterra: 'paper_segment')")
    if splits is None:
        splits = simulate_system(system, recipe, proto, seed)
    raw = {name: ds["state"].transpose("trajectory", "time", "variable").values
           for name, ds in (("train", splits.train), ("val", splits.val), ("test", splits.tests["test"]))}
    bounds = minmax_bounds(raw["train"])
    tasks = {name: segment_repeat(minmax_scale(x, bounds), derive_seed(seed, k, salt=_SALT))
             for k, (name, x) in enumerate(raw.items())}
    dev = resolve_device(device)
    tau = normalised_time(splits.train["time"].values)
    net = build_model(spec, raw["train"].shape[-1], None)
    history = train(net, _tensor(tasks["train"].inputs), tau, _tensor(tasks["val"].inputs), recipe,
                    context=1, output=spec.output, seed=seed, device=dev, progress=progress,
                    targets=(_tensor(tasks["train"].targets), _tensor(tasks["val"].targets)))
    test = tasks["test"]
    net = net.to(dev).eval()
    with torch.no_grad():
        pred = np.concatenate([net(_tensor(test.inputs[i:i + 256]).to(dev), tau.to(dev)).mean.cpu().numpy()
                               for i in range(0, test.inputs.shape[0], 256)])
    hold = np.concatenate([np.zeros_like(test.inputs[:, :1]), test.inputs[:, :-1]], axis=1)
    return {"mse": _mse(pred, test.targets), "zero_mse": _mse(np.zeros_like(pred), test.targets),
            "hold_mse": _mse(hold, test.targets), "history": history, "model": net, "bounds": bounds,
            "wall_s": _time.perf_counter() - t0}


__all__ = ["segment_task"]
