"""The ``subspace`` transition (warp_phys/transitions/subspace.py): a stable learned memory of the history."""
import math

import pytest
import torch

from warp_phys import transitions
from warp_phys.model import WARP
from warp_phys.training import Trainer
from warp_phys.transitions import SubspaceTransition, make_transition

D, d, B, T, M = 40, 3, 2, 13, 5


def _randomised(seed: int = 0) -> tuple[SubspaceTransition, torch.Generator]:
    g = torch.Generator().manual_seed(seed)
    tr = make_transition("subspace", D, d, rank=M, generator=g).double()
    with torch.no_grad():
        tr.B.copy_(0.3 * torch.randn(D, d, generator=g, dtype=torch.float64))
        tr.U.copy_(0.3 * torch.randn(D, 2 * M, generator=g, dtype=torch.float64))
    return tr, g


def _data(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.randn(B, D, generator=g, dtype=torch.float64),
            torch.randn(B, T, d, generator=g, dtype=torch.float64))


def test_registered_and_validated():
    assert "subspace" in transitions.available() and transitions.get("subspace") is SubspaceTransition
    assert SubspaceTransition.has_memory and SubspaceTransition.factorable
    tr = make_transition("subspace", D, d, rank=M)
    assert isinstance(tr, SubspaceTransition) and tr.n_coefficients == 2 * M + d
    assert tr.B.abs().max() == 0 and tr.U.abs().max() == 0  # starts as the identity transition
    with pytest.raises(ValueError, match="memory modes"):
        make_transition("subspace", D, d, rank=0)
    with pytest.raises(ValueError, match="step_state"):
        tr.step(torch.zeros(B, D), torch.zeros(B, d))


def test_parallel_scan_equals_explicit_recurrence():
    tr, g = _randomised(0)
    theta0, x = _data(g)
    lam, G = tr.recurrence()
    s, ref = torch.zeros(B, M, dtype=lam.dtype), [theta0]
    for t in range(1, T):  # the definition, written out
        s = lam * s + (x[:, t] - x[:, t - 1]).to(G.dtype) @ G.T
        ref.append(theta0 + (x[:, t] - x[:, 0]) @ tr.B.T + torch.cat([s.real, s.imag], -1) @ tr.U.T)
    ref = torch.stack(ref, 1).detach()
    torch.testing.assert_close(tr.trajectory(theta0, x), ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(tr.trajectory(theta0, x, method="loop"), ref, rtol=1e-10, atol=1e-10)


def test_coefficient_steps_equal_parallel_coefficients():
    tr, g = _randomised(1)
    theta0, x = _data(g)
    coeff = tr.coefficients(theta0, x)
    assert coeff.shape == (B, T, 2 * M + d) and coeff[:, 0].abs().max() == 0
    state = tr.init_coefficient_state(theta0, x[:, 0])
    for t in range(1, T):
        state, c = tr.step_coefficients(state, x[:, t])
        torch.testing.assert_close(c, coeff[:, t], rtol=1e-10, atol=1e-10)


def test_eigenvalues_stable_by_construction_and_spread():
    tr, _ = _randomised(2)
    with torch.no_grad():  # any parameter values: |lambda| = exp(-exp(nu)) < 1
        tr.nu.copy_(torch.tensor([-40.0, -5.0, 0.0, 3.0, 10.0], dtype=torch.float64))
        tr.omega.copy_(torch.tensor([0.0, 1.0, -7.0, 100.0, 3.0], dtype=torch.float64))
    mag = tr.eigenvalues().abs()
    assert bool((mag <= 1).all()) and bool((mag >= 0).all())
    fresh = make_transition("subspace", D, d, rank=8)
    decay = 1.0 / torch.exp(fresh.nu.detach())  # initial decay times (steps), log-spaced in [8, 512]
    period = 2 * math.pi / fresh.omega.detach()
    assert float(decay.min()) == pytest.approx(8.0, rel=1e-5) and float(decay.max()) == pytest.approx(512.0, rel=1e-5)
    assert float(period.min()) == pytest.approx(8.0, rel=1e-5)
    assert float(period.max()) == pytest.approx(1024.0, rel=1e-5)
    assert bool((fresh.eigenvalues().abs() < 1).all())
    # a long input drives s to a bounded steady state: |s| <= |G_n dx| / (1 - |lambda|)
    x = torch.ones(1, 600, d).cumsum(1) * 0.01  # constant dx
    s = fresh.memory(x).abs()
    lam, G = fresh.recurrence()
    bound = (G.abs() @ torch.full((d,), 0.01)) / (1 - lam.abs())
    assert bool((s[0, -1] <= bound * (1 + 1e-5)).all())


def test_zero_U_equals_identity():
    g = torch.Generator().manual_seed(3)
    sub = make_transition("subspace", D, d, rank=M, generator=g).double()
    ide = make_transition("identity", D, d).double()
    with torch.no_grad():
        Bmat = torch.randn(D, d, generator=g, dtype=torch.float64)
        sub.B.copy_(Bmat)
        ide.B.copy_(Bmat)
    theta0, x = _data(g)
    torch.testing.assert_close(sub.trajectory(theta0, x), ide.trajectory(theta0, x), rtol=0, atol=1e-12)


def test_model_factored_equals_plain():
    kw = dict(width=12, depth=2, transition="subspace", rank=3, seed=4)
    fac = WARP(2, **kw, evaluation="factored")
    plain = WARP(2, **kw, evaluation="plain")
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        fac.transition.U.copy_(0.2 * torch.randn(fac.transition.U.shape, generator=g))
        fac.transition.B.copy_(0.2 * torch.randn(fac.transition.B.shape, generator=g))
    plain.load_state_dict(fac.state_dict())
    x = 0.3 * torch.randn(3, 30, 2, generator=g).cumsum(1)
    tau = torch.linspace(0, 1, 30)
    torch.testing.assert_close(fac(x, tau).mean, plain(x, tau).mean, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fac.forecast(x[:, :10], tau).mean, plain.forecast(x[:, :10], tau).mean,
                               rtol=1e-5, atol=1e-5)
    pa = fac(x, tau, p_force=0.5, generator=torch.Generator().manual_seed(0)).mean
    pb = plain(x, tau, p_force=0.5, generator=torch.Generator().manual_seed(0)).mean
    torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-5)
    # the same weights as materialised by weights()
    w = fac.weights(x, tau)
    torch.testing.assert_close(w, fac.transition.trajectory(fac.initial(x[:, 0]), x, method="loop").detach(),
                               rtol=1e-5, atol=1e-5)


