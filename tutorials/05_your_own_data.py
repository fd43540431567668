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
# # 05 · Your own data: arrays, NetCDF files, noise and ragged lengths
#
# `reconstruct(data=...)` fits trajectories you bring yourself: a numpy array
# `(trajectory, time, variable)` with a `time` axis, or an xarray Dataset with
# `state(trajectory, time, variable)` (for instance read from a NetCDF file). Real recordings
# are noisy and rarely the same length; this notebook shows what the package expects, the
# errors it gives when the data do not fit, and the fixes.

# %%
# %matplotlib inline
import json
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

import warp_phys
from warp_phys.systems import get

FAST = os.environ.get("WARP_PHYS_FAST") == "1"
FIGURES = Path(os.environ.get("WARP_PHYS_FIGURES", "figures"))  # the gallery figure goes here
FIGURES.mkdir(exist_ok=True)

# %% [markdown]
# ## The "measurements"
#
# As a stand-in for lab data we record a van der Pol oscillator (μ = 1.5, a relaxation limit
# cycle) from random starts, sampled every 0.1 time units, with recordings of 300 to 600 samples
# and Gaussian measurement noise of standard deviation σ = 0.05 (the state swings by ±2).
# What reaches the analysis is a plain list of `(time, variable)` arrays of different lengths.

# %%
rng = np.random.default_rng(0)
dt, sigma = 0.1, 0.05
n_recordings = 12 if FAST else 24
lengths = rng.integers(300, 600, n_recordings)
sim = get("van_der_pol", mu=1.5).simulate(n_recordings, (0.0, dt * (lengths.max() - 1)), int(lengths.max()),
                                            params=None, seed=3)
clean = [sim.state.values[i, :n] for i, n in enumerate(lengths)]           # kept only to score
recordings = [c + sigma * rng.standard_normal(c.shape) for c in clean]       # what you measured
print("recording lengths:", sorted(len(r) for r in recordings))

# %% [markdown]
# ## Ragged lengths: the error and two fixes
#
# A list of arrays of different lengths is not a `(trajectory, time, variable)` array:

# %%
try:
    warp_phys.reconstruct(data=recordings, time=np.arange(lengths.max()) * dt)
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# Either **trim** every recording to the shortest (`np.stack([r[:n_min] for r in recordings])`:
# simple, but it throws data away), or, better for an autonomous system, **cut windows** of a
# fixed length with a stride. Every window becomes one trajectory, so the 70/15/15 split by
# trajectory puts windows of the same recording in different splits; cut before splitting,
# or hold out whole recordings, if that matters for your claim.

# %%
window, stride = 160, 20


def cut_windows(series: list[np.ndarray], window: int, stride: int) -> np.ndarray:
    """(n_windows, window, variable) from a list of (time, variable) recordings."""
    return np.concatenate([np.stack([r[s:s + window] for s in range(0, len(r) - window + 1, stride)])
                           for r in series])


X = cut_windows(recordings, window, stride)
X_clean = cut_windows(clean, window, stride)
t = np.arange(window) * dt
print("windows:", X.shape, "| time", t[0], "...", round(t[-1], 2))

# %% [markdown]
# Other data problems get an error that names the fix, before any training:

# %%
gappy = X.copy()
gappy[3, 50, 0] = np.nan  # a sensor dropout
for bad_data, bad_time in [(gappy, t), (X, np.sort(rng.uniform(0, 16, window)))]:
    try:
        warp_phys.reconstruct(data=bad_data, time=bad_time)
    except ValueError as err:
        print("ValueError:", err, "\n")

# %% [markdown]
# ## Fit the array
#
# Without a system there is no physics prior: WARP is a black box. Its defaults for your
# data: the weights read the history through a learned memory (`transition="subspace"`), and
# the root network reads the previous observation (`prev_obs_input=True`) and emits the
# change of the state, x_t = x_{t-1} + 0.1 raw (`prior="increment"`, which knows no equation).
# The windows start at arbitrary phases of an autonomous system, so normalised time τ alone
# says little about the state: the plain black box (no memory, τ only, the state decoded
# directly) shows the difference. We read 60 steps (6 time units, about one period) and
# forecast 100.

