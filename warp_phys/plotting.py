"""Plots of reconstructions: truth vs forecast per variable, and a phase portrait.

Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot global state),
so they work under any backend, including headless Agg; save with ``fig.savefig(path)``.
"""
from __future__ import annotations

import json

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

TRUTH_COLOR = "black"
FORECAST_COLOR = "tab:red"
BASELINE_COLORS = ("tab:green", "tab:purple", "tab:olive")  # the classical forecasts of the user's data
CONTEXT_COLOR = "0.85"


def _time_axis(ds: xr.Dataset, one: xr.Dataset) -> tuple[np.ndarray, str, bool]:
    """(x values (T,), axis label, dates?) of one trajectory: the record's own times for the
    windows of a measured series (``record_time``; dates stay dates), else ``time``."""
    if "record_time" in one.coords:
        x = np.asarray(one["record_time"].values)
        if x.dtype.kind == "M":
            return x, "date", True
        if x.dtype.kind == "m":
            return x / np.timedelta64(1, "s"), "time in the record [s]", False
        units = str(one["record_time"].attrs.get("units", ""))
        return x.astype(np.float64), f"time [{units}]" if units and units != "1" else "time", False
    t_units = ds["time"].attrs.get("units", "")
    return np.asarray(ds["time"].values, dtype=np.float64), f"time [{t_units}]" if t_units else "time", False


def _date_ticks(ax) -> None:
    """Concise date labels on the x axis."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def plot_reconstruction(ds: xr.Dataset, trajectory: int = 0, *, title: str | None = None,
                        phase: bool | None = None, baselines: bool = True) -> Figure:
    """Truth vs forecast for one trajectory of a reconstruction Dataset.

    One panel per variable (truth, forecast mean, a ±2 std band where ``prediction_std``
    is non-zero, the context shaded), plus a phase portrait (2-D, or 3-D with a 3-D
    axis) when the system has 2 or 3 variables (``phase=None``) or when asked.
    ``ds`` needs ``state``, ``prediction_mean`` (trajectory, time, variable), ``context``
    (time); ``prediction_std`` is optional. Windows of a measured series (a ``record_time``
    coordinate) are drawn on the record's time axis, with date labels when it holds dates.
    ``baselines``: draw the classical forecasts (``baseline_mean``, present for the user's data)
    after the context as thin lines.
    """
    n_traj = ds.sizes["trajectory"]
    if not -n_traj <= trajectory < n_traj:
        raise ValueError(f"trajectory={trajectory} is out of range: the dataset has {n_traj} trajectories")
    one = ds.isel(trajectory=trajectory)
    names = [str(v) for v in ds["variable"].values]
    d = len(names)
    t, x_label, dates = _time_axis(ds, one)
    ctx = np.asarray(one["context"].values).astype(bool)
    n_ctx = int(ctx.sum())
    truth = np.asarray(one["state"].transpose("time", "variable").values, dtype=np.float64)
    mean = np.asarray(one["prediction_mean"].transpose("time", "variable").values, dtype=np.float64)
    std = (np.asarray(one["prediction_std"].transpose("time", "variable").values, dtype=np.float64)
           if "prediction_std" in one else np.zeros_like(mean))
    if phase is None:
        phase = d in (2, 3)
    phase = bool(phase) and d >= 2

    n_rows = d
    fig = Figure(figsize=(11 if phase else 8, max(2.2 * n_rows, 4.0)), layout="constrained")
    gs = fig.add_gridspec(n_rows, 2 if phase else 1, width_ratios=[1.6, 1] if phase else None)
    axes = []
    for i, name in enumerate(names):
        ax = fig.add_subplot(gs[i, 0], sharex=axes[0] if axes else None)
        axes.append(ax)
        if n_ctx:
            ax.axvspan(t[0], t[n_ctx - 1], color=CONTEXT_COLOR, label="context" if i == 0 else None, lw=0)
        ax.plot(t, truth[:, i], color=TRUTH_COLOR, lw=1.2, label="truth" if i == 0 else None)
        fc = slice(max(n_ctx - 1, 0), None)  # draw the forecast from the last context step
        ax.plot(t[fc], mean[fc, i], color=FORECAST_COLOR, lw=1.2, ls="--",
                label="forecast" if i == 0 else None)
        if baselines and "baseline_mean" in one:
            base_mean = one["baseline_mean"].transpose("baseline", "time", "variable").values
            for k, base in enumerate(one["baseline"].values):
                ax.plot(t[fc], base_mean[k, fc, i], lw=0.9, alpha=0.8,
                        color=BASELINE_COLORS[k % len(BASELINE_COLORS)], label=str(base) if i == 0 else None)
        if np.any(std[fc, i] > 0):
            ax.fill_between(t[fc], mean[fc, i] - 2 * std[fc, i], mean[fc, i] + 2 * std[fc, i],
                            color=FORECAST_COLOR, alpha=0.2, lw=0, label="±2 std" if i == 0 else None)
        unit = str(ds["variable_units"].values[i]) if "variable_units" in ds.coords else None
        ax.set_ylabel(f"{name} [{unit}]" if unit and unit != "1" else name)
        if i < d - 1:
            ax.tick_params(labelbottom=False)
    if dates:
        for ax in axes:
            _date_ticks(ax)
    axes[-1].set_xlabel(x_label)
    axes[0].legend(loc="upper right", fontsize="small", ncol=4)

    if phase:
        if d == 3:
            pax = fig.add_subplot(gs[:, 1], projection="3d")
            pax.plot(*truth.T, color=TRUTH_COLOR, lw=0.8, label="truth")
            pax.plot(*mean[n_ctx - 1:].T, color=FORECAST_COLOR, lw=0.8, ls="--", label="forecast")
            pax.set_zlabel(names[2])
        else:
            pax = fig.add_subplot(gs[:, 1])
            pax.plot(truth[:, 0], truth[:, 1], color=TRUTH_COLOR, lw=0.8, label="truth")
            pax.plot(mean[n_ctx - 1:, 0], mean[n_ctx - 1:, 1], color=FORECAST_COLOR, lw=0.8, ls="--",
                     label="forecast")
        pax.scatter(*truth[n_ctx - 1][: min(d, 3)], color="tab:blue", s=15, label="forecast start", zorder=3)
        pax.set_xlabel(names[0])
        pax.set_ylabel(names[1])
        pax.set_title("phase portrait", fontsize="medium")
        pax.legend(loc="best", fontsize="small")

    if title is None:
        sysname = ds.attrs.get("system", "data")
        model = ds.attrs.get("model", "")
        title = f"{sysname}: {model} forecast, trajectory {trajectory} (context {n_ctx} steps)"
        if ds.attrs.get("split") == "future":
            title = f"{sysname}: {model} forecast beyond the end of the record (context {n_ctx} steps)"
        try:
            vpt = json.loads(ds.attrs.get("metrics", "{}")).get("vpt")
        except (TypeError, ValueError):
            vpt = None
        if vpt is not None:
            title += f"; median VPT of the split = {vpt:.2f} Lyapunov times"
    fig.suptitle(title, fontsize="medium")
    return fig


def save_figure(fig: Figure, path, *, dpi: int = 120) -> None:
    """Save ``fig`` atomically (temporary file in the same directory, then rename); the
    format follows the file suffix (png, pdf, svg, ...)."""
    from pathlib import Path

    from warp_phys.atomic import atomic_write

    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi))
