"""What the transition reads (`warp_phys.transition_inputs`): the running moments are what
their definition says, causal, the same in parallel and step by step, and a WARP model that
reads them is the same model in every evaluation path (teacher forced, sequential rollout,
feedback passes, saved and rebuilt)."""
import itertools

import numpy as np
import pytest
import torch

from warp_phys import transition_inputs as ti
from warp_phys.model import WARP

F64 = torch.float64


def _paths(B=3, T=15, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.cumsum(0.4 * torch.randn(B, T, d, generator=g, dtype=F64), dim=1)


def test_moments_are_running_means_of_the_monomials_and_areas():
    x = _paths()
    r = ti.features("moments", x)
    d = 3
    assert r.shape == (3, 15, ti.n_inputs("moments", d)) and ti.n_inputs("moments", d) == 3 + 6 + 10 + 9
    torch.testing.assert_close(r[..., :d], x, rtol=0, atol=0)  # the state itself first
    t = 9
    quad = [(x[:, : t + 1, i] * x[:, : t + 1, j]).mean(1) for i, j in itertools.combinations_with_replacement(range(d), 2)]
    cubic = [(x[:, : t + 1, i] * x[:, : t + 1, j] * x[:, : t + 1, k]).mean(1)
             for i, j, k in itertools.combinations_with_replacement(range(d), 3)]
    dx = x[:, 1 : t + 1] - x[:, :t]  # the area terms of steps 1..t (step 0 has none)
    area = [(x[:, :t, i] * dx[..., j]).sum(1) * ti.AREA_SCALE / (t + 1) for i in range(d) for j in range(d)]
    torch.testing.assert_close(r[:, t, d:], torch.stack(quad + cubic + area, -1), rtol=1e-12, atol=1e-12)
    assert ti.features("state", x) is x and ti.n_inputs("state", d) == d


def test_moments_are_causal_and_equal_step_by_step():
    x = _paths(seed=1)
    r = ti.features("moments", x)
    later = x.clone()
    later[:, 8:] += 5.0  # changing step 8 on cannot change what was read before it
    torch.testing.assert_close(ti.features("moments", later)[:, :8], r[:, :8], rtol=0, atol=0)
    assert (ti.features("moments", later)[:, 8] - r[:, 8]).abs().max() > 0.1
    reader = ti.MomentReader("moments")
    steps = [reader.start(x[:, 0])] + [reader.step(x[:, t]) for t in range(1, x.shape[1])]
    torch.testing.assert_close(torch.stack(steps, 1), r, rtol=1e-12, atol=1e-12)


def test_bad_transition_input_is_refused():
    with pytest.raises(ValueError, match="unknown transition_input 'squares'.*'state', 'moments', 'lstsq'"):
        WARP(2, transition_input="squares")
    with pytest.raises(RuntimeError, match="before start"):
        ti.MomentReader("moments").step(torch.zeros(1, 2))


def _lorenz_path(B: int, T: int, dt: float, substeps: int = 50) -> tuple[torch.Tensor, torch.Tensor]:
    """Lorenz-63 paths x (B, T, 3) sampled every dt, integrated by RK4 at dt / substeps (its error,
    O((dt / substeps)^4), is far below Simpson's), and the true coefficients W (B, 10, 3) of the
    field F(x) = library(x) @ W, with sigma, rho, beta differing per path."""
    g = torch.Generator().manual_seed(11)
    sigma, rho, beta = (lo + (hi - lo) * torch.rand(B, generator=g, dtype=F64)
                        for lo, hi in ((8.0, 12.0), (20.0, 36.0), (2.0, 3.5)))
    W = torch.zeros(B, 10, 3, dtype=F64)  # library: 1, x, y, z, xx, xy, xz, yy, yz, zz
    W[:, 1, 0], W[:, 2, 0] = -sigma, sigma          # dx = sigma (y - x)
    W[:, 1, 1], W[:, 2, 1], W[:, 6, 1] = rho, -1.0, -1.0  # dy = x (rho - z) - y
    W[:, 5, 2], W[:, 3, 2] = 1.0, -beta              # dz = x y - beta z

    def field(x):
        return torch.einsum("bl,bld->bd", ti.library(x), W)

    x = torch.empty(B, T, 3, dtype=F64)
    x[:, 0] = torch.tensor([1.0, 1.0, 20.0], dtype=F64) + torch.randn(B, 3, generator=g, dtype=F64)
    h = dt / substeps
    state = x[:, 0]
    for t in range(1, T):
        for _ in range(substeps):
            k1 = field(state)
            k2 = field(state + h / 2 * k1)
            k3 = field(state + h / 2 * k2)
            k4 = field(state + h * k3)
            state = state + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        x[:, t] = state
    return x, W


def test_lstsq_reads_the_parameters_of_a_sampled_quadratic_field():
    """On sampled Lorenz-63 paths (dt = 0.01, 100 steps, one time unit) the coefficients are the
    field's own, AREA_SCALE dt W: Simpson's rule integrates the field to O(dt^5) per pair of
    steps, so sigma, rho and beta come out within 0.5 % (on these transient paths; the previous
    state's Euler form, the increments regressed on library(x_{t-1}), is off by more than 2 %). They equal a
    direct least-squares solve at every step, they are causal, and the step-by-step reader
    gives the same numbers."""
    from warp_phys.cli.reconstruct_cmd import TRANSITION_INPUT_CHOICES

    assert TRANSITION_INPUT_CHOICES == ti.TRANSITION_INPUTS
    B, T, dt, d, L = 4, 100, 0.01, 3, 10
    assert ti.n_inputs("lstsq", d) == d + L * d and ti.n_inputs("lstsq", 2) == 2 + 6 * 2
    x, W = _lorenz_path(B, T, dt)
    # O(1) units, as the model reads them (x, y divided by 10, z by 30): the field stays quadratic,
    # and sigma, rho, beta stay the coefficients of y in dx, of x in dy and of -z in dz
    x = x / torch.tensor([10.0, 10.0, 30.0], dtype=F64)
    r = ti.features("lstsq", x)
    assert r.shape == (B, T, ti.n_inputs("lstsq", d))
    torch.testing.assert_close(r[..., :d], x, rtol=0, atol=0)
    assert r[:, :2, d:].abs().max() == 0  # steps 0 and 1: no Simpson pair yet
    coef = r[:, -1, d:].reshape(B, L, d) / (ti.AREA_SCALE * dt)
    read = torch.stack([coef[:, 2, 0], coef[:, 1, 1], -coef[:, 3, 2]], 1)  # sigma, rho, beta
    truth = torch.stack([W[:, 2, 0], W[:, 1, 1], -W[:, 3, 2]], 1)
    assert ((read / truth - 1).abs() < 5e-3).all(), read / truth - 1
    phi = ti.library(x[:, :-1])  # Euler's form on the same path: biased at O(dt)
    euler = torch.linalg.solve(phi.transpose(1, 2) @ phi, phi.transpose(1, 2) @ (x[:, 1:] - x[:, :-1])) / dt
    euler_read = torch.stack([euler[:, 2, 0], euler[:, 1, 1], -euler[:, 3, 2]], 1)
    assert ((euler_read / truth - 1).abs() > 2e-2).any()
    t = 15  # a direct solve with the same ridge at one step: rows are the Simpson pairs ending at 2..t
    psi = (ti.library(x[:, :t - 1]) + 4 * ti.library(x[:, 1:t]) + ti.library(x[:, 2:t + 1])) / 3
    dx = (x[:, 2:t + 1] - x[:, :t - 1]) * ti.AREA_SCALE
    gram = psi.transpose(1, 2) @ psi
    scale = gram.diagonal(dim1=-2, dim2=-1).mean(-1)[:, None, None]
    rel = ti.LSTSQ_RIDGE + ti.LSTSQ_EARLY_RIDGE * (2 * L / (t - 1)) ** 4  # t - 1 pairs
    ridge = (rel * scale + 1e-8) * torch.eye(L, dtype=F64)
    direct = torch.linalg.solve(gram + ridge, psi.transpose(1, 2) @ dx)
    near = dict(rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(r[:, t, d:], direct.flatten(-2), **near)
    later = x.clone()
    later[:, 20:] += 1.0
    torch.testing.assert_close(ti.features("lstsq", later)[:, :20], r[:, :20], rtol=0, atol=0)
    reader = ti.MomentReader("lstsq")
    steps = [reader.start(x[:, 0])] + [reader.step(x[:, s]) for s in range(1, x.shape[1])]
    torch.testing.assert_close(torch.stack(steps, 1), r, **near)


@pytest.mark.parametrize("kind", ["moments", "lstsq"])
@pytest.mark.parametrize("transition", ["lowrank", "subspace", "diagonal"])
def test_a_moment_reading_model_is_one_model_in_every_path(transition, kind, tmp_path):
    x, tau = _paths(B=2, T=12, d=2, seed=2), torch.linspace(0, 1, 12, dtype=F64)
    m = WARP(2, width=8, depth=2, transition=transition, rank=2, transition_input=kind, prev_obs_input=True,
             output_clip=3.0, seed=3).to(F64)
    with torch.no_grad():  # move B (zero at initialisation) so that the moments matter
        m.transition.B.copy_(0.3 * torch.randn(m.transition.B.shape, generator=torch.Generator().manual_seed(4),
                                               dtype=F64))
    assert m.transition.B.shape[1] == ti.n_inputs(kind, 2) == (2 + 3 + 4 + 4 if kind == "moments" else 2 + 12)
    tf = m(x, tau).mean
    forced = m.rollout(x, tau, torch.ones(2, 12, dtype=torch.bool)).mean  # the loop fed the truth
    torch.testing.assert_close(forced, tf, rtol=1e-10, atol=1e-12)
    # the moments matter: zeroing their columns of B changes the predictions
    blind = WARP(**{k: v for k, v in m.config.items() if k not in ("prior", "bind_context")}).to(F64)
    blind.load_state_dict(m.state_dict())
    with torch.no_grad():
        blind.transition.B[:, 2:] = 0.0
    assert (blind(x, tau).mean - tf).abs().max() > 1e-3
    rebuilt = WARP(**{k: v for k, v in m.config.items() if k not in ("prior", "bind_context")}).to(F64)
    rebuilt.load_state_dict(m.state_dict())
    torch.testing.assert_close(rebuilt(x, tau).mean, tf, rtol=0, atol=0)
    fc = m.forecast(x[:, :5], tau).mean
    assert torch.isfinite(fc).all()
    torch.testing.assert_close(rebuilt.forecast(x[:, :5], tau).mean, fc, rtol=0, atol=0)


def test_reconstruct_passes_transition_input_to_warp():
    import numpy as np

    import warp_phys

    rec = warp_phys.reconstruct(system="msd", epochs=1, n_train=8, n_val=4, n_test=4, transition_input="moments",
                                progress=False, device="cpu")
    net = rec.model
    assert net.config["transition_input"] == "moments"
    assert net.transition.B.shape[1] == ti.n_inputs("moments", 2)
    assert np.isfinite(rec.dataset["prediction_mean"].values).all()


def test_the_read_benchmark_maps_the_coefficients_to_the_physical_parameters():
    """benchmarks/lstsq_read.py: its map from the package's coefficients (standardised units)
    to k/m, c/m and sigma, rho, beta gives the simulated parameters on the OOD test sets, within
    1 % for every trajectory (Simpson's rule after 100 steps), and Euler's form is worse."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import lstsq_read
    from warp_phys import systems

    for name, kw in (("mass_spring_damper", dict(protocol="paper")), ("lorenz", {})):
        ds = systems.get(name).simulate(8, params="test", seed=0, device="cpu", **kw)
        x = torch.as_tensor(ds["state"].transpose("trajectory", "time", "variable").values)[:, :100]
        dt = float(ds["time"].values[1] - ds["time"].values[0])
        mu, sd = x.mean((0, 1)), x.std((0, 1))
        u = ((x - mu) / sd).float()
        true = lstsq_read.truth(name, ds)
        ours = lstsq_read.read_parameters(name, lstsq_read.coefficients("simpson (package)", u) / dt, mu, sd)
        euler = lstsq_read.read_parameters(name, lstsq_read.coefficients("euler", u) / dt, mu, sd)
        worst = max(float(np.abs(ours[k].numpy() / true[k] - 1).max()) for k in true)
        worst_euler = max(float(np.abs(euler[k].numpy() / true[k] - 1).max()) for k in true)
        assert worst < 1e-2 < worst_euler, (name, worst, worst_euler)