# %%
fit = dict(time=t, context=60, epochs=40 if FAST else 150, seed=0, progress=False)
plain = warp_phys.reconstruct(data=X, transition="identity", prior=None, prev_obs_input=False, **fit)
rec = warp_phys.reconstruct(data=X, **fit)
for name, r in [("tau only", plain), ("default", rec)]:
    m = r.metrics
    print(f"{name:22s} forecast MSE {m['mse']:.4f}   (persistence {m['mse_persistence']:.3f}, "
          f"zero {m['mse_zero']:.3f}), trained {r.history.epochs_run} epochs")
assert rec.metrics["mse"] < 0.1 * rec.metrics["mse_persistence"]
assert rec.metrics["mse"] < rec.metrics["mse_zero"] / 5
assert rec.metrics["mse"] < plain.metrics["mse"]

# %% [markdown]
# ## What the noise costs
#
# The metrics compare the forecast with the *noisy* measurements, so they include the noise
# itself: MSE(noisy) ≈ MSE(clean) + σ². Here we still have the clean signal and can separate
# the two.

# %%
ds = rec.dataset
idx, fc = ds.trajectory.values, ds.context.values == 0
pred = ds.prediction_mean.values[:, fc]
mse_clean = float(((pred - X_clean[idx][:, fc]) ** 2).mean())
mse_noisy = float(((pred - X[idx][:, fc]) ** 2).mean())
print(f"MSE vs measurements {mse_noisy:.4f} = MSE vs clean signal {mse_clean:.4f} "
      f"+ {mse_noisy - mse_clean:.4f}   (sigma^2 = {sigma ** 2:.4f})")
assert abs(mse_noisy - rec.metrics["mse"]) < 1e-9
assert abs((mse_noisy - mse_clean) - sigma ** 2) < 0.5 * sigma ** 2

# %% [markdown]
# ## The same data as a NetCDF file
#
# A file in the package's convention has `state(trajectory, time, variable)` with the variable
# names on the `variable` coordinate and units as attributes; those names and units travel
# into the result. Any NetCDF writer will do; `warp_phys.to_netcdf` writes atomically.

# %%
measured = xr.Dataset(
    {"state": (("trajectory", "time", "variable"), X, {"units": "1", "long_name": "measured state"})},
    coords={"trajectory": np.arange(len(X)),
            "time": ("time", t, {"units": "s", "long_name": "time since window start"}),
            "variable": ["x", "v"]},
    attrs={"title": "van der Pol recordings (windows)", "noise_std": sigma},
)
path = Path(tempfile.mkdtemp()) / "measurements.nc"
warp_phys.to_netcdf(measured, path)

with xr.open_dataset(path) as f:
    from_file = f.load()
rec_file = warp_phys.reconstruct(data=from_file, prev_obs_input=True, **{k: v for k, v in fit.items() if k != "time"})
print(rec_file.summary())
# same data, same seed: the same numbers (the array route names the variables x0, x1)
assert list(rec_file.metrics.values()) == list(rec.metrics.values())
list(rec_file.dataset.variable.values), rec_file.dataset.time.attrs["units"]

# %% [markdown]
# ## A real record: the yearly sunspot number
#
# The recordings so far were simulated. `statsmodels` ships a few classic measured series
# (`pip install "warp_phys[real]"` installs it). The yearly mean sunspot number 1700–2008 is
# *one long record*, not a set of trajectories. `reconstruct(data=series, window=...)` cuts it
# into windows of 44 years (read 33, forecast 11: about one solar cycle) and splits them in
# time order: train on the oldest 60 %, select the epoch on the next 20 %, score on the last
# 20 %. No window straddles two blocks. (The default 70/15/15 split would leave only 3 test
# windows in 309 years.) A pandas Series brings its index as the time axis.

# %%
import statsmodels.api as sm

sun = sm.datasets.sunspots.load_pandas().data.set_index("YEAR")["SUNACTIVITY"]
print(f"{len(sun)} years, {sun.index[0]:.0f}-{sun.index[-1]:.0f}, mean {sun.mean():.1f}, max {sun.max():.1f}")
rec_sun = warp_phys.reconstruct(data=sun, window=44, context=33, horizon=11, stride=1, split=(0.6, 0.2, 0.2),
                                seed=0, epochs=15 if FAST else 100, progress=False)
print(rec_sun.summary())
assert rec_sun.dataset.sizes["trajectory"] == 19  # test windows: 62 years in the test block, 44 per window

