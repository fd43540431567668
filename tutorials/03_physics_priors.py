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
# # 03 · Physics priors: a spring, three models, and the spring constant read off the weights
#
# WARP's root network is an MLP whose weights θ_t are the recurrent state. A *physics prior*
# decides what the MLP's outputs mean. With the **grey-box** prior the MLP does not emit the
# next state; it emits the system's unknown physical parameters (here m, k, c), and the
# system's own right-hand side advances the previous state by one RK4 step. The physics is
# then exact by construction and the network only has to learn the parameters.
#
# We compare, on the mass-spring-damper m ẍ + c ẋ + k x = 0:
# black-box WARP, WARP with the grey-box prior, and a GRU, all through the same
# `reconstruct` call, the same data splits and the same metrics.

# %%
# %matplotlib inline
import os
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import warp_phys

FAST = os.environ.get("WARP_PHYS_FAST") == "1"
FIGURES = Path(os.environ.get("WARP_PHYS_FIGURES", "figures"))  # the gallery figure goes here
FIGURES.mkdir(exist_ok=True)
warnings.simplefilter("ignore", RuntimeWarning)

# %% [markdown]
# ## The data
#
# The `msd` recipe: one spring (m = 0.03 kg, k = 10 N/m, c = 0.1 kg/s), 256 steps over one
# second (about three periods), initial conditions drawn at random. The model reads 64 steps
# and forecasts 192. The primary test set is out of distribution: its initial displacements
# and velocities come from twice as wide ranges as the training set's.

# %%
sizes = dict(n_train=64, epochs=10) if FAST else {}
common = dict(system="msd", seed=0, progress=False, **sizes)
runs = {
    "WARP (black box)": warp_phys.reconstruct(prior=None, **common),
    "WARP + grey-box prior": warp_phys.reconstruct(prior="grey_box", **common),
    "GRU": warp_phys.reconstruct(model="gru", prior=None, **common),
}
grey = runs["WARP + grey-box prior"]
print(grey.summary())

# %%
m0 = grey.metrics
print(f"{'model':24s} {'test MSE (OOD)':>15s} {'test MSE (in dist.)':>20s} {'run time':>9s}")
for name, r in runs.items():
    print(f"{name:24s} {r.metrics['mse']:15.3g} {r.all_metrics['test_id']['mse']:20.3g} {r.runtime_s:8.1f}s")
print(f"{'persistence':24s} {m0['mse_persistence']:15.3g}")
print(f"{'predict zero':24s} {m0['mse_zero']:15.3g}")
best_black_box = min(runs["WARP (black box)"].metrics["mse"], runs["GRU"].metrics["mse"])
assert grey.metrics["mse"] < best_black_box / 5, "the physics prior should beat both black boxes"
assert grey.metrics["mse"] < m0["mse_persistence"] / 100, "two orders of magnitude below holding the last value"

# %% [markdown]
# The prior wins by orders of magnitude: it only has to find two numbers, while the black
# boxes must learn the whole flow map, and the out-of-distribution initial conditions take
# them to states they never saw. (Black-box WARP improves a lot when its root network also reads
# the previous observation, `prev_obs_input=True`; see [05](05_your_own_data.ipynb).)
#
# ## Reading off the spring
#
# `parameters()` returns what the prior reads off the root network at every step of every
# test trajectory, beside the true values. A caveat that is physics, not numerics: dividing
# the equation by m gives ẍ = −(k/m) x − (c/m) ẋ, so a trajectory determines only **k/m and
# c/m**. m, k and c separately are not identifiable: any common factor fits the data equally
# well, and the individual estimates drift with the initialisation. Only the ratios are
# meaningful.

