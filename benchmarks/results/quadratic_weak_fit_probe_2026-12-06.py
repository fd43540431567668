"""Probe (no training): the quadratic prior's closed-form fit in Simpson's form against a weak
form (`weak_form_fit` below; it was an option of the prior while this probe ran and was taken out
after it, since it did not help), with and without the Levenberg-Marquardt refinement that
``parameter_fit`` adds (fit_iterations 5 / 0), on noisy contexts.

Data: the package's observation-noise protocol (`warp_phys.pipeline.sources.with_observation_noise`:
LEVEL x each variable's std over the clean training split on every training/validation step and on
the test contexts; the test future clean). MSD: the medium paper-table splits, seed 0 (1,024
validation, 4,096 OOD test trajectories, context 100 of 256). Lorenz-63: issue 12's sampled
protocol, seed 0 (1,024 train for the scaler, 256 validation, 256 OOD test, context 100 of 401,
dt 0.02). Each context is fitted, the field integrated by RK4 from the last context state with
every state clamped to +-5 normalised units (output_clip=5, as the quadratic rows), and scored:
MSD raw MSE over the forecast (validation against its noisy future, test against the clean one),
Lorenz median VPT in Lyapunov times. The variant is chosen on validation. argv: system level [level ...]"""
import functools
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import paper_table as pt  # noqa: E402
from warp_phys import priors, systems  # noqa: E402
from warp_phys.metrics import valid_prediction_time  # noqa: E402
from warp_phys.pipeline.sources import system_splits, with_observation_noise  # noqa: E402
from warp_phys.priors import BindContext, rk4_step  # noqa: E402
from warp_phys.priors.parameter_fit import fit_raw  # noqa: E402
from warp_phys.scaling import Scaler  # noqa: E402
from warp_phys.transition_inputs import library, solve_normal  # noqa: E402


def weak_form_fit(x: torch.Tensor, half_width: int = 10, power: int = 4) -> torch.Tensor:
    """dt W (B, L d): least squares of dz/dt = phi(z) W on x (B, T, d) in weak form: each window of
    2 h + 1 steps (every max(1, h // 4) steps) gives, with psi(s) = (1 - s^2)^power vanishing at its
    ends, sum_j psi_j phi(x_j) (dt W) = -sum_j psi'_j x_j (psi' per step); solve_normal's ridge."""
    B, T, d = x.shape
    h = min(int(half_width), (T - 1) // 2)
    s = torch.arange(-h, h + 1, dtype=torch.float64) / h
    psi, dpsi = (1.0 - s ** 2) ** power, -2.0 * power * s * (1.0 - s ** 2) ** (power - 1) / h
    windows = x.to(torch.float64).unfold(1, 2 * h + 1, max(1, h // 4))  # (B, K, d, 2h + 1)
    lhs = torch.einsum("m,bkml->bkl", psi, library(windows.transpose(-1, -2)))
    rhs = -torch.einsum("m,bkdm->bkd", dpsi, windows)
    return solve_normal(lhs.transpose(-1, -2) @ lhs, lhs.transpose(-1, -2) @ rhs, lhs.shape[1]).to(x.dtype)

C = 100
#: (label, half width h, power p of the test function); None: Simpson's form. On a clean 100-step
#: Lorenz context (dt 0.01) these (h, p) read the coefficients within 0.1-0.5 % of the largest term,
#: h = 10 only within 12 % (too few independent windows), p = 2 within 5-14 % (quadrature).
VARIANTS = [("simpson", None), ("weak 4,6", (4, 6)), ("weak 5,8", (5, 8)), ("weak 6,6", (6, 6)),
            ("weak 10,4", (10, 4))]
arr = lambda ds: torch.from_numpy(ds["state"].transpose("trajectory", "time", "variable").values).double()  # noqa: E731


def splits_for(name: str, level: float):
    if name == "msd":
        sp = pt.simulate_dataset("msd", 0, "medium")
        return with_observation_noise(sp, level, C, 0) if level else sp, None
    system = systems.get("lorenz")
    proto = system.protocol("default") if hasattr(system, "protocol") else None  # as issue 12's one-offs
    sp = system_splits(system, proto, sampled=True, seed=0, n_train=1024, n_val=256, n_test=256, t_span=(0.0, 8.0),
                       n_steps=401, observation_noise=level, n_ctx=C)
    return sp, 1.0 / system.lyapunov_exponent


def forecast(prior, sc, x, t, fit_iterations):
    z = sc.normalise(x)[:, :C]
    tau = torch.linspace(0.0, 1.0, len(t), dtype=torch.float64)[:C]
    prior.fit_iterations = fit_iterations
    raw = torch.cat([fit_raw(prior, z[i:i + 1024], tau) if fit_iterations else prior.initial_raw(z[i:i + 1024], tau)
                     for i in range(0, len(z), 1024)])
    W = prior.coefficients(raw)
    dt = prior.ctx.dt
    state, out = z[:, -1], []
    for _ in range(len(t) - C):
        state = rk4_step(lambda s, y: (library(y).unsqueeze(-2) @ W).squeeze(-2), 0.0, state, dt).clamp(-5, 5)
        out.append(state)
    return sc.denormalise(torch.stack(out, 1))


def main():
    name, levels = sys.argv[1], [float(v) for v in sys.argv[2:]]
    for level in levels:
        t0 = time.perf_counter()
        sp, lyap = splits_for(name, level)
        train, val, test = arr(sp.train), arr(sp.val), arr(sp.tests["test"])
        t = sp.tests["test"]["time"].values
        d = train.shape[-1]
        sc = Scaler(train.reshape(-1, d).mean(0), train.reshape(-1, d).std(0))
        print(f"\n## {name}, noise {level:g}: {len(val)} validation / {len(test)} test trajectories "
              f"(data {time.perf_counter() - t0:.0f} s)")
        for label, hp in VARIANTS:
            for its in (0, 5):
                prior = priors.get("quadratic")
                if hp is not None:  # where fit_raw starts, and the fit itself with its = 0
                    prior.initial_raw = functools.partial(lambda h, p, x, tau: weak_form_fit(x, h, p) / prior.gain,
                                                          *hp)
                prior.bind(BindContext(d, float(t[1] - t[0]), float(t[-1] - t[0]), sc, None))
                t1 = time.perf_counter()
                pv, pt_ = forecast(prior, sc, val, t, its), forecast(prior, sc, test, t, its)
                if lyap is None:
                    v = float(((pv - val[:, C:]) ** 2).mean())
                    e = ((pt_ - test[:, C:]) ** 2).mean(dim=(1, 2))
                    print(f"{label:<10} LM {its}: val MSE {v:.4g}; test MSE {float(e.mean()):.4g} "
                          f"(median {float(e.median()):.3g}) [{time.perf_counter() - t1:.0f} s]", flush=True)
                else:
                    full = lambda p, x: np.concatenate([x[:, :C].numpy(), p.numpy()], 1)  # noqa: E731
                    vv = valid_prediction_time(val.numpy(), full(pv, val), t, C, time_scale=lyap,
                                               reduce=None)
                    vt = valid_prediction_time(test.numpy(), full(pt_, test), t, C, time_scale=lyap, reduce=None)
                    print(f"{label:<10} LM {its}: val VPT median {np.median(vv):.3f}; test VPT median "
                          f"{np.median(vt):.3f} (q25 {np.quantile(vt, 0.25):.3f}) [{time.perf_counter() - t1:.0f} s]",
                          flush=True)


if __name__ == "__main__":
    main()
