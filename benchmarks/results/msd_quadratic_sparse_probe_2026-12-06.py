"""Probe (no training): would a sparse fit rescue the quadratic prior on noisy MSD contexts? On the
medium MSD test set (seed 0, 4,096 OOD trajectories, context 100), with the noise protocol of
msd_quadratic_noise_2026-12-06.py (LEVEL x each variable's training std on the context steps;
clean future), fit the quadratic field to each context (a) by the prior's closed-form Simpson
least squares (where parameter_fit starts) and (b) by sequentially thresholded least squares on the
same normal equations (SINDy's STLSQ: coefficients below THRESHOLD x the largest of their equation
set to zero, the rest refitted, 10 rounds), integrate each by RK4 (clamped at +-5 normalised
units, as output_clip=5) and score raw MSE over the forecast. argv: level threshold [threshold ...]"""
import sys
from pathlib import Path
import numpy as np, torch
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import paper_table as pt
from warp_phys import priors
from warp_phys.priors import BindContext, rk4_step
from warp_phys.scaling import Scaler
from warp_phys.transition_inputs import library, lstsq_terms

level, thresholds = float(sys.argv[1]), [float(v) for v in sys.argv[2:]]
splits = pt.simulate_dataset("msd", 0, "medium")
arr = lambda ds: torch.from_numpy(ds["state"].transpose("trajectory", "time", "variable").values).double()
train, test_ds = arr(splits.train), splits.tests["test"]
test = arr(test_ds)
sd = train.reshape(-1, 2).std(0)
rng = np.random.default_rng(1000)
noisy = test.clone()
C = 100
noisy[:, :C] += torch.from_numpy(rng.normal(size=noisy[:, :C].shape)) * sd * level
sc = Scaler(train.reshape(-1, 2).mean(0), train.reshape(-1, 2).std(0))
t = test_ds["time"].values
dt = float(t[1] - t[0])
prior = priors.get("quadratic")
prior.bind(BindContext(2, dt, float(t[-1] - t[0]), sc, None))
z = sc.normalise(noisy)[:, :C]
gram, cross = lstsq_terms(z[:, :-2], z[:, 1:-1], z[:, 2:])  # Simpson pairs: (N, C-2, L, L), (N, C-2, L, d)
G, X = gram.sum(1), cross.sum(1)
L, d = G.shape[-1], z.shape[-1]


def solve(mask):  # per trajectory and variable: least squares on the unmasked terms
    coef = torch.zeros(len(z), L, d, dtype=torch.float64)
    eye = torch.eye(L, dtype=torch.float64)
    for j in range(d):
        m = mask[:, :, j].double()
        Gm = G * m[:, :, None] * m[:, None, :] + torch.diag_embed(1 - m) + 1e-10 * eye
        coef[:, :, j] = torch.linalg.solve(Gm, (X[:, :, j] * m).unsqueeze(-1)).squeeze(-1) * m
    return coef


def score(coef):
    raw = (coef / (10.0 * prior.gain)).flatten(1)  # c = AREA_SCALE dt W and raw = c / (AREA_SCALE gain)
    W = prior.coefficients(raw)
    x, out = z[:, -1], []
    for _ in range(len(t) - C):
        x = rk4_step(lambda s, y: (library(y).unsqueeze(-2) @ W).squeeze(-2), 0.0, x, dt).clamp(-5, 5)
        out.append(x)
    pred = sc.denormalise(torch.stack(out, 1))
    per = ((pred - test[:, C:]) ** 2).mean(dim=(1, 2))
    return float(per.mean()), float(per.median())


full = solve(torch.ones(len(z), L, d, dtype=torch.bool))
print(f"MSD medium test seed 0, noise {level:g}: {len(z)} trajectories; predict zero {float((test[:, C:] ** 2).mean()):.3g}")
print("Simpson least squares (parameter_fit's start): mean MSE %.3g, median %.3g" % score(full))
for th in thresholds:
    coef, mask = full, torch.ones(len(z), L, d, dtype=torch.bool)
    for _ in range(10):
        big = coef.abs().amax(1, keepdim=True)
        mask = mask & (coef.abs() >= th * big)
        coef = solve(mask)
    kept = mask.sum(1).double().mean(0).tolist()
    print(f"STLSQ threshold {th:g}: terms kept per equation {kept}; mean MSE %.3g, median %.3g" % score(coef))

# the one-step Levenberg-Marquardt refinement that parameter_fit holds (from the same start)
from warp_phys.priors.parameter_fit import fit_raw
tau = torch.linspace(0, 1, len(t), dtype=torch.float64)
raw = torch.cat([fit_raw(prior, z[i:i + 1024], tau[:C]) for i in range(0, len(z), 1024)])
print("Simpson start + LM (what parameter_fit holds, gate 0): mean MSE %.3g, median %.3g"
      % score(prior.coefficients(raw) * dt * 10.0))
