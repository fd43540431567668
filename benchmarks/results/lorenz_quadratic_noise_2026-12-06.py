"""One-off: the quadratic prior on Lorenz-63 with sampled parameters when the observations are
noisy. Clean sets as issue 12's protocol (system_splits, seed 0: 1,024 train + 256 val trajectories
from the training ranges, 256 OOD test trajectories, 401 steps of dt = 0.02); Gaussian noise of std
LEVEL x each variable's training std on every train/val step and on the test contexts (100 steps);
forecasts scored against the clean test future (median VPT, Lyapunov times). The train+val
trajectories go to reconstruct(data=...) (its seeded 70/15/15 split; validation selection on its
noisy validation part). Rows: "fit" = the quadratic field fitted to each noisy context by least
squares, integrated by RK4 (no learning); "fit+correction" = WARP, prior="quadratic",
transition_input="lstsq", parameter_fit=True, BUDGET s. Both clamp every predicted state to
+-CLIP normalised units (WARP's output_clip; a quadratic field fitted to noisy data can blow up
in finite time). Optional JSON of extra reconstruct keywords (e.g. a forecast loss that trains the
gated correction: without one the gate gets no gradient). argv: level budget clip [extra]"""
import json, sys, time, warnings
import numpy as np, torch
import warp_phys
from warp_phys import systems
from warp_phys.metrics import valid_prediction_time
from warp_phys.pipeline.sources import system_splits
from warp_phys.priors import rk4_step
from warp_phys.priors.parameter_fit import fit_raw
from warp_phys.transition_inputs import library
level, budget, clip = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
extra = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
t0 = time.perf_counter()
system = systems.get("lorenz")
sp = system_splits(system, system.protocol("default") if hasattr(system, "protocol") else None, sampled=True, seed=0,
                   n_train=1024, n_val=256, n_test=256, t_span=(0.0, 8.0), n_steps=401)
arr = lambda ds: ds["state"].transpose("trajectory", "time", "variable").values
train = np.concatenate([arr(sp.train), arr(sp.val)])
test_ds = sp.tests["test"]
test = arr(test_ds)
t = test_ds["time"].values
C = 100
rng = np.random.default_rng(123)
std = train.reshape(-1, 3).std(0)
noisy_train = train + level * std * rng.standard_normal(train.shape)
noisy_test = test.copy()
noisy_test[:, :C] += level * std * rng.standard_normal(noisy_test[:, :C].shape)
inside = np.ones(len(test), bool)
for p in system.parameters:
    v = test_ds[p.name].values
    inside &= (v >= p.train[0]) & (v <= p.train[1])
lyap = 1.0 / system.lyapunov_exponent

def score(pred):
    vpt = valid_prediction_time(test, pred, t, C, time_scale=lyap, reduce=None)
    return dict(vpt_median=float(np.median(vpt)), vpt_inside=float(np.median(vpt[inside])),
                vpt_outside=float(np.median(vpt[~inside])), vpt_q25=float(np.quantile(vpt, 0.25)))

with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    rec = warp_phys.reconstruct(data=noisy_train, time=t, context=C, prior="quadratic", transition_input="lstsq",
                                parameter_fit=True, output_clip=clip, epochs=100000, patience=1000, max_time=budget, seed=0,
                                device="cpu", progress=False, **extra)
out = rec.forecast(noisy_test, time=t, context=C)
pred = out["prediction_mean"].transpose("trajectory", "time", "variable").values
h = rec.history
row_model = dict(level=level, clip=clip, extra=extra, variant="fit+correction", budget=budget, **score(pred), val=float(h.best_score),
                 epochs=h.epochs_run, best_epoch=h.best_epoch, stop=h.stop_reason)
# the fit alone, in float64, with the run's scaler and bound prior
prior = rec.model.prior
z = rec.scaler.normalise(torch.from_numpy(noisy_test)).double()
tau = torch.linspace(0, 1, len(t), dtype=torch.float64)
raw = fit_raw(prior, z[:, :C], tau[:C])
W = prior.coefficients(raw)
field = lambda s, x: (library(x).unsqueeze(-2) @ W).squeeze(-2)
x, steps = z[:, C - 1], []
for _ in range(len(t) - C):
    x = rk4_step(field, 0.0, x, prior.ctx.dt).clamp(-clip, clip)
    steps.append(x)
fit_pred = test.copy()
fit_pred[:, C:] = rec.scaler.denormalise(torch.stack(steps, 1)).numpy()
print(json.dumps(dict(level=level, clip=clip, variant="fit", **score(np.nan_to_num(fit_pred, nan=1e6)))), flush=True)
print(json.dumps(dict(**row_model, wall=round(time.perf_counter() - t0))), flush=True)
