import json, sys, time, warnings
import numpy as np
import warp_phys
from warp_phys import systems
from warp_phys.metrics import valid_prediction_time
budget=float(sys.argv[1]); extra=json.loads(sys.argv[2]); n_train=int(sys.argv[3]) if len(sys.argv)>3 else 1024
t0=time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    rec = warp_phys.reconstruct(system="lorenz", parameters="sampled", context=100, epochs=100000, max_time=budget,
                                n_train=n_train, seed=0, device="cpu", progress=False, patience=1000, n_test=256, **extra)
ds = rec.dataset
truth = ds["state"].transpose("trajectory", "time", "variable").values
pred = ds["prediction_mean"].transpose("trajectory", "time", "variable").values
sysm = systems.get("lorenz")
vpt = valid_prediction_time(truth, pred, ds["time"].values, rec.context, time_scale=1.0 / sysm.lyapunov_exponent, reduce=None)
inside = np.ones(truth.shape[0], bool)
for p in sysm.parameters:
    v = ds[p.name].values
    inside &= (v >= p.train[0]) & (v <= p.train[1])
h = rec.history
print(json.dumps(dict(extra=extra, budget=budget, n_train=n_train, vpt_median=float(np.median(vpt)), reported=rec.metrics.get("vpt"),
                      n_inside=int(inside.sum()), vpt_inside=float(np.median(vpt[inside])),
                      vpt_outside=float(np.median(vpt[~inside])), vpt_q25=float(np.quantile(vpt,0.25)), val=float(h.best_score), epochs=h.epochs_run,
                      best_epoch=h.best_epoch, stop=h.stop_reason, wall=round(time.perf_counter() - t0))), flush=True)