# %% [markdown]
# `rec.metrics` also scores the classical forecasters, fitted on the same training windows
# (order and period chosen on the validation windows) and scored after the context of the same
# test windows: an autoregression AR(p), exponential smoothing (ETS), the seasonal naive
# forecast (repeat the last cycle) and persistence (hold the last value). Compare before
# trusting a network. On this short record the closed-form AR model is the one to beat, and
# WARP does not beat it (`benchmarks/real_series.py` measures WARP and a GRU against them at
# an equal training budget on four statsmodels records).

# %%
m = rec_sun.metrics
scores = {"WARP": m["mse"], f"AR({m['ar_order']})": m["ar_mse"], "ETS": m["ets_mse"],
          f"seasonal naive (period {m['seasonal_naive_period']})": m["seasonal_naive_mse"],
          "persistence": m["mse_persistence"]}
best = min(scores.values())
for name, v in sorted(scores.items(), key=lambda kv: kv[1]):
    print(f"{name:30s} test MSE {v:8.1f}   x best {v / best:5.2f}")
assert m["ar_mse"] < 0.5 * m["mse_persistence"]  # the cycle is predictable: AR beats holding the last value

# %%
rec_sun.plot(trajectory=rec_sun.dataset.sizes["trajectory"] - 1)  # the last test window: a matplotlib Figure

# %% [markdown]
# ### Starting from the AR fit
#
# `ar_lags=p` adds a linear AR(p) term beside the root network, and `ar_gate=True` puts the root
# network behind a gate that starts at zero: the untrained model *is* the classical AR(p) of the
# training windows, and that start stays a candidate when the validation windows choose the model
# (`rec.history.start_score`, `rec.history.kept_start`). The README's "Real measured series" section
# has the two-seed comparison with the classical forecasters; validation does not always pick the
# run that forecasts the test block best.

# %%
p = m["ar_order"]
rec_gate = warp_phys.reconstruct(data=sun, window=44, context=33, horizon=11, stride=1, split=(0.6, 0.2, 0.2),
                                 seed=0, epochs=15 if FAST else 100, progress=False, ar_lags=p, ar_gate=True)
h = rec_gate.history
print(f"AR({p}) start: validation {h.start_score:.4f}; best trained epoch {h.best_epoch}: {h.best_score:.4f}; "
      f"start kept: {h.kept_start}")
print(f"test MSE: WARP with the gated AR({p}) term {rec_gate.metrics['mse']:.1f}, WARP {m['mse']:.1f}, "
      f"AR({p}) {m['ar_mse']:.1f}")
assert h.best_score <= h.start_score  # the start is one of the candidates
if h.kept_start:  # then the forecast is the classical AR's
    assert abs(rec_gate.metrics["mse"] - m["ar_mse"]) <= 1e-3 * m["ar_mse"]

# %% [markdown]
# The result saves like any other (`rec.to_netcdf`, atomic; `split="future"` for the forecast
# beyond the record). `rec.datasets["future"]` is that forecast: the record's last 33 years
# (truth) and the 11 years after 2008 (truth NaN), on a `record_time` axis that continues the
# record's years.

# %%
out = Path(tempfile.mkdtemp())
rec_sun.to_netcdf(out / "sunspots_test.nc")
rec_sun.to_netcdf(out / "sunspots_future.nc", split="future")
with xr.open_dataset(out / "sunspots_test.nc") as f:
    assert np.allclose(f["prediction_mean"].values, rec_sun.dataset["prediction_mean"].values)

future = rec_sun.datasets["future"]
years = future["record_time"].values[0]
ahead = future["context"].values == 0
assert years[ahead][0] == sun.index[-1] + 1 and np.isnan(future["state"].values[0, ahead]).all()
mean = future["prediction_mean"].values[0, :, 0]
print("forecast beyond the record:", {int(y): round(float(v), 1) for y, v in zip(years[ahead], mean[ahead])})


