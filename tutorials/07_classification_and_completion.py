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
# # 07 · Classification and completion: what the weights know about a whole sequence
#
# WARP's hidden state is the weight vector θ_t of a small root network, updated by a linear
# recurrence as the sequence is read. Two uses of that state besides forecasting:
#
# 1. **Classification**: after the last step, θ_L summarises the whole sequence; a read-out
#    turns it into class probabilities (`warp_phys.classification.SequenceClassifier`). We
#    classify damped spirals by their sense of rotation and look at the weight trajectories θ_t
#    of the two classes.
# 2. **Completion**: a WARP trained to predict the next step can fill the unobserved steps of a
#    sequence by running on its own predictions (`warp_phys.completion.complete`). We complete
#    the bottom half of hand-written digits read pixel by pixel.

# %%
# %matplotlib inline
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from warp_phys.classification import SequenceClassifier
from warp_phys.classification.tasks import spirals
from warp_phys.completion import complete
from warp_phys.model import WARP
from warp_phys.training import Trainer

FAST = os.environ.get("WARP_PHYS_FAST") == "1"
FIGURES = Path(os.environ.get("WARP_PHYS_FIGURES", "figures"))  # the gallery figure goes here
FIGURES.mkdir(exist_ok=True)
torch.set_num_threads(1)

# %% [markdown]
# ## The task: which way does the spiral turn?
#
# `spirals(n)` draws damped 2-D spirals x = r e^{-γt} cos(±ωt + φ), y = r e^{-γt} sin(±ωt + φ)
# with random radius, rotation rate, damping and phase, plus noise of std 0.1; the label is the
# sense of rotation. The sign of the mean cross product x dy − y dx (the angular momentum) is
# the handedness: we check that the labels are what the physics says.

# %%
train, test = spirals(200 if FAST else 600, seed=0), spirals(200 if FAST else 600, seed=1)
print(train.X.shape, train.counts())


def angular_momentum(X):
    x, y = X[..., 0].astype(float), X[..., 1].astype(float)
    return np.mean(x[:, :-1] * np.diff(y, axis=1) - y[:, :-1] * np.diff(x, axis=1), axis=1)


L = angular_momentum(train.X)
assert np.all((L > 0) == (train.y == "anticlockwise")), "the label is the sign of x dy - y dx"

# %% [markdown]
# ## Train WARP and score it on new spirals
#
# The classifier holds out 20 % of each class to choose the best epoch; the test spirals are
# drawn with another seed and used once. `max_time` bounds the training (seconds); fast mode
# trains its 400 epochs in full (a few seconds) so that its numbers do not depend on the machine.
# Beside the values, WARP reads running means of x², of squared increments and of the signed area
# swept by the two coordinates (`energy` and `area`, on by default): the area's sign is the sense
# of rotation, a second-order property of the path that its linear recurrence could not form from
# x alone. `benchmarks/classify.py` measures 0.995 on 600 test spirals (45 s of training).

# %%
t0 = time.time()
clf = SequenceClassifier("warp", width=24, depth=2, epochs=400, patience=400, max_time=None if FAST else 60,
                         seed=0, device="cpu").fit(train.X, train.y)
acc = clf.score(test.X, test.y)
print(f"test accuracy {acc:.3f} after {clf.history_.epochs_run} epochs ({time.time() - t0:.0f} s); "
      f"classes {clf.classes_.tolist()}")
assert acc > (0.7 if FAST else 0.97)  # chance is 0.5

# %% [markdown]
# ## The weight trajectories of the two classes
#
# `weight_trajectories(X)` returns θ_t for every step, (N, T, D). We project them on their first
# two principal components (numpy's SVD of the centred θ_t of all sequences and steps), coloured
# by class. The large directions of θ_t follow the position and size of the spiral, which both
# classes share. How well does a straight line in weight space separate the classes? A logistic
# regression on θ_L, fitted on the training spirals, answers below. The classifier itself reads
# the class out *nonlinearly*: the
# classifier's logits are the root network evaluated with the weights θ_t. Running that read-out
# at every step (`clf.model_.root.evaluate(θ_t, τ_t)`, with τ_t = t · `clf.dt_`: the answer the
# classifier would give if the spiral stopped at step t) shows the decision forming as the
# spiral is read: every sequence starts from the same value, whatever its class (so the mean
# probability of the true class starts near ½), and the classes part as the rotation
# accumulates. The read-out was trained at the last step only; in between, some sequences flip
# back and forth before settling.

