"""WARP module: evaluations agree, modes agree, alignment, errors, outputs."""
import json

import pytest
import torch

from warp_phys.model import WARP
from warp_phys.priors.base import Prior
from warp_phys.sequence import SequenceModel

B, T, d = 3, 17, 2


def _data(seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.cumsum(0.3 * torch.randn(B, T, d, generator=g, dtype=dtype), dim=1)
    return x, torch.linspace(0, 1, T, dtype=dtype)


def _model(transition="identity", dtype=torch.float64, **kw):
    kw = {"width": 12, "depth": 2, **kw}
    m = WARP(d, transition=transition, max_dense_params=10_000, **kw).to(dtype)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():  # move away from the initialisation (B = 0, A = I) so the recurrence matters
        tr = m.transition
        tr.B.copy_(0.2 * torch.randn(tr.B.shape, generator=g, dtype=dtype))
        if transition == "lowrank":
            tr.U.copy_(0.05 * torch.randn(tr.U.shape, generator=g, dtype=dtype))
        if transition == "diagonal":
            tr.a.copy_(1 + 0.02 * torch.randn(tr.a.shape, generator=g, dtype=dtype))
        if transition == "dense":
            tr.A.add_(0.002 * torch.randn(tr.A.shape, generator=g, dtype=dtype))
    return m


@pytest.mark.parametrize("transition", ["identity", "lowrank"])
def test_factored_equals_plain(transition):
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-5)):
        m = _model(transition, dtype, prev_obs_input=True, output="gaussian")
        x, tau = _data(dtype=dtype)
        assert m.factored
        fac = m(x, tau)
        fac_fc = m.forecast(x[:, :5], tau)
        m.evaluation = "plain"
        assert not m.factored
        pla = m(x, tau)
        pla_fc = m.forecast(x[:, :5], tau)
        for a, b in ((fac.mean, pla.mean), (fac.std, pla.std), (fac_fc.mean, pla_fc.mean)):
            assert (a - b).abs().max() < tol


@pytest.mark.parametrize("transition", ["identity", "lowrank", "diagonal", "dense"])
def test_parallel_equals_sequential_loop(transition):
    """Teacher-forced parallel evaluation == the autoregressive loop fed with the truth."""
    m = _model(transition, prev_obs_input=True)
    x, tau = _data(1)
    par = m(x, tau)
    seq = m.rollout(x, tau, torch.ones(B, T, dtype=torch.bool))
    torch.testing.assert_close(seq.mean, par.mean, rtol=1e-9, atol=1e-9)
    # p_force = 0 never reads x beyond x_0: the same as a forecast from one context step
    free = m(x, tau, p_force=0.0)
    torch.testing.assert_close(free.mean, m.forecast(x[:, :1], tau).mean)


def test_alignment_is_causal():
    """mean[:, t] depends on x_0..x_{t-1} only; mean[:, 0] and mean[:, 1] on x_0 only."""
    m = _model("lowrank", prev_obs_input=True)
    x, tau = _data(2)
    base = m(x, tau).mean
    for t in (1, 5, T - 1):
        x2 = x.clone()
        x2[:, t] += 1.0
        out = m(x2, tau).mean
        torch.testing.assert_close(out[:, : t + 1], base[:, : t + 1], rtol=0, atol=0)
        if t + 1 < T:
            assert (out[:, t + 1] - base[:, t + 1]).abs().max() > 1e-6


def test_forecast_matches_quadratic_reference():
    m = _model("lowrank", prev_obs_input=True)
    x, tau = _data(3)
    fast = m.forecast(x[:, :6], tau)
    slow = SequenceModel.forecast(m, x[:, :6], tau)  # the O(T^2) default of the contract
    torch.testing.assert_close(fast.mean, slow.mean, rtol=1e-9, atol=1e-9)
    # the forecast reads the context only
    torch.testing.assert_close(m.forecast(x[:, :6] + 0, tau).mean, fast.mean)


def test_freeze_recurrence_uses_theta0():
    m = _model("identity")
    x, tau = _data(4)
    frozen = m.forecast(x[:, :8], tau, freeze_recurrence=True).mean
    # without prev-obs input and with theta fixed at theta_0 the output is root_{theta_0}(tau)
    m.transition.B.data.zero_()
    torch.testing.assert_close(frozen, m(x, tau).mean)


