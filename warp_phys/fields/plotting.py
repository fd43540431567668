"""Figures of field reconstructions: truth vs forecast snapshots and energy spectra E(k)."""
from __future__ import annotations

import numpy as np
import xarray as xr

from .data import field_name
from .metrics import isotropic_spectrum


def plot_field_reconstruction(ds: xr.Dataset, trajectory: int = 0, *, n_times: int = 4):
    """Figure for one test window of a `FieldReconstruction` dataset.

    2-D fields: rows truth / forecast / difference at ``n_times`` lead times spread over the
    forecast window, plus a column with E(k) of truth and forecast at those times (log-log)
    and the relative L2 error vs time. 1-D fields: space-time diagrams of truth, forecast
    and difference, E(k) and the error curve. Returns a matplotlib Figure.
    """
    import matplotlib

    matplotlib.use(matplotlib.get_backend())
    import matplotlib.pyplot as plt

    name = field_name(ds)
    N = ds.sizes["trajectory"]
    if not 0 <= trajectory < N:
        raise ValueError(f"trajectory must be in [0, {N - 1}], got {trajectory}")
    truth = ds[name].isel(trajectory=trajectory).values
    pred = ds["prediction_mean"].isel(trajectory=trajectory).values
    t = ds["time"].values
    ctx = int(ds["context"].values.sum())
    T = t.shape[0]
    err_curve = ds["relative_l2_error"].mean("trajectory").values
    units = ds[name].attrs.get("units", "1")
    space = ds[name].ndim - 2
    if space == 2:
        steps = np.unique(np.linspace(ctx, T - 1, max(1, n_times)).round().astype(int))
        fig, axes = plt.subplots(3, len(steps) + 1, figsize=(3.0 * (len(steps) + 1), 8.4), squeeze=False,
                                 layout="constrained")
        vmax = float(np.abs(truth[steps]).max())
        for j, s in enumerate(steps):
            for i, (arr, label) in enumerate(((truth[s], "truth"), (pred[s], "forecast"),
                                              (pred[s] - truth[s], "forecast - truth"))):
                ax = axes[i, j]
                im = ax.imshow(arr, origin="lower", cmap="RdBu_r", vmin=-vmax, vmax=vmax,
                               extent=(0, 2 * np.pi, 0, 2 * np.pi))
                ax.set_xticks([])
                ax.set_yticks([])
                if j == 0:
                    ax.set_ylabel(label)
                if i == 0:
                    ax.set_title(f"lead {t[s] - t[ctx - 1]:.3g} {ds['time'].attrs.get('units', '')}",
                                 fontsize="small")
        fig.colorbar(im, ax=axes[:, : len(steps)].ravel().tolist(), shrink=0.6, label=f"{name} [{units}]")
        ax = axes[0, -1]
        for k_, s in enumerate(steps):
            k, e_t = isotropic_spectrum(truth[s], 2)
            _, e_p = isotropic_spectrum(pred[s], 2)
            c = plt.cm.viridis(k_ / max(1, len(steps) - 1))
            ax.loglog(k[1:], np.maximum(e_t[1:], 1e-12 * e_t[1:].max()), color=c, lw=1.5)
            ax.loglog(k[1:], np.maximum(e_p[1:], 1e-12 * e_t[1:].max()), color=c, lw=1, ls="--")
        ax.set_xlabel("k")
        ax.set_title("E(k): truth (solid), forecast (dashed)", fontsize="small")
        axes[1, -1].axis("off")
        eax = axes[2, -1]
    else:
        fig, axes = plt.subplots(1, 5, figsize=(18, 3.8), layout="constrained")
        x = ds[ds[name].dims[-1]].values
        vmax = float(np.abs(truth).max())
        for ax, arr, label in zip(axes[:3], (truth, pred, pred - truth), ("truth", "prediction", "difference")):
            im = ax.pcolormesh(x, t, arr, cmap="RdBu_r", vmin=-vmax, vmax=vmax, shading="auto")
            ax.axhline(t[ctx - 1], color="k", lw=0.8, ls=":")
            ax.set_title(label, fontsize="small")
            ax.set_xlabel(ds[name].dims[-1])
        axes[0].set_ylabel("time")
        fig.colorbar(im, ax=axes[2], label=f"{name} [{units}]")
        k, e_t = isotropic_spectrum(truth[-1], 1)
        _, e_p = isotropic_spectrum(pred[-1], 1)
        axes[3].loglog(k[1:], np.maximum(e_t[1:], 1e-12 * e_t[1:].max()), label="truth")
        axes[3].loglog(k[1:], np.maximum(e_p[1:], 1e-12 * e_t[1:].max()), ls="--", label="forecast")
        axes[3].set_title("E(k) at the last step", fontsize="small")
        axes[3].legend(fontsize="small")
        eax = axes[4]
    eax.plot(t[ctx:] - t[ctx - 1], err_curve[ctx:], label=ds.attrs.get("model", "model"))
    eax.set_xlabel("lead time")
    eax.set_ylabel("relative L2 error")
    eax.set_ylim(bottom=0)
    eax.set_title("mean over test windows", fontsize="small")
    fig.suptitle(f"{ds.attrs.get('system', '')}: {ds.attrs.get('model', '')} on {ds.attrs.get('basis', '')} "
                 f"r={ds.attrs.get('basis_rank', '')}, context {ctx} steps, window {trajectory}", fontsize="medium")
    return fig


__all__ = ["plot_field_reconstruction"]