# %%
theta = clf.weight_trajectories(test.X[:60])            # (60, T, D)
N, T, D = theta.shape
flat = theta.reshape(-1, D).astype(np.float64)
mean = flat.mean(0)
_, s, vt = np.linalg.svd(flat - mean, full_matrices=False)
pcs = ((flat - mean) @ vt[:2].T).reshape(N, T, 2)
anti = test.y[:60] == "anticlockwise"
print(f"D = {D} weights; the first two components hold {np.sum(s[:2] ** 2) / np.sum(s ** 2):.0%} of the variance")

from sklearn.linear_model import LogisticRegression  # noqa: E402

probe = LogisticRegression(max_iter=5000).fit(clf.weight_trajectories(train.X)[:, -1], train.y)
print(f"linear probe on theta_L: test accuracy {probe.score(clf.weight_trajectories(test.X)[:, -1], test.y):.3f} "
      f"(the classifier: {acc:.3f})")

with torch.no_grad():
    tau_t = torch.arange(T, dtype=torch.float32).repeat(N)[:, None] * clf.dt_
    logits = clf.model_.root.evaluate(torch.from_numpy(theta.reshape(-1, D)), tau_t).reshape(N, T, -1)
prob = torch.softmax(logits, -1).numpy()
col = int(np.flatnonzero(clf.classes_ == "anticlockwise")[0])
p_true = np.where(anti[:, None], prob[..., col], 1 - prob[..., col])   # probability of the true class
print(f"mean probability of the true class: {p_true[:, 0].mean():.2f} at the first step, "
      f"{p_true[:, T // 2].mean():.2f} halfway, {p_true[:, -1].mean():.2f} at the last step")
assert abs(p_true[:, 0].mean() - 0.5) < 0.15 and p_true[:, -1].mean() > 0.75

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 4))
for i in np.flatnonzero(anti)[:3].tolist() + np.flatnonzero(~anti)[:3].tolist():
    axes[0].plot(*test.X[i].T, color="C0" if anti[i] else "C3", lw=1)
axes[0].set(title="test spirals (blue: anticlockwise, red: clockwise)", xlabel="x", ylabel="y", aspect="equal")
for i in range(N):
    axes[1].plot(*pcs[i].T, color="C0" if anti[i] else "C3", lw=0.7, alpha=0.6)
    axes[1].plot(*pcs[i, -1], "o", color="C0" if anti[i] else "C3", ms=3)
axes[1].set(title="weight trajectories θ_t, first two PCs", xlabel="PC 1", ylabel="PC 2")
p_anti = prob[..., col]
for cls, c in ((True, "C0"), (False, "C3")):
    m, sd = p_anti[anti == cls].mean(0), p_anti[anti == cls].std(0)
    axes[2].plot(m, color=c, label="anticlockwise spirals" if cls else "clockwise spirals")
    axes[2].fill_between(np.arange(T), m - sd, m + sd, color=c, alpha=0.2)
axes[2].set(title="read-out of θ_t: P(anticlockwise) (mean ± std)", xlabel="step t", ylabel="probability",
            ylim=(-0.05, 1.05))
axes[2].legend()
plt.tight_layout()

# %% [markdown]
# ## Completion: the bottom half of a digit
#
# scikit-learn's 8×8 digits, read pixel by pixel (row-major: T = 64 steps of one value in
# [0, 1]). A WARP is trained to predict the next pixel and, in the same loss, to complete the
# bottom half from the top half by its own rollout (`forecast_weight=1, forecast_context=32`: the
# option `benchmarks/complete.py` selected for WARP on validation, with 16 memory modes), and the
# epoch is chosen on the validation completion error of the bottom half (`val_n_ctx=32`). `complete(model, observed, mask)` then reads the observed
# top half and runs on its own predictions over the hidden bottom half. It is causal: the
# completion of a pixel reads only the pixels before it.

# %%
from sklearn.datasets import load_digits  # noqa: E402