# %%
P = grey.parameters()
n_ctx = grey.context
steps = slice(1, n_ctx)  # inside the context (step 0 has no previous state)
ratios = {
    "k/m [s^-2]": (P.k / P.m, P.k_true / P.m_true),
    "c/m [s^-1]": (P.c / P.m, P.c_true / P.m_true),
    "m [kg]": (P.m, P.m_true),
    "k [N/m]": (P.k, P.k_true),
    "c [kg/s]": (P.c, P.c_true),
}
rel_err = {}
for name, (est, true) in ratios.items():
    e = est.isel(time=steps).median(("trajectory", "time")).item()
    t = true.median().item()
    rel_err[name] = abs(e / t - 1)
    print(f"{name:12s} inferred {e:10.4g}   true {t:10.4g}   error {rel_err[name]:7.2%}")
assert rel_err["k/m [s^-2]"] < 0.05 and rel_err["c/m [s^-1]"] < 0.15

# %% [markdown]
# The natural frequency follows: ω₀ = sqrt(k/m), and the damping ratio ζ = (c/m) / (2 ω₀).

# %%
km = (P.k / P.m).isel(time=steps).median().item()
cm = (P.c / P.m).isel(time=steps).median().item()
w0, w0_true = np.sqrt(km), np.sqrt(10 / 0.03)
print(f"omega_0 = {w0:.2f} rad/s (true {w0_true:.2f}); zeta = {cm / (2 * w0):.4f} "
      f"(true {0.1 / 0.03 / (2 * w0_true):.4f})")

# %% [markdown]
# ## Starting from the fitted equations
#
# The network reads k/m to a few per cent. When the equations are known, their parameters can
# also be fitted to each context by least squares (the `ode_fit` baseline does only that). With
# `parameter_fit=True` the parameters that the grey box holds for its forecast start from that fit,
# and the network adds a correction through a gate that starts at zero. This recipe trains on
# one-step errors only, so the gate gets no gradient and the forecast runs on the fit; with
# `forecast_weight > 0` the forecast error trains the correction too (for data where the fit is
# biased, e.g. noisy ones). `parameters()` gives the values each forecast holds as `k_held`, `m_held`, ...

# %%
fitted = warp_phys.reconstruct(prior="grey_box", parameter_fit=True, **common)
Pf = fitted.parameters()
true_km = P.k_true / P.m_true
held_err = {"network alone": abs((P.k_held / P.m_held) / true_km - 1).median().item(),
            "fit + network": abs((Pf.k_held / Pf.m_held) / true_km - 1).median().item()}
for name, r in (("network alone", grey), ("fit + network", fitted)):
    print(f"{name:14s} k/m held for the forecast: error {held_err[name]:.2g}; forecast MSE {r.metrics['mse']:.3g}")
assert held_err["fit + network"] < 1e-3  # noiseless data: the fit is exact to the RK4 truncation level
assert fitted.metrics["mse"] < grey.metrics["mse"]

# %% [markdown]
# ## When only the class of the equations is known
#
# The grey box needs the system's right-hand side. The **quadratic** prior needs none: the MLP
# emits the coefficients of a vector field that is a polynomial of degree ≤ 2 in the state
# (Lorenz-63, Lotka–Volterra and this spring are all members), and one RK4 step of that field
# advances the state. It works in the model's normalised units z = (x − loc) / scale, and with
# `parameter_fit=True` each forecast holds the field fitted to its context by least squares. The
# spring is linear, so its physics is in two coefficients: dv/dt = −(k/m) x − (c/m) v reads, in
# normalised units, dz₁/dt = −(k/m)(s_x / s_v) z₀ − (c/m) z₁ + …, and `parameters()` names them
# `dz1dt_z0` and `dz1dt_z1`.

# %%
generic = warp_phys.reconstruct(prior="quadratic", parameter_fit=True, transition_input="lstsq", **common)
Pq = generic.parameters()
s_x, s_v = (float(v) for v in generic.scaler.scale)
km_q = -Pq.dz1dt_z0_held * s_v / s_x
cm_q = -Pq.dz1dt_z1_held
km_err = abs(km_q / true_km - 1).median().item()
cm_err = abs(cm_q / (P.c_true / P.m_true) - 1).median().item()
print(f"quadratic field: k/m error {km_err:.2g}, c/m error {cm_err:.2g}; forecast MSE {generic.metrics['mse']:.3g} "
      f"(grey box with the fit: {fitted.metrics['mse']:.3g})")
