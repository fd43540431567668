"""warp_phys: physics-informed reconstruction of dynamical systems with WARP.

Main entry point: ``warp_phys.reconstruct(system="lorenz")``.
"""
from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__

_LAZY = {
    "reconstruct": ("warp_phys.workflow", "reconstruct"),
    "Reconstruction": ("warp_phys.pipeline", "Reconstruction"),
    "WARP": ("warp_phys.model", "WARP"),
    "Trainer": ("warp_phys.training", "Trainer"),
    "save_model": ("warp_phys.checkpoint", "save_model"),
    "load_model": ("warp_phys.checkpoint", "load_model"),
    "to_netcdf": ("warp_phys.io", "to_netcdf"),
    "open_trajectories": ("warp_phys.io", "open_trajectories"),
    "lyapunov_exponents": ("warp_phys.lyapunov", "lyapunov_exponents"),
    "SequenceClassifier": ("warp_phys.classification", "SequenceClassifier"),
    "complete": ("warp_phys.completion", "complete"),
    "ensemble": ("warp_phys.pipeline.ensemble", "ensemble"),
    "simulate_to_zarr": ("warp_phys.sharded", "simulate_to_zarr"),
    # the errors and warnings a user may catch (what each means: README "Errors and guarantees")
    "InputError": ("warp_phys.validation", "InputError"),
    "TrainingFailedError": ("warp_phys.training_guard", "TrainingFailedError"),
    "ResumeMismatchError": ("warp_phys.training_resume", "ResumeMismatchError"),
    "CorruptFileError": ("warp_phys.atomic", "CorruptFileError"),
    "UnverifiedFileWarning": ("warp_phys.atomic", "UnverifiedFileWarning"),
    "SolverBudgetError": ("warp_phys.systems", "SolverBudgetError"),
    "SimulationError": ("warp_phys.systems", "SimulationError"),
}
_SUBMODULES = {"systems", "priors", "baselines", "classification", "io", "metrics", "plotting"}

__all__ = ["__version__", *_LAZY, *sorted(_SUBMODULES)]


def __getattr__(name: str) -> Any:  # lazy: `import warp_phys` stays fast and light
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name in _SUBMODULES:
        return importlib.import_module(f"warp_phys.{name}")
    raise AttributeError(f"module 'warp_phys' has no attribute {name!r}")
