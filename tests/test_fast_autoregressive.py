"""Parallel feedback passes (WARP.forward(..., feedback_passes=K)) against the sequential rollout."""
import pytest
import torch

from warp_phys import priors, transitions
from warp_phys import systems as S
from warp_phys.model import WARP
from warp_phys.priors import BindContext
from warp_phys import rollout
from warp_phys.rollout import feedback_inputs
from warp_phys.scaling import Scaler

F64 = torch.float64
B, T, d = 3, 12, 2
TOL = {"rtol": 1e-10, "atol": 1e-12}

PRIOR_OPTIONS = {"damped_oscillator": {"omega_scale": 3.0}, "bounded": {"bounds": [(-3.0, 3.0), None]},
                 "hybrid": {"hidden": 6}, "positive": {"floor": [-3.0, -3.0]}}


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.cumsum(0.3 * torch.randn(B, T, d, generator=g, dtype=F64), dim=1)
    return x, torch.linspace(0, 1, T, dtype=F64)


def _force(p=0.4, seed=1):
    return torch.rand(B, T, generator=torch.Generator().manual_seed(seed)) < p


def _model(transition="lowrank", prior=None, scale=0.3, **kw):
    """A float64 model moved away from its initialisation (B = 0, A = I) so feedback matters."""
    ctx = None
    if prior is not None:
        ctx = BindContext(d, 0.02, 0.02 * (T - 1), Scaler(torch.zeros(d, dtype=F64), torch.ones(d, dtype=F64)),
                          S.get("mass_spring_damper"))
        prior = priors.get(prior, **PRIOR_OPTIONS.get(prior, {}))
    m = WARP(d, width=8, depth=2, transition=transition, rank=2, prior=prior, bind_context=ctx,
             max_dense_params=10_000, **kw).to(F64)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        tr = m.transition
        tr.B.copy_(scale * torch.randn(tr.B.shape, generator=g, dtype=F64))
        if hasattr(tr, "U"):
            tr.U.copy_(scale / 3 * torch.randn(tr.U.shape, generator=g, dtype=F64))
        if transition == "diagonal":
            tr.a.copy_(1 + 0.02 * torch.randn(tr.a.shape, generator=g, dtype=F64))
        if transition == "dense":
            tr.A.add_(0.01 * torch.randn(tr.A.shape, generator=g, dtype=F64))
    return m


def _loss(pred, x):
    loss = (pred.mean - x).pow(2).sum()
    return loss + pred.std.log().sum() if pred.std is not None else loss


