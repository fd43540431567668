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
# # 02 · The systems library
#
# Every model in `warp_phys` trains on data that the library generates itself. A *system*
# knows its variables and units, its physical parameters (defaults, a training range and a
# wider out-of-distribution range), its initial-condition sampler, a batched torch right-hand
# side, its invariants and its time scale. This notebook browses the library, checks the two
# solver backends against each other and against an exact solution, sweeps a parameter,
# draws in- and out-of-distribution sets, and measures Lyapunov exponents.

# %%
# %matplotlib inline
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from warp_phys import lyapunov_exponents
from warp_phys.systems import available, get

FAST = os.environ.get("WARP_PHYS_FAST") == "1"
FIGURES = Path(os.environ.get("WARP_PHYS_FIGURES", "figures"))  # the gallery figure goes here
FIGURES.mkdir(exist_ok=True)

# %% [markdown]
# ## Browsing
#
# `available()` lists the canonical names; `get(name, **parameters)` accepts aliases
# (`"lorenz"`, `"msd"`, `"lv"`, `"kolmogorov"`, ...) and parameter overrides. `describe()` says
# everything a system knows about itself.

# %%
for name in available():
    s = get(name)
    scale = f"{s.time_scale_kind} {s.time_scale:.3g} {s.time_units}" if s.time_scale else "-"
    print(f"{name:22s} {s.kind:6s} d={s.n_variables if s.kind == 'ode' else '-':<3} "
          f"prior={str(s.recommended_prior):10s} time scale: {scale}")

# %%
print(get("msd").describe())

# %% [markdown]
# ## Two backends, one exact solution
#
# `simulate` returns an `xarray.Dataset` with `state(trajectory, time, variable)` and the
# parameters and initial conditions as per-trajectory coordinates. `backend="torch"` is one
# batched torchdiffeq solve (CPU or GPU); `backend="scipy"` calls `solve_ivp` per trajectory
# (the reference). The mass-spring-damper has a closed-form solution, so both can be checked
# against the truth.

# %%
msd = get("msd")
kw = dict(t_span=(0.0, 1.0), n_steps=256, params="train", ic=torch.tensor([1.0, 0.0]), seed=1)
ds_torch = msd.simulate(8, backend="torch", **kw)
ds_scipy = msd.simulate(8, backend="scipy", **kw)
ds_torch

# %%
t = torch.tensor(ds_torch.time.values)
exact = np.stack([
    msd.analytic(t, 1.0, 0.0, float(m), float(k), float(c)).numpy()
    for m, k, c in zip(ds_torch.m.values, ds_torch.k.values, ds_torch.c.values)
])
err_torch = np.abs(ds_torch.state.values - exact).max()
err_scipy = np.abs(ds_scipy.state.values - exact).max()
print(f"max |torch - exact| = {err_torch:.2e},  max |scipy - exact| = {err_scipy:.2e}  "
      f"(velocities reach {np.abs(exact[..., 1]).max():.0f} m/s)")
assert err_torch < 1e-4 and err_scipy < 1e-4

# %% [markdown]
# On a chaotic system the same two solvers, both accurate to `rtol=1e-7`, part ways: their
# tiny differences grow like exp(λ t). That is the reason forecasts of Lorenz-63 are scored in
# Lyapunov times.

# %%
lorenz = get("lorenz")
kw = dict(t_span=(0.0, 25.0), n_steps=2501, params=None, ic=torch.tensor([1.0, 1.0, 20.0]))
gap = np.linalg.norm(lorenz.simulate(1, backend="torch", **kw).state.values[0]
                     - lorenz.simulate(1, backend="scipy", **kw).state.values[0], axis=-1)
t_l = kw["t_span"][0] + np.arange(kw["n_steps"]) * 0.01
print(f"backend gap at t = 2, 10, 20: {gap[200]:.1e}, {gap[1000]:.1e}, {gap[2000]:.1e}")