def test_autoregressive_is_seeded_and_differentiable():
    m = _model("identity", dtype=torch.float32)
    x, tau = _data(5, torch.float32)
    a = m(x, tau, p_force=0.25, generator=torch.Generator().manual_seed(1)).mean
    b = m(x, tau, p_force=0.25, generator=torch.Generator().manual_seed(1)).mean
    assert torch.equal(a, b)
    a.pow(2).mean().backward()
    assert m.transition.B.grad.abs().max() > 0


def test_gaussian_std_positive_and_finite():
    m = WARP(d, width=8, depth=1, output="gaussian", std_floor=1e-3)
    x, tau = _data(6, torch.float32)
    with torch.no_grad():
        m.initial.layers[-1].bias.mul_(1e4)  # huge raw outputs of both signs
    std = m(x, tau).std
    assert std.shape == (B, T, d)
    assert torch.isfinite(std).all() and std.min() >= 1e-3


def test_weights_interpret_config():
    m = _model("diagonal")
    x, tau = _data(7)
    w = m.weights(x, tau)
    assert w.shape == (B, T, m.weight_size)
    torch.testing.assert_close(w[:, 0], m.initial(x[:, 0]).detach())
    assert m.interpret(x, tau) == {}
    cfg = json.loads(json.dumps(m.config))
    assert cfg["transition"] == "diagonal" and cfg["bind_context"]["n_variables"] == d
    assert WARP(d, width=12, depth=2, init_state="free").config["init_state"] == "free"


class _ResidualPrior(Prior):
    """Test prior: output = raw; penalty = mean of root_mean(tau)^2 (checks the closure)."""

    name = "test_residual"

    @property
    def n_outputs(self):
        return self.ctx.n_variables

    def decode(self, raw, tau, z_prev):
        return raw

    def penalty(self, root_mean, tau):
        self.seen = root_mean(tau)
        return self.seen.pow(2).mean()


def test_penalty_closure_evaluates_teacher_forced_mean():
    prior = _ResidualPrior()
    m = WARP(d, width=8, depth=1, prior=prior).double()
    x, tau = _data(8)
    pen = m.penalty(x, tau)
    torch.testing.assert_close(prior.seen, m(x, tau).mean)
    torch.testing.assert_close(pen, m(x, tau).mean.pow(2).mean())
    assert WARP(d, width=8, depth=1).penalty(x, tau) == 0


def test_bad_inputs_raise():
    m = WARP(d, width=8, depth=1)
    x, tau = _data(9, torch.float32)
    with pytest.raises(ValueError, match="batch, time, variables"):
        m(x[0], tau)
    with pytest.raises(ValueError, match="n_variables"):
        m(torch.zeros(B, T, d + 1), tau)
    with pytest.raises(ValueError, match="tau"):
        m(x, tau[:-1])
    x_nan = x.clone()
    x_nan[0, 3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        m(x_nan, tau)
    with pytest.raises(ValueError, match="context length"):
        m.forecast(x, tau[:5])
    with pytest.raises(ValueError, match="p_force"):
        m(x, tau, p_force=1.5)
    with pytest.raises(ValueError, match="unknown transition"):
        WARP(d, transition="nope")
    with pytest.raises(ValueError, match="identity"):
        WARP(d, transition="dense")  # D ~ 5k > max_dense_params = 4096
    with pytest.raises(ValueError, match="factored"):
        WARP(d, width=8, depth=1, transition="diagonal", evaluation="factored")


def test_output_clip_keeps_a_runaway_forecast_finite():
    m = _model("lowrank", output_clip=4.0)
    with torch.no_grad():  # a recurrence that amplifies its own predictions
        m.transition.B.mul_(50.0)
        m.transition.U.mul_(50.0)
    x, tau = _data(2)
    free = _model("lowrank")
    free.load_state_dict(m.state_dict())
    wild = free.forecast(x[:, :3], tau).mean
    assert (wild.abs().max() > 4.0) or not torch.isfinite(wild).all()  # the unclamped model runs away
    fc = m.forecast(x[:, :3], tau).mean
    assert torch.isfinite(fc).all() and fc.abs().max() <= 4.0
    # inside the bound the clamp changes nothing
    tf_free = free(x, tau).mean
    inside = tf_free.abs() < 4.0
    assert inside.any()
    torch.testing.assert_close(m(x, tau).mean[inside], tf_free[inside])
    assert m.config["output_clip"] == 4.0
    for bad in (0.0, -1.0, "big"):
        with pytest.raises(ValueError, match="output_clip"):
            WARP(2, output_clip=bad)
