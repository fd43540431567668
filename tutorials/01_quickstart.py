# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Quickstart: forecast Lorenz-63 in one call
#
# `warp_phys.reconstruct` does the whole job: it simulates training, validation and test
# trajectories from the system's own protocol, trains a WARP model (a recurrent network
# whose hidden state *is* the weight vector of a small MLP), reads a context of observed
# steps from each test trajectory and forecasts the rest without any gradient step.
#
# Lorenz-63 is chaotic (largest Lyapunov exponent ≈ 0.906), so no forecast stays right
# forever; the question is for how many *Lyapunov times* it does. The package answers with
# the valid prediction time (VPT).
#
# Set `WARP_PHYS_FAST=1` to run this notebook with small sizes (what the tests do).

# %%
# %matplotlib inline
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

import warp_phys
from warp_phys.plotting import plot_reconstruction, save_figure

FAST = os.environ.get("WARP_PHYS_FAST") == "1"
FIGURES = Path(os.environ.get("WARP_PHYS_FIGURES", "figures"))  # the gallery figure goes here
FIGURES.mkdir(exist_ok=True)
print("warp_phys", warp_phys.__version__, "| fast mode" if FAST else "| full mode")

# %% [markdown]
# ## Reconstruct
#
# With no other argument the Lorenz recipe is used: 128 training trajectories at the classic
# parameters (σ=10, ρ=28, β=8/3) from random initial conditions, a context of 100 steps
# (2 time units) and a forecast of 300 steps (≈5.4 Lyapunov times). `prior="auto"` picks the
# system's recommended physics prior, here the *grey-box* prior: the root network emits
# σ, ρ, β and the Lorenz right-hand side advances the state by one RK4 step.
# The test set is out of distribution (initial conditions from wider ranges); the in-distribution
# test set is scored too (`test_id`).

# %%
sizes = dict(epochs=5, n_train=32) if FAST else {}
rec = warp_phys.reconstruct(system="lorenz", seed=0, progress=False, **sizes)
print(rec.summary())

# %% [markdown]
# `mse_persistence` (hold the last observed value) and `mse_zero` (predict zero) are the trivial
# forecasts, printed so the scale of `mse` is visible. The metrics are a plain dict:

# %%
m = rec.metrics
print(f"forecast MSE {m['mse']:.3g} = {m['mse'] / m['mse_persistence']:.3f} x persistence; "
      f"median VPT {m['vpt']:.2f} Lyapunov times")
assert m["mse"] < 0.5 * m["mse_persistence"], "the forecast should beat holding the last value"
assert m["vpt"] > 1.0, "the forecast should stay valid for more than one Lyapunov time"

# %% [markdown]
# ## The plot
#
# Truth (black) against the forecast (red, dashed) for one test trajectory; the grey band is the
# context the model read. The right panel is the phase portrait: the forecast stays on the
# attractor even after it has lost the phase.

# %%
fig = rec.plot(trajectory=0)
save_figure(fig, FIGURES / "01_quickstart.png")
fig

# %% [markdown]
# ## The result is an xarray Dataset
#
# `rec.dataset` holds the truth `state`, `prediction_mean`, `prediction_std` and a `context`
# mask, with the physical parameters and initial conditions as per-trajectory coordinates and
# CF attributes. Ordinary xarray code answers questions such as *how fast does the error
# grow?* Here: the RMS error over trajectories, against lead time in Lyapunov times.

# %%
ds = rec.dataset
lyap = rec.system.lyapunov_exponent
forecast = ds.where(ds.context == 0, drop=True)
lead = (forecast.time - ds.time.where(ds.context == 1, drop=True)[-1]) * lyap
err = np.sqrt(((forecast.prediction_mean - forecast.state) ** 2).mean(("trajectory", "variable")))
err = err.assign_coords(lead=("time", lead.values)).swap_dims(time="lead")
err.sel(lead=[0.5, 1.0, 2.0, 4.0], method="nearest").to_series().rename("RMS error")

# %% [markdown]
# ## Export to NetCDF and read it back
#
# `to_netcdf` writes atomically (a temporary file, then a rename: never half-written). Any
# NetCDF tool can read the file; with xarray, `open_trajectories` restores it exactly
# (text coordinates and attribute types included).

# %%
path = Path(tempfile.mkdtemp()) / "lorenz_reconstruction.nc"
rec.to_netcdf(path)
print(f"{path.name}: {path.stat().st_size / 1e6:.2f} MB")

with xr.open_dataset(path) as raw:  # plain xarray
    print(raw["prediction_mean"].attrs["long_name"])
    assert np.array_equal(raw["prediction_mean"].values, ds["prediction_mean"].values)

back = warp_phys.open_trajectories(path)
xr.testing.assert_identical(back, ds)  # exact round trip: values, coordinates, attributes
print("round trip identical;", "metrics attribute:", back.attrs["metrics"][:60], "...")

# %% [markdown]
# ## How sure is the forecast? An ensemble
#
# WARP gives a point forecast: `prediction_std` above is zero. Runs that differ only in their seed
# disagree where the data do not pin the model down, and their spread is a band.
# `warp_phys.ensemble` averages the members' forecasts and takes as its std the spread of the members.
# The members must share their data: `rec` (seed 0) drew its trajectories from seed 0, and
# `data_seed=0` gives the other members the same ones. `calibrate=True` widens or narrows the band
# until it holds 95.4 % of the validation split, the trajectories the runs were selected on; no test
# trajectory is read. `coverage_2std` then says how much of the test forecast the band holds (0.954
# would be a calibrated Gaussian band).

# %%
members = [rec] + [warp_phys.reconstruct(system="lorenz", seed=s, data_seed=0, progress=False, **sizes)
                   for s in (1, 2, 3)]
ens = warp_phys.ensemble(members, calibrate=True)
met = json.loads(ens.attrs["metrics"])
singles = [m.metrics["mse"] for m in members]
print("members' test MSE:", ", ".join(f"{v:.3g}" for v in singles), f"| ensemble: {met['mse']:.3g}")
print(f"band x {ens.attrs['std_scale']:.2f} (chosen on validation) holds {met['coverage_2std']:.3f} of the test values")
assert met["mse"] <= np.mean(singles), "the mean forecast is never worse than the members on average"
fig = plot_reconstruction(ens, trajectory=0, title="four seeds: mean and calibrated ±2 std")
fig

# %% [markdown]
# The same in a terminal:
#
# ```bash
# warp-phys reconstruct lorenz -o lorenz.nc --plot lorenz.png
# warp-phys reconstruct lorenz --ensemble 4 --calibrate -o lorenz_ensemble.nc
# ```
#
# Next: [02_systems](02_systems.ipynb) shows the library of systems behind `system="lorenz"`.