# %% [markdown]
# ## Parameter sweeps
#
# `params` takes a dict of scalars or per-trajectory arrays (the others stay at their current
# values). Sweeping the spring constant k and measuring the oscillation frequency from the
# zero crossings recovers the damped frequency ω_d = sqrt(k/m − (c/2m)²).

# %%
ks = np.linspace(4.0, 16.0, 7 if FAST else 25)
sweep = msd.simulate(len(ks), (0.0, 2.0), 4001, params={"k": ks}, ic=torch.tensor([1.0, 0.0]))
x = sweep.state.sel(variable="x").values
tt = sweep.time.values


def measured_frequency(xs: np.ndarray) -> float:
    """Angular frequency from linearly interpolated upward zero crossings."""
    i = np.nonzero((xs[:-1] < 0) & (xs[1:] >= 0))[0]
    crossings = tt[i] - xs[i] * (tt[i + 1] - tt[i]) / (xs[i + 1] - xs[i])
    return 2 * np.pi / np.mean(np.diff(crossings))


m, c = msd.params["m"], msd.params["c"]
w_measured = np.array([measured_frequency(xi) for xi in x])
w_theory = np.sqrt(ks / m - (c / (2 * m)) ** 2)
rel = np.abs(w_measured / w_theory - 1).max()
print(f"max relative frequency error over the sweep: {rel:.1e}")
assert rel < 1e-3

# %% [markdown]
# ## In- and out-of-distribution sets
#
# `params="train"` samples the training ranges, `params="test"` the wider test ranges, so a
# test set probes extrapolation to unseen physics. Protocols are named presets; `"paper"`
# is the WARP paper's MSD protocol (x0 = 1, v0 = 0, t ∈ [0, 1], 256 steps).

# %%
n_set = 200 if FAST else 1000
train = msd.simulate(n_set, protocol="paper", params="train", seed=0)
test = msd.simulate(n_set, protocol="paper", params="test", seed=1)
ranges = msd.parameter_ranges("train", "paper")
inside = np.ones(n_set, bool)
for name, (lo, hi) in ranges.items():
    inside &= (test[name].values >= lo) & (test[name].values <= hi)
print("train ranges:", ranges)
print("test ranges: ", msd.parameter_ranges("test", "paper"))
print(f"{(~inside).mean():.0%} of the test trajectories have at least one parameter outside the training box")
assert all(((train[n] >= lo) & (train[n] <= hi)).all() for n, (lo, hi) in ranges.items())

# %% [markdown]
# ## Invariants
#
# Systems with a conserved quantity expose it; it is a strict check of a solver. For
# Lotka–Volterra it is V = c x − d ln x + b y − a ln y. With the paper's wide test ranges the
# populations dip below 1e-6, where the default absolute tolerance (`atol=1e-9`) is a
# sizeable *relative* error in ln x: tighten `atol` when the state gets that small.

# %%
lv = get("lv")


def invariant_drift(**tolerances) -> float:
    traj = lv.simulate(16, params="test", seed=0, backend="scipy", **tolerances)
    p = torch.as_tensor(np.stack([traj[n].values for n in lv.parameter_names], axis=-1))[:, None, :]
    V = lv.invariant(torch.as_tensor(traj.state.values), p).numpy()
    return float(np.abs(V / V[:, :1] - 1).max()), float(traj.state.min())


drift_default, smallest = invariant_drift()
drift_tight, _ = invariant_drift(rtol=1e-10, atol=1e-13)
print(f"smallest population {smallest:.1e}; largest relative drift of V: "
      f"{drift_default:.1e} (default tolerances), {drift_tight:.1e} (rtol=1e-10, atol=1e-13)")
assert drift_tight < 1e-6 < drift_default

# %% [markdown]
# ## Lyapunov exponents
#
# `lyapunov_exponents` uses the Benettin/QR method on the system's own right-hand side
# (tangent maps by autograd). The classic value for Lorenz-63 is λ₁ ≈ 0.906; the spectrum
# sums to −(σ + 1 + β) ≈ −13.67 and its middle exponent is 0 (the flow direction).

