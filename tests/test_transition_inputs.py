"""What the transition reads (`warp_phys.transition_inputs`): the running moments are what
their definition says, causal, the same in parallel and step by step, and a WARP model that
reads them is the same model in every evaluation path (teacher forced, sequential rollout,
feedback passes, saved and rebuilt)."""
import itertools

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


def test_lstsq_is_the_running_least_squares_fit_of_a_quadratic_field():
    """On a path whose increments are exactly a quadratic field of the previous state, the
    coefficients are that field once the fit has more steps than unknowns (up to the ridge),
    they equal a direct least-squares solve at every step, they are causal, and the
    step-by-step reader gives the same numbers."""
    from warp_phys.cli.reconstruct_cmd import TRANSITION_INPUT_CHOICES

    assert TRANSITION_INPUT_CHOICES == ti.TRANSITION_INPUTS
    d, B, T = 2, 3, 40
    L = 1 + d + 3
    assert ti.n_inputs("lstsq", d) == d + L * d and ti.n_inputs("lstsq", 3) == 3 + 10 * 3
    # a growing spiral (rotation 0.5 rad and growth 3 % per step) with small quadratic terms: the
    # increments are exactly phi(x_prev) @ coef / AREA_SCALE, and the path excites every library term
    g = torch.Generator().manual_seed(7)
    c, sn = 1.03 * torch.cos(torch.tensor(0.5, dtype=F64)), 1.03 * torch.sin(torch.tensor(0.5, dtype=F64))
    coef = torch.zeros(B, L, d, dtype=F64)
    coef[:, 1:3] = (torch.tensor([[c, sn], [-sn, c]], dtype=F64) - torch.eye(2, dtype=F64)) * ti.AREA_SCALE
    coef[:, 3:] = 0.1 * torch.randn(B, 3, d, generator=g, dtype=F64)
    coef[:, 0] = 0.1 * torch.randn(B, d, generator=g, dtype=F64)
    x = torch.zeros(B, T, d, dtype=F64)
    x[:, 0] = 0.3 + 0.2 * torch.rand(B, d, generator=g, dtype=F64)
    for t in range(1, T):
        x[:, t] = x[:, t - 1] + torch.einsum("bl,bld->bd", ti.library(x[:, t - 1]), coef) / ti.AREA_SCALE
    T = x.shape[1]
    r = ti.features("lstsq", x)
    assert r.shape == (B, T, ti.n_inputs("lstsq", d))
    torch.testing.assert_close(r[..., :d], x, rtol=0, atol=0)
    assert r[:, 0, d:].abs().max() == 0  # step 0: nothing to fit
    torch.testing.assert_close(r[:, -1, d:].reshape(B, L, d), coef, rtol=0, atol=1e-4)  # ridge-limited (1e-6 rel.)
    t = 15  # a direct solve with the same ridge at one step
    phi = ti.library(x[:, :t])  # previous states of steps 1..t
    dx = (x[:, 1:t + 1] - x[:, :t]) * ti.AREA_SCALE
    gram = phi.transpose(1, 2) @ phi
    scale = gram.diagonal(dim1=-2, dim2=-1).mean(-1)[:, None, None]
    ridge = (ti.LSTSQ_RIDGE * scale + 1e-8) * torch.eye(L, dtype=F64)
    direct = torch.linalg.solve(gram + ridge, phi.transpose(1, 2) @ dx)
    torch.testing.assert_close(r[:, t, d:], direct.flatten(-2), rtol=1e-9, atol=1e-10)
    later = x.clone()
    later[:, 20:] += 1.0
    torch.testing.assert_close(ti.features("lstsq", later)[:, :20], r[:, :20], rtol=0, atol=0)
    reader = ti.MomentReader("lstsq")
    steps = [reader.start(x[:, 0])] + [reader.step(x[:, s]) for s in range(1, x.shape[1])]
    torch.testing.assert_close(torch.stack(steps, 1), r, rtol=1e-9, atol=1e-10)


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