def plot_future(ds, label, band_label):
    """The record since 1900 and a forecast past its end (a result Dataset of one window), ±2 std."""
    mean, std = (ds[v].values[0, :, 0] for v in ("prediction_mean", "prediction_std"))
    fig, a = plt.subplots(figsize=(10, 3.2), layout="constrained")
    a.plot(sun.index, sun.values, color="k", lw=1, label="sunspot number (record)")
    a.plot(years[ahead], mean[ahead], color="tab:red", label=label)
    a.fill_between(years[ahead], (mean - 2 * std)[ahead], (mean + 2 * std)[ahead], color="tab:red", alpha=0.2,
                   lw=0, label=band_label)
    a.set(xlim=(1900, years[-1] + 1), xlabel="year", ylabel="sunspot number")
    a.legend(fontsize="small", loc="upper left")
    return fig


plot_future(future, "WARP forecast past 2008", "±2 std");

# %% [markdown]
# ### An ensemble for the uncertainty
#
# WARP here is a point model: its `prediction_std` is zero and the band above is empty.
# `warp_phys.ensemble` combines runs on the same windows that differ only in their seed: the
# forecast is their mean, and `prediction_std` the spread of the members (plus their own std,
# if any). Its metrics are recomputed on the mean forecast; since the squared error is convex,
# the mean forecast scores at most the members' average MSE. The members cost one training each
# (`benchmarks/real_series.py` has an ensemble row per model, over its seeds).
#
# The spread over seeds is far narrower than the error: `coverage_2std` counts the test values
# inside the ±2 std band (0.954 for a calibrated Gaussian). `calibrate=True` widens the band by the
# smallest factor that makes it hold 95.4 % of the *validation* block (attribute `std_scale`); the
# test block is never read for it. The band is symmetric, so past 2008 it reaches below zero, where
# a sunspot number cannot go: a Gaussian band is a crude description of this record's uncertainty.

# %%
members = [rec_sun] + [warp_phys.reconstruct(data=sun, window=44, context=33, horizon=11, stride=1,
                                             split=(0.6, 0.2, 0.2), seed=s, epochs=15 if FAST else 100,
                                             progress=False) for s in (1, 2)]
ens = warp_phys.ensemble(members)
ens_mse = json.loads(ens.attrs["metrics"])["mse"]
print("test MSE of the members:", [round(r.metrics["mse"], 1) for r in members], f"ensemble: {ens_mse:.1f}")
assert ens_mse <= np.mean([r.metrics["mse"] for r in members])  # Jensen: never worse than the average member

calibrated = warp_phys.ensemble(members, calibrate=True)
print(f"test values inside ±2 std: {json.loads(ens.attrs['metrics'])['coverage_2std']:.2f} (the runs' spread), "
      f"{json.loads(calibrated.attrs['metrics'])['coverage_2std']:.2f} (x{calibrated.attrs['std_scale']:.1f}, "
      "scaled on validation)")
assert json.loads(calibrated.attrs["metrics"])["mse"] == ens_mse  # the same forecast, a wider band

ens_future = warp_phys.ensemble(members, split="future", calibrate=True)
assert (ens_future["prediction_std"].values[0, ahead] > 0).all()
plot_future(ens_future, "mean of 3 WARP runs, past 2008", "±2 std (spread scaled on validation)");

# %% [markdown]
# ## The gallery figure

# %%
k = 0
ctx = int(rec.dataset.context.sum())
fig, ax = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained", width_ratios=[1.7, 1])
a = ax[0]
a.axvspan(t[0], t[ctx - 1], color="0.88", lw=0, label="context")
a.plot(t, X[idx[k], :, 0], ".", ms=3, color="0.4", label="measured x (σ = 0.05)")
a.plot(t, X_clean[idx[k], :, 0], color="k", lw=1, label="clean signal")
a.plot(t[ctx - 1:], plain.dataset.prediction_mean.values[k, ctx - 1:, 0], "--", color="tab:blue",
       label="WARP, τ only")
a.plot(t[ctx - 1:], rec.dataset.prediction_mean.values[k, ctx - 1:, 0], "--", color="tab:red",
       label="WARP, default")
a.set(xlabel="time", ylabel="x", title="a noisy recording: forecast from 60 observed steps")
a.legend(fontsize="small", ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.15))
a = ax[1]
a.plot(*X[idx[k]].T, ".", ms=2, color="0.6")
a.plot(*X_clean[idx[k]].T, color="k", lw=1)
a.plot(*rec.dataset.prediction_mean.values[k, ctx - 1:].T, "--", color="tab:red")
a.set(xlabel="x", ylabel="v", title="phase portrait")
fig.savefig(FIGURES / "05_your_own_data.png", dpi=110)