# %%
n_steps = 2_000 if FAST else 10_000
spectrum = lyapunov_exponents(lorenz, n_exponents=3, n_steps=n_steps, n_transient=500, n_ensemble=8)
print("Lyapunov spectrum:", ", ".join(f"{v:.3f}" for v in spectrum.tolist()), f"  sum: {float(spectrum.sum()):.3f}")
lam1 = float(spectrum[0])
assert abs(lam1 - 0.906) < 0.05, lam1
assert abs(float(spectrum.sum()) + (10 + 1 + 8 / 3)) < 0.1

# %% [markdown]
# Exponents for many parameter values come in one batched call: pass one start per value and a
# (B, P) parameter tensor. Below ρ ≈ 13.9 every trajectory settles on a fixed point and
# λ₁ < 0. Between 13.9 and 24.7 the fixed points are still stable, but trajectories first wander
# chaotically for a long time (transient chaos), so a finite-time estimate can come out
# positive. Above 24.7 the attractor is chaotic.

# %%
rhos = np.linspace(5.0, 50.0, 10 if FAST else 46)
P = lorenz.parameter_vector().repeat(len(rhos), 1)
P[:, lorenz.parameter_names.index("rho")] = torch.as_tensor(rhos)
x0 = torch.tensor([1.0, 1.0, 20.0]).repeat(len(rhos), 1)
lam_rho = lyapunov_exponents(lorenz, x0, P, n_steps=n_steps // 2, n_transient=1000)[:, 0].numpy()
print("  ".join(f"rho={r:.0f}: {lam:+.2f}" for r, lam in zip(rhos[::max(1, len(rhos) // 8)], lam_rho[::max(1, len(rhos) // 8)])))
assert lam_rho[rhos < 13].max() < 0 and lam_rho[rhos > 30].min() > 0.5

# %% [markdown]
# ## The gallery figure

# %%
fig, ax = plt.subplots(2, 2, figsize=(10, 7), layout="constrained")
a = ax[0, 0]
for xi, k in zip(x[:: max(1, len(ks) // 5)], ks[:: max(1, len(ks) // 5)]):
    a.plot(tt, xi, lw=1, label=f"k = {k:.0f} N/m")
a.set(xlabel="time [s]", ylabel="x [m]", title="MSD: sweep of the spring constant", xlim=(0, 1))
a.legend(fontsize="small")
a = ax[0, 1]
a.plot(w_theory, w_theory, "k-", lw=1, label="theory ω_d")
a.plot(w_theory, w_measured, "o", ms=4, label="measured from zero crossings")
a.set(xlabel="theory [rad/s]", ylabel="measured [rad/s]", title="damped frequency")
a.legend(fontsize="small")
a = ax[1, 0]
a.scatter(test.k, test.c, s=4, c="tab:orange", alpha=0.6, label="test (out of distribution)")
a.scatter(train.k, train.c, s=4, c="tab:blue", alpha=0.6, label="train")
a.set(xlabel="k [N/m]", ylabel="c [kg/s]", title="paper protocol: parameter ranges")
a.legend(fontsize="small", loc="upper left")
a = ax[1, 1]
a.plot(rhos, lam_rho, "o-", ms=3)
a.axhline(0, color="0.5", lw=0.8)
a.axhline(0.906, color="tab:red", lw=0.8, ls="--", label="0.906 at ρ = 28")
a.set(xlabel="ρ", ylabel="λ₁", title="Lorenz-63: largest Lyapunov exponent")
a.legend(fontsize="small")
fig.savefig(FIGURES / "02_systems.png", dpi=110)

# %% [markdown]
# Next: [03_physics_priors](03_physics_priors.ipynb) uses the systems' right-hand sides inside
# the model.
