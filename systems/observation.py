"""Noisy observations of simulated trajectories: what an instrument would have recorded.

    >>> from warp_phys import systems
    >>> ds = systems.get("lorenz").simulate(8, (0.0, 2.0), 101, params="train", seed=0)
    >>> noisy = systems.observe(ds, 0.01, seed=1)                 # 1 % of each variable's std
    >>> ctx_only = systems.observe(ds, 0.05, seed=1, steps=50)     # the first 50 steps only

The noise is Gaussian, independent across trajectories, steps and variables, with standard
deviation ``noise * scale`` per variable (``scale``: each variable's std, by default that of
the Dataset itself). The clean states are not kept: simulate again with the same seed for them.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from warp_phys.validation import InputError, check_int, check_number, check_seed

STATE_DIMS = ("trajectory", "time", "variable")


def observation_scale(ds: xr.Dataset) -> np.ndarray:
    """(variable,) the standard deviation of each state variable over trajectories and time,
    in the state's units: the default reference of `observe`'s relative noise level."""
    _check_state(ds)
    return ds["state"].std(("trajectory", "time")).transpose("variable").values.astype(np.float64)


def observe(ds: xr.Dataset, noise: float, *, seed: int, scale: Any = None, steps: int | None = None) -> xr.Dataset:
    """A copy of ``ds`` whose ``state(trajectory, time, variable)`` carries observation noise.

    ``noise``: the noise standard deviation as a fraction of ``scale`` (>= 0; 0 returns ``ds``
    itself). ``scale``: (variable,) reference standard deviations in the state's units (None:
    `observation_scale` of ``ds``; pass the training split's to give every split the same
    noise). ``steps``: only the first ``steps`` time steps get noise (e.g. a forecast's
    context, so that the scored future stays the true state); None: every step. ``seed``: the
    noise's seed. The global attributes record the level, the absolute std per variable and
    the noisy steps (``observation_noise``, ``observation_noise_std``, ``observation_noise_steps``).
    """
    _check_state(ds)
    noise = check_number(noise, "noise", minimum=0.0)
    seed = check_seed(seed)
    if noise == 0.0:
        return ds
    n_traj, n_time, n_var = (ds.sizes[d] for d in STATE_DIMS)
    std = observation_scale(ds) if scale is None else np.asarray(scale, dtype=np.float64)
    if std.shape != (n_var,) or not np.all(np.isfinite(std)) or np.any(std < 0):
        raise InputError(f"scale must be {n_var} finite, non-negative standard deviations (one per variable), "
                         f"got {scale!r}")
    n_noisy = n_time if steps is None else check_int(steps, "steps", minimum=0)
    if n_noisy > n_time:
        raise InputError(f"steps={n_noisy} is more than the {n_time} time steps of the data")
    state = ds["state"].transpose(*STATE_DIMS)
    values = state.values.astype(np.float64, copy=True)
    rng = np.random.default_rng(seed)
    values[:, :n_noisy] += rng.standard_normal((n_traj, n_noisy, n_var)) * (noise * std)
    out = ds.assign(state=(STATE_DIMS, values, dict(state.attrs)))
    out["state"] = out["state"].transpose(*ds["state"].dims)
    out.attrs.update(observation_noise=noise, observation_noise_std=[float(s) for s in noise * std],
                     observation_noise_steps=int(n_noisy),
                     observation_noise_description=(
                         f"Gaussian noise of std {noise:g} x each variable's reference std added to the state "
                         + ("at every step" if n_noisy == n_time else f"at its first {n_noisy} steps only")))
    return out


def _check_state(ds: Any) -> None:
    if not isinstance(ds, xr.Dataset) or "state" not in ds or set(ds["state"].dims) != set(STATE_DIMS):
        raise InputError("expected an xarray Dataset with state(trajectory, time, variable), as a system's "
                         f"simulate() returns; got {type(ds).__name__}")


__all__ = ["observation_scale", "observe"]
