"""One-off diagnostic: why the quadratic prior fails on the paper table's LV set while the grey box
does not. On the medium LV test set (seed 0; 3,000 trajectories, context 100), fit the quadratic
field to each context (the prior's closed-form start plus Levenberg-Marquardt, exactly what
parameter_fit holds) and compare its coefficients with the true field's (least squares of the
true right-hand side in normalised units), and the context's spread (how much of the cycle it
covers) with the forecast error of the fitted field integrated by RK4. No training."""
import sys
from pathlib import Path
import numpy as np, torch
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import paper_table as pt
from warp_phys import priors, systems
from warp_phys.priors import BindContext, rk4_step
from warp_phys.priors.parameter_fit import fit_raw
from warp_phys.scaling import Scaler
from warp_phys.transition_inputs import library

splits = pt.simulate_dataset("lv", 0, "medium")
system = systems.get("lotka_volterra")
arr = lambda ds: torch.from_numpy(ds["state"].transpose("trajectory", "time", "variable").values).double()
train, test_ds = arr(splits.train), splits.tests["test"]
test = arr(test_ds)
sc = Scaler(train.reshape(-1, 2).mean(0), train.reshape(-1, 2).std(0))
t = test_ds["time"].values
dt, C = float(t[1] - t[0]), 100
prior = priors.get("quadratic")
prior.bind(BindContext(2, dt, float(t[-1] - t[0]), sc, None))
z = sc.normalise(test)
tau = torch.linspace(0, 1, len(t), dtype=torch.float64)
raw = torch.cat([fit_raw(prior, z[i:i + 500, :C], tau[:C]) for i in range(0, len(z), 500)])
W = prior.coefficients(raw)  # (N, 6, 2)
# the true field of each trajectory in normalised units, by least squares on random points
g = torch.Generator().manual_seed(0)
pts = torch.randn(400, 2, generator=g, dtype=torch.float64)
names = list(system.parameter_names)
Wtrue = []
for i in range(len(z)):
    p = torch.tensor([float(test_ds[n].values[i]) for n in names], dtype=torch.float64)
    dz = system.rhs(0.0, sc.denormalise(pts), p) / sc.scale
    Wtrue.append(torch.linalg.lstsq(library(pts), dz).solution)
Wtrue = torch.stack(Wtrue)
coef_err = ((W - Wtrue).norm(dim=(1, 2)) / Wtrue.norm(dim=(1, 2))).numpy()
x, out = z[:, C - 1], []
for _ in range(len(t) - C):
    x = rk4_step(lambda s, y: (library(y).unsqueeze(-2) @ W).squeeze(-2), 0.0, x, dt).clamp(-5, 5)
    out.append(x)
pred = sc.denormalise(torch.stack(out, 1))
mse = ((pred - test[:, C:]) ** 2).mean(dim=(1, 2)).numpy()
spread = z[:, :C].std(1).mean(1).numpy()  # normalised std of the context, mean over variables
q = np.quantile(spread, [0.25, 0.5, 0.75])
print(f"LV medium test, seed 0: {len(z)} trajectories, dt {dt:.4g}, context {C}")
print(f"coefficient relative error: median {np.median(coef_err):.3g}, 90th pct {np.quantile(coef_err, 0.9):.3g}")
print(f"forecast MSE of the fitted field (clamped at +-5): mean {mse.mean():.3g}, median {np.median(mse):.3g}")
for lo, hi, label in ((0, q[0], "lowest quarter"), (q[0], q[2], "middle half"), (q[2], np.inf, "highest quarter")):
    sel = (spread >= lo) & (spread < hi)
    print(f"context spread {label} ({sel.sum()} traj.): coefficient error median {np.median(coef_err[sel]):.3g}, "
          f"forecast MSE mean {mse[sel].mean():.3g}, median {np.median(mse[sel]):.3g}")
r = np.corrcoef(np.log(coef_err), np.log(mse + 1e-30))[0, 1]
print(f"correlation of log coefficient error and log forecast MSE: {r:.2f}")
