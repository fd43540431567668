"""Field forecast metrics (numpy in, numpy out).

Shapes: truth, pred (N, T, *space) in physical units; ``context`` observed steps; the
forecast lead time of step t is (t - context + 1) dt (step ``context`` is the first
forecast, one save interval after the last observed snapshot).

relative L2 error of a snapshot:  e = ||pred - truth||_2 / ||truth||_2  over the grid.
"""
from __future__ import annotations

import numpy as np

from warp_phys.metrics import persistence_forecast


def relative_l2(truth, pred) -> np.ndarray:
    """Per-snapshot relative L2 error (N, T) of fields (N, T, *space)."""
    truth, pred = np.asarray(truth, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    if truth.shape != pred.shape or truth.ndim < 3:
        raise ValueError(f"truth and prediction must share a shape (trajectory, time, *space); got "
                         f"{truth.shape} and {pred.shape}")
    axes = tuple(range(2, truth.ndim))
    num = np.sqrt(((pred - truth) ** 2).sum(axes))
    den = np.sqrt((truth**2).sum(axes))
    return num / np.maximum(den, np.finfo(np.float64).tiny)


def persistence_fields(truth, context: int) -> np.ndarray:
    """The persistence forecast: the last observed snapshot held after ``context`` steps
    (`warp_phys.metrics.persistence_forecast` on any number of grid dimensions)."""
    return persistence_forecast(np.asarray(truth, dtype=np.float64), context)


def crossing_step(curve: np.ndarray, level: float) -> int | None:
    """First index where ``curve`` (T,) reaches ``level`` (None if never)."""
    hit = np.nonzero(np.asarray(curve) >= level)[0]
    return int(hit[0]) if hit.size else None


def field_metrics(truth, pred, context: int, *, dt: float, time_scale: float | None,
                  projection=None) -> tuple[dict[str, float], np.ndarray]:
    """Scalar metrics and the relative-error curve (T,) (mean over trajectories).

    Metrics (forecast window = steps >= context): ``mse`` (mean over trajectories, steps and
    grid points), ``rel_l2`` (mean relative L2 error), ``rel_l2_persistence``,
    ``horizon_persistence_50`` (lead time, in time units, where the persistence error first
    reaches 0.5; NaN if never) and ``rel_l2_at_persistence_50`` (the model's error there),
    lead times also in units of ``time_scale`` (``*_scaled``) when given, and
    ``rel_l2_projection`` (error of the truth's own projection onto the basis: the floor).
    """
    truth, pred = np.asarray(truth, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    err = relative_l2(truth, pred)
    pers = relative_l2(truth, persistence_fields(truth, context))
    curve = err.mean(0)
    pcurve = pers.mean(0)
    win = slice(context, None)
    m: dict[str, float] = {
        "mse": float(((pred[:, win] - truth[:, win]) ** 2).mean()),
        "rel_l2": float(curve[win].mean()),
        "rel_l2_persistence": float(pcurve[win].mean()),
        "rel_l2_final": float(curve[-1]),
    }
    k = crossing_step(pcurve[win], 0.5)
    if k is None:
        m["horizon_persistence_50"] = float("nan")
        m["rel_l2_at_persistence_50"] = float("nan")
    else:
        m["horizon_persistence_50"] = float((k + 1) * dt)
        m["rel_l2_at_persistence_50"] = float(curve[context + k])
        if time_scale:
            m["horizon_persistence_50_scaled"] = float((k + 1) * dt / time_scale)
    if projection is not None:
        m["rel_l2_projection"] = float(relative_l2(truth, projection)[:, win].mean())
    return m, curve


def isotropic_spectrum(fields, space_dims: int) -> tuple[np.ndarray, np.ndarray]:
    """Energy spectrum E(k) of fields (..., n) (``space_dims=1``) or (..., n, n) (2) on a
    2 pi-periodic domain, with sum_k E(k) = the domain-mean energy density.

    2-D vorticity: the shell-summed kinetic-energy spectrum
    (``warp_phys.systems.fluids.diagnostics.energy_spectrum``) [m3 s-2]. 1-D u: E(k) =
    1/2 |u_hat_k|^2 folded onto k = 0..n/2 (|u_hat| normalised by n), so sum_k E = <u^2> / 2.
    Returns k (K,) and E (..., K).
    """
    f = np.asarray(fields, dtype=np.float64)
    if space_dims == 2:
        from warp_phys.systems.fluids.diagnostics import energy_spectrum

        k, e = energy_spectrum(f)
        return k.numpy(), e.numpy()
    if space_dims != 1:
        raise ValueError(f"space_dims must be 1 or 2, got {space_dims}")
    n = f.shape[-1]
    e = np.abs(np.fft.rfft(f, axis=-1) / n) ** 2
    last = e.shape[-1] - 1 if n % 2 == 0 else e.shape[-1]   # the Nyquist mode has no mirror
    e[..., 1:last] *= 2
    return np.arange(e.shape[-1], dtype=np.float64), 0.5 * e


__all__ = ["crossing_step", "field_metrics", "isotropic_spectrum", "persistence_fields", "relative_l2"]