def _oscillators(n: int, T_: int, seed: int) -> torch.Tensor:
    """Undamped oscillators x = cos(w t), v = -sin(w t) with w drawn per trajectory (rad/step)."""
    g = torch.Generator().manual_seed(seed)
    w = 0.15 + 0.25 * torch.rand(n, 1, generator=g)
    t = torch.arange(T_, dtype=torch.float32)
    return torch.stack([torch.cos(w * t), -torch.sin(w * t)], dim=-1)


def test_memory_beats_identity_on_sampled_frequencies():
    """Frequency varies per trajectory: only a memory of the context can tell it. Forecast MSE after
    a 20-step context, same budget: identity cannot beat ~the variance of the state (~0.5 here:
    its forecast cannot depend on the frequency), the memory transition gets far below it."""
    T_, C = 40, 20
    x_tr, x_val, x_te = _oscillators(128, T_, 0), _oscillators(64, T_, 2), _oscillators(64, T_, 1)
    tau = torch.linspace(0, 1, T_)
    scores = {}
    for kind in ("identity", "subspace"):
        model = WARP(2, width=16, depth=1, transition=kind, rank=8, prev_obs_input=True, seed=0)
        Trainer(epochs=40, batch_size=32, lr=1e-2, val_n_ctx=C, progress=False, device="cpu").fit(
            model, x_tr, tau, x_val)
        scores[kind] = float(((model.forecast(x_te[:, :C], tau).mean[:, C:] - x_te[:, C:]) ** 2).mean())
    assert scores["subspace"] < 0.25 * scores["identity"], scores


def test_transition_options_reach_the_memory_and_survive_a_checkpoint(tmp_path):
    from warp_phys.checkpoint import load_model, save_model

    # input_scale multiplies the seeded random input matrix G, nothing else
    plain = make_transition("subspace", D, d, rank=M, generator=torch.Generator().manual_seed(3))
    scaled = make_transition("subspace", D, d, rank=M, generator=torch.Generator().manual_seed(3),
                             options={"input_scale": 10.0, "min_period": 20.0})
    torch.testing.assert_close(scaled.G_re, 10.0 * plain.G_re)
    torch.testing.assert_close(scaled.G_im, 10.0 * plain.G_im)
    periods = 2 * math.pi / scaled.omega.detach()
    assert float(periods.min()) == pytest.approx(20.0, rel=1e-5)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['input_scal'\].*transition_options.*"
                                         r"'input_scale'\?\); valid options: \['input_scale'"):
        make_transition("subspace", D, d, rank=M, options={"input_scal": 1.0})
    with pytest.raises(ValueError, match="valid options"):  # set by make_transition itself, not an option
        make_transition("subspace", D, d, rank=M, options={"generator": None})
    with pytest.raises(ValueError, match=r"'lowrank' takes no transition_options, got \['input_scale'\]; "
                                         r"only 'subspace' has options"):
        make_transition("lowrank", D, d, rank=2, options={"input_scale": 1.0})
    # the WARP option is recorded in the config (what load_model rebuilds from); the reload predicts identically
    model = WARP(d, width=8, depth=1, transition="subspace", rank=3, seed=1,
                 transition_options={"input_scale": 5.0})
    with torch.no_grad():
        model.transition.U.normal_(0, 0.3)
    x = torch.randn(B, T, d, generator=torch.Generator().manual_seed(2))
    save_model(model, tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt", device="cpu")
    assert loaded.config["transition_options"] == {"input_scale": 5.0}
    tau = torch.linspace(0, 1, T)
    torch.testing.assert_close(loaded(x, tau), model(x, tau), rtol=0, atol=0)