assert km_err < 1e-3 and cm_err < 1e-2  # the same least-squares information as the grey box's fit
assert generic.metrics["mse"] < grey.metrics["mse"] / 100  # far below the grey box's own network

# %% [markdown]
# Knowing only the class of the equations, the forecast comes close to the one made with the
# equations themselves and far below what the network reads alone: on noiseless data both are
# least-squares fits. It is not as good: the quadratic prior fits more coefficients (12 for two
# variables against the grey box's two ratios), so each carries more error, and noise is its
# weak point: with 1 % observation noise on the contexts of the paper's spring data its forecasts run away (the
# README's paper-table section measures it), where the grey box's structure keeps the fit sound.
# A field fitted to noisy data can blow up in finite time: pass `output_clip` for long forecasts.

# %% [markdown]
# ## The gallery figure

# %%
k = 0
ds = grey.dataset
t = ds.time.values
fig, ax = plt.subplots(1, 3, figsize=(14, 3.8), layout="constrained", width_ratios=[1.6, 1, 1])
a = ax[0]
a.axvspan(t[0], t[n_ctx - 1], color="0.88", lw=0, label="context")
a.plot(t, ds.state.values[k, :, 0], "k", lw=1.5, label="truth")
for (name, r), color, z in zip(runs.items(), ["tab:blue", "tab:red", "tab:green"], [2, 4, 3]):
    a.plot(t[n_ctx - 1:], r.dataset.prediction_mean.values[k, n_ctx - 1:, 0], "--", color=color, lw=1.2, label=name, zorder=z)
a.set(xlabel="time [s]", ylabel="x [m]", title="out-of-distribution test trajectory")
a.legend(fontsize="small", ncol=2, loc="upper right")
a = ax[1]
names = [*runs, "persistence", "zero"]
vals = [r.metrics["mse"] for r in runs.values()] + [m0["mse_persistence"], m0["mse_zero"]]
a.barh(names, vals, color=["tab:blue", "tab:red", "tab:green", "0.6", "0.6"])
a.set(xscale="log", xlabel="forecast MSE (raw state)", title="test set (OOD)")
a.invert_yaxis()
a = ax[2]
for j in range(min(8, P.sizes["trajectory"])):
    a.plot(t[1:], (P.k / P.m).values[j, 1:], lw=0.8, color="tab:red", alpha=0.6)
a.axhline(10 / 0.03, color="k", lw=1, ls="--", label="true k/m")
a.axvspan(t[0], t[n_ctx - 1], color="0.88", lw=0)
a.set(xlabel="time [s]", ylabel="k/m [s⁻²]", title="k/m read off the root network", ylim=(0.95 * 10 / 0.03, 1.05 * 10 / 0.03))
a.legend(fontsize="small")
fig.savefig(FIGURES / "03_physics_priors.png", dpi=110)

# %% [markdown]
# ## When every spring is different
#
# Above, all trajectories share one spring. In the WARP paper's protocol
# (`reconstruct("msd", protocol="paper")`) each trajectory has its own m, k, c and the model
# must infer k/m and c/m from the context alone. With the identity transition and a fixed
# initial state (x₀ = 1, v₀ = 0), θ_t = θ₀ + B (x_t − x₀) depends on the current state only,
# so the weights cannot accumulate evidence about the parameters; a transition with memory
# (`transition="diagonal"` or `"subspace"`) and a far larger training budget than a notebook
# allows are needed. `benchmarks/paper_table.py` runs that comparison;
# [04](04_adaptation_and_weights.ipynb) looks at what the recurrence does with unseen
# parameters.