images = load_digits().data.astype(np.float32) / 16.0
perm = np.random.default_rng(0).permutation(len(images))
n_train = 300 if FAST else 1200
x_train = torch.from_numpy(images[perm[:n_train]])[..., None]
x_val = torch.from_numpy(images[perm[n_train:n_train + 200]])[..., None]
digits_test = images[perm[-200:]]
tau = torch.linspace(0.0, 1.0, 64)

model = WARP(1, width=32, depth=2, transition="subspace", rank=16, transition_options={"input_scale": 10.0},
             output_clip=5.0, seed=0)
hist = Trainer(epochs=400, patience=400, batch_size=64, lr=1e-3, val_n_ctx=32, max_time=15 if FAST else 120,
               forecast_weight=1.0, forecast_context=32, seed=0, device="cpu",
               progress=False).fit(model, x_train, tau, x_val)
print(f"trained {hist.epochs_run} epochs in {hist.time_s:.0f} s; best validation completion MSE "
      f"{hist.best_score:.4f}")

# %%
mask = np.zeros(digits_test.shape, bool)
mask[:, :32] = True                                      # the top 4 rows are observed
observed = np.where(mask, digits_test, np.nan)           # the bottom half is hidden
filled = complete(model, observed, mask, tau.numpy())
assert np.array_equal(filled[mask], digits_test[mask]), "observed pixels are returned unchanged"
assert np.isfinite(filled).all()

truth = digits_test[:, 32:]
mse = float(np.mean((filled[:, 32:] - truth) ** 2))
mse_mean = float(np.mean((images[perm[:n_train], 32:].mean(0) - truth) ** 2))
mse_copy = float(np.mean((np.tile(digits_test[:, 24:32], 4) - truth) ** 2))
print(f"bottom-half pixel MSE: WARP completion {mse:.4f}; mean training image {mse_mean:.4f}; "
      f"copy the last observed row {mse_copy:.4f}")
if not FAST:
    assert mse < mse_copy, "the completion beats repeating the last observed row"

# %% [markdown]
# The completion continues the strokes of the top half, blurred where the top half leaves the
# digit open. The mean training image is a strong reference for 8×8 digits (the best constant
# guess); at full size (1,200 training digits, 120 s) the completion beats it in pixel MSE (the
# printed numbers above). `benchmarks/complete.py` compares WARP with a GRU, an LSTM and a transformer
# on this task and on filling a gap in Lorenz-63 trajectories, where WARP's completion stays
# within 10 % of the attractor's size over the whole 30-step gap.

# %%
show = 8
fig, axes = plt.subplots(3, show, figsize=(1.4 * show, 4.6))
for j in range(show):
    for row, img, title in ((0, digits_test[j], "truth"), (1, observed[j], "observed"),
                            (2, filled[j], "WARP completion")):
        axes[row, j].imshow(np.nan_to_num(img, nan=0.5).reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        axes[row, j].axhline(3.5, color="C1", lw=1)
        axes[row, j].set_xticks([]), axes[row, j].set_yticks([])
        if j == 0:
            axes[row, j].set_ylabel(title, fontsize=9)
plt.suptitle("digits: the top half is read, the bottom half completed by the model's own rollout")
plt.tight_layout()

# %% [markdown]
# ## The gallery figure

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for cls, c in ((True, "C0"), (False, "C3")):
    for i in np.flatnonzero(anti == cls):
        axes[0].plot(p_anti[i], color=c, lw=0.6, alpha=0.5)
axes[0].set(title=f"WARP read-out of θ_t on test spirals (accuracy {acc:.1%})\nblue: anticlockwise, red: clockwise",
            xlabel="step t", ylabel="P(anticlockwise)")
grid = np.ones((3 * 9 - 1, show * 9 - 1)) * np.nan
for j in range(show):
    for row, img in enumerate((digits_test[j], observed[j], filled[j])):
        grid[row * 9:row * 9 + 8, j * 9:j * 9 + 8] = np.nan_to_num(img, nan=0.5).reshape(8, 8)
axes[1].imshow(grid, cmap="gray_r", vmin=0, vmax=1)
axes[1].set(title="digits: truth / top half observed / completed", xticks=[], yticks=[])
plt.tight_layout()
fig.savefig(FIGURES / "07_classification_and_completion.png", dpi=110)