def _grads(m, pred, x):
    params = [p for p in m.parameters() if p.requires_grad]
    grads = torch.autograd.grad(_loss(pred, x), params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


def _assert_same(m, fast, seq, x, tol=TOL):
    torch.testing.assert_close(fast.mean, seq.mean, **tol)
    if seq.std is not None:
        torch.testing.assert_close(fast.std, seq.std, **tol)
    for a, b in zip(_grads(m, fast, x), _grads(m, seq, x)):
        torch.testing.assert_close(a, b, **tol)


CASES = [(tr, ev) for tr in transitions.available() for ev in ("auto", "plain")
         if ev == "auto" or transitions.get(tr).factorable]


@pytest.mark.parametrize("transition_input", ["state", "moments", "lstsq"])
@pytest.mark.parametrize("transition,evaluation", CASES)
def test_full_feedback_equals_sequential_rollout_for_every_transition(transition, evaluation, transition_input):
    m = _model(transition, evaluation=evaluation, prev_obs_input=True, output="gaussian", output_clip=0.3,
               transition_input=transition_input)
    x, tau = _data()
    force = _force()
    noise = 0.05 * torch.randn(B, T, d, generator=torch.Generator().manual_seed(3), dtype=F64)
    # "lstsq" solves its normal equations batched over time in parallel and per step in the loop:
    # the two differ by float64 round-off amplified by the solve's conditioning, poor while a path
    # has fewer steps than library terms and the fading ridge (LSTSQ_RIDGE) regularises the fit
    tol = {"rtol": 1e-5, "atol": 1e-7} if transition_input == "lstsq" else TOL
    for nz in (None, noise):
        seq = m.rollout(x, tau, force, noise=nz)
        fast = m.feedback_rollout(x, tau, force, passes=T, detach=False, noise=nz)
        _assert_same(m, fast, seq, x, tol)
    assert (seq.mean.abs() >= 0.3 - 1e-12).any()  # the clamp is active somewhere
    # T - 2 passes are already exact, gradients included
    _assert_same(m, m.feedback_rollout(x, tau, force, passes=T - 2, detach=False, noise=noise),
                 m.rollout(x, tau, force, noise=noise), x, tol)


@pytest.mark.parametrize("prior", priors.available())
def test_full_feedback_equals_sequential_rollout_for_every_prior(prior):
    m = _model("lowrank", prior, scale=0.1, prev_obs_input=True, output_clip=5.0)
    x, tau = _data(1)
    force = _force(0.3, seed=2)
    seq = m.rollout(x, tau, force)
    _assert_same(m, m.feedback_rollout(x, tau, force, passes=T, detach=False), seq, x)
    # through forward: same generator -> same force -> same numbers as the sequential path
    a = m(x, tau, p_force=0.3, generator=torch.Generator().manual_seed(5), feedback_passes=T, detach_feedback=False)
    b = m(x, tau, p_force=0.3, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(a.mean, b.mean, **TOL)


@pytest.mark.parametrize("transition", ["lowrank", "diagonal"])
def test_k_passes_give_the_first_k_plus_two_steps_exactly(transition):
    m = _model(transition, prev_obs_input=True)
    x, tau = _data(2)
    force = torch.zeros(B, T, dtype=torch.bool)  # free running: every step fed back
    seq = m.rollout(x, tau, force).mean
    for K in (1, 2, 4):
        fast = m.feedback_rollout(x, tau, force, passes=K).mean
        torch.testing.assert_close(fast[:, : K + 2], seq[:, : K + 2], **TOL)
        assert (fast[:, K + 2] - seq[:, K + 2]).abs().max() > 1e-8  # and no more
    # one pass: the prediction from the teacher-forced predictions fed back
    tf = m(x, tau).mean
    torch.testing.assert_close(m.feedback_rollout(x, tau, force, passes=1).mean,
                               m(feedback_inputs(x, force, tf), tau).mean, **TOL)


def test_detached_feedback_has_the_gradient_of_a_teacher_forced_pass_on_fixed_inputs():
    m = _model("subspace", prev_obs_input=True)
    x, tau = _data(3)
    force = _force(0.5)
    seq = m.rollout(x, tau, force)
    fast = m.feedback_rollout(x, tau, force, passes=T, detach=True)
    torch.testing.assert_close(fast.mean, seq.mean, **TOL)
    ref = m(feedback_inputs(x, force, seq.mean.detach()), tau)
    detached = _grads(m, fast, x)
    for a, b in zip(detached, _grads(m, ref, x)):
        torch.testing.assert_close(a, b, **TOL)
    # it differs from the full gradient through the fed-back predictions
    assert max((a - b).abs().max() for a, b in zip(detached, _grads(m, seq, x))) > 1e-8


def test_forward_is_seeded_and_none_is_the_sequential_path():
    m = _model("identity", prev_obs_input=True)
    x, tau = _data(4)

    def run(seed, **kw):
        return m(x, tau, p_force=0.5, generator=torch.Generator().manual_seed(seed), **kw).mean

    for kw in ({}, {"feedback_passes": 2}, {"feedback_passes": 1, "noise_std": 0.1},
               {"feedback_passes": None, "noise_std": 0.1}):
        assert torch.equal(run(1, **kw), run(1, **kw))
        assert not torch.equal(run(1, **kw), run(2, **kw))
    # feedback_passes=None, no noise: the sequential rollout with the same draw, bit for bit
    force = torch.rand(B, T, generator=torch.Generator().manual_seed(1)) < 0.5
    assert torch.equal(run(1), m.rollout(x, tau, force).mean)
    assert torch.equal(run(1, feedback_passes=None, detach_feedback=False, noise_std=0.0), run(1))
    # p_force = 1 is the parallel pass whatever the feedback options
    assert torch.equal(m(x, tau, feedback_passes=3, noise_std=0.5).mean, m(x, tau).mean)


def test_noise_is_drawn_from_the_generator_and_fed_back():
    m = _model("lowrank", prev_obs_input=True)
    x, tau = _data(5)

    def run(seed, **kw):
        g = torch.Generator().manual_seed(seed)
        return m(x, tau, p_force=0.3, generator=g, noise_std=0.2, **kw).mean

    for kw in ({}, {"feedback_passes": 1}, {"feedback_passes": T, "detach_feedback": False}):
        a, b, c = run(0, **kw), run(0, **kw), run(1, **kw)
        assert torch.equal(a, b) and not torch.equal(a, c)
        # it changes the prediction: the same force without noise differs
        clean = m(x, tau, p_force=0.3, generator=torch.Generator().manual_seed(0), **kw).mean
        assert (a - clean).abs().max() > 1e-6
        torch.testing.assert_close(a[:, :2], clean[:, :2])  # steps 0 and 1 read x_0 only
    # the noise is the draw after the force draw, and both paths use it identically
    g = torch.Generator().manual_seed(0)
    force = torch.rand(B, T, generator=g) < 0.3
    noise = 0.2 * torch.randn(B, T, d, generator=g, dtype=F64)
    torch.testing.assert_close(run(0), m.rollout(x, tau, force, noise=noise).mean, rtol=0, atol=0)
    torch.testing.assert_close(run(0, feedback_passes=T), run(0), **TOL)


def test_bad_feedback_options_raise():
    m = _model("identity")
    x, tau = _data(6)
    for kw, match in (({"feedback_passes": 0}, "feedback_passes"), ({"feedback_passes": 1.5}, "feedback_passes"),
                      ({"noise_std": -0.1}, "noise_std"), ({"noise_std": float("nan")}, "noise_std"),
                      ({"detach_feedback": "yes"}, "detach_feedback")):
        with pytest.raises(ValueError, match=match):
            m(x, tau, p_force=0.5, **kw)


@pytest.mark.parametrize("transition,activation", [("subspace", "swish"), ("lowrank", "tanh"), ("diagonal", "swish")])
def test_chunked_passes_without_autograd_equal_one_chunk(monkeypatch, transition, activation):
    m = _model(transition, prev_obs_input=True, output="gaussian", activation=activation)
    x, tau = _data(7)
    force = _force(0.3)
    noise = 0.1 * torch.randn(B, T, d, generator=torch.Generator().manual_seed(4), dtype=F64)
    whole = m.feedback_rollout(x, tau, force, passes=3, noise=noise)
    monkeypatch.setattr(rollout, "CPU_CHUNK_ROWS", 2 * T)  # chunks of 2 trajectories, the last of 1
    chunked = m.feedback_rollout(x, tau, force, passes=3, noise=noise)
    torch.testing.assert_close(chunked.mean, whole.mean, **TOL)
    torch.testing.assert_close(chunked.std, whole.std, **TOL)
    # and the same as the passes with autograd (which never chunk)
    torch.testing.assert_close(m.feedback_rollout(x, tau, force, passes=3, detach=False, noise=noise).mean,
                               whole.mean, **TOL)
