"""The linear autoregressive term of WARP (``ar_lags``, `warp_phys.lag_readout`): the lags are the
previous inputs, the same in parallel and step by step; the term is an AR(p) model (zero at
initialisation); a model with it is one model in every evaluation path (teacher forced,
sequential rollout, feedback passes, rebuilt from its config); bad settings are refused."""
import pytest
import torch

from warp_phys.lag_readout import LagHistory, LagReadout, lag_stack
from warp_phys.model import WARP
from warp_phys.priors import get as get_prior

F64 = torch.float64


def _paths(B=3, T=15, d=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.cumsum(0.4 * torch.randn(B, T, d, generator=g, dtype=F64), dim=1)


def _with_lags(model, seed=5):
    """Give the lag read-out nonzero weights (it starts at zero)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.lag_readout.linear.weight.copy_(0.2 * torch.randn(model.lag_readout.linear.weight.shape, generator=g,
                                                                dtype=F64))
        model.lag_readout.linear.bias.copy_(0.1 * torch.randn(model.lag_readout.linear.bias.shape, generator=g,
                                                              dtype=F64))
    return model


def test_lag_stack_holds_the_previous_inputs_and_repeats_the_first():
    u = _paths(B=2, T=7, d=3)
    s = lag_stack(u, 4).reshape(2, 7, 4, 3)
    for t in range(7):
        for k in range(1, 5):
            torch.testing.assert_close(s[:, t, k - 1], u[:, max(t - k, 0)], rtol=0, atol=0)
    # step by step: push u_1, u_2, ... (u_0 at the start), as the sequential rollout does
    h = LagHistory(u[:, 0], 4)
    for t in range(7):
        if t >= 2:
            h.push(u[:, t - 1])
        torch.testing.assert_close(h.stack()[:, 0], lag_stack(u, 4)[:, t], rtol=0, atol=0)


def test_the_lag_readout_is_an_ar_model_and_starts_at_zero():
    r = LagReadout(2, 3).to(F64)
    lags = torch.randn(4, 5, 6, dtype=F64)
    assert r(lags).abs().max() == 0
    W = torch.randn(2, 6, dtype=F64)
    with torch.no_grad():
        r.linear.weight.copy_(W)
        r.linear.bias.fill_(0.5)
    torch.testing.assert_close(r(lags), lags @ W.T + 0.5)


def test_an_untrained_lag_term_changes_nothing():
    x, tau = _paths(), torch.linspace(0, 1, 15, dtype=F64)
    plain = WARP(2, width=8, depth=2, transition="subspace", rank=2, prev_obs_input=True, seed=1).to(F64)
    lagged = WARP(2, width=8, depth=2, transition="subspace", rank=2, prev_obs_input=True, ar_lags=3, seed=1).to(F64)
    lagged.load_state_dict(plain.state_dict(), strict=False)
    torch.testing.assert_close(lagged(x, tau).mean, plain(x, tau).mean, rtol=0, atol=0)
    torch.testing.assert_close(lagged.forecast(x[:, :4], tau).mean, plain.forecast(x[:, :4], tau).mean, rtol=0, atol=0)


@pytest.mark.parametrize("gate", [False, True])
@pytest.mark.parametrize("transition", ["lowrank", "subspace", "diagonal"])
def test_a_lagged_model_is_one_model_in_every_path(transition, gate):
    B, T = 3, 12
    x, tau = _paths(B=B, T=T, seed=2), torch.linspace(0, 1, T, dtype=F64)
    prior = get_prior("increment")
    m = _with_lags(WARP(2, width=8, depth=2, transition=transition, rank=2, prev_obs_input=True, prior=prior,
                        ar_lags=4, ar_gate=gate, output_clip=3.0, seed=3).to(F64))
    if gate:  # open the gate part way, so every path must apply it
        with torch.no_grad():
            m.network_gate.copy_(torch.tensor([0.7, -0.4], dtype=F64))
    tf = m(x, tau).mean
    # teacher forced = the loop fed the truth
    torch.testing.assert_close(m.rollout(x, tau, torch.ones(B, T, dtype=torch.bool)).mean, tf, rtol=1e-10, atol=1e-12)
    # the term is in the prediction: by hand, mean_t = increment decode (of the gated raw outputs)
    # + W [x_{t-1}, .., x_{t-4}] + b
    bare = WARP(**{k: v for k, v in m.config.items() if k not in ("prior", "bind_context", "ar_lags", "ar_gate")},
                prior=get_prior("increment")).to(F64)
    bare.load_state_dict(m.state_dict(), strict=False)
    increment = bare(x, tau).mean - torch.cat([x[:, :1], x[:, :-1]], dim=1)  # gain * raw
    if gate:  # gain * gate * tanh(raw)
        gain = m.prior.gain
        increment = gain * m.network_gate.detach() * torch.tanh(increment / gain)
    expect = (torch.cat([x[:, :1], x[:, :-1]], dim=1) + increment + m.lag_readout(lag_stack(x, 4))).clamp(-3.0, 3.0)
    torch.testing.assert_close(tf, expect, rtol=1e-10, atol=1e-12)
    # free running: feedback passes (T - 2 of them) equal the loop
    force = torch.zeros(B, T, dtype=torch.bool)
    force[:, :5] = True
    seq = m.rollout(x, tau, force).mean
    for detach in (True, False):
        fb = m.feedback_rollout(x, tau, force, passes=T - 2, detach=detach).mean
        torch.testing.assert_close(fb, seq, rtol=1e-9, atol=1e-10)
    # the forecast is the loop from the context; a model rebuilt from its config is the same
    torch.testing.assert_close(m.forecast(x[:, :5], tau).mean, seq, rtol=1e-10, atol=1e-12)
    rebuilt = WARP(**{k: v for k, v in m.config.items() if k not in ("prior", "bind_context")},
                   prior=get_prior("increment")).to(F64)
    rebuilt.load_state_dict(m.state_dict())
    torch.testing.assert_close(rebuilt.forecast(x[:, :5], tau).mean, seq, rtol=0, atol=0)


def test_bad_ar_lags_are_refused():
    with pytest.raises(ValueError, match="ar_lags"):
        WARP(2, ar_lags=-1)
    with pytest.raises(ValueError, match="ar_lags"):
        WARP(2, ar_lags=1.5)
    with pytest.raises(ValueError, match="hold_after_context"):
        WARP(2, ar_lags=2, hold_after_context=True)


def test_reconstruct_on_a_series_trains_the_lag_term():
    import numpy as np

    import warp_phys

    sigma = 0.05  # observation noise: the best forecast's MSE is about sigma^2
    i = np.arange(600)
    y = np.sin(2 * np.pi * i / 23.0) + sigma * np.random.default_rng(0).standard_normal(i.size)
    rec = warp_phys.reconstruct(data=y, time=i.astype(float), window=40, context=10, ar_lags=2, epochs=15,
                                progress=False, device="cpu", seed=0)
    assert rec.model.config["ar_lags"] == 2
    assert rec.model.lag_readout.linear.weight.abs().max() > 1e-3  # trained away from zero
    assert rec.metrics["mse"] < 4 * sigma ** 2 < 0.02 * rec.metrics["mse_persistence"]


def test_the_least_squares_start_recovers_an_ar_process():
    from warp_phys.lag_readout import fit_lag_readout

    # x_t = 1.5 x_{t-1} - 0.7 x_{t-2} + 0.2 + noise (std 0.05)
    g = torch.Generator().manual_seed(0)
    B, T = 64, 60
    burn = 100  # start on the stationary process (mean 0.2 / (1 - 1.5 + 0.7) = 1)
    x = torch.ones(B, T + burn, 1, dtype=F64)
    for t in range(2, T + burn):
        x[:, t] = 1.5 * x[:, t - 1] - 0.7 * x[:, t - 2] + 0.2 + 0.05 * torch.randn(B, 1, generator=g, dtype=F64)
    x = x[:, burn:]
    tau = torch.linspace(0, 1, T, dtype=F64)
    m = WARP(1, width=8, depth=1, transition="lowrank", rank=2, prior=get_prior("increment"), ar_lags=2,
             seed=0).to(F64)
    fit_lag_readout(m, x, tau, ridge=0.0)
    # exactly the least-squares fit of what the model without the term misses, on the steps
    # t >= p = 2 whose lags are all observed (earlier steps repeat x_0 and would bias the fit)
    with torch.no_grad():
        W, b = m.lag_readout.linear.weight.clone(), m.lag_readout.linear.bias.clone()
        m.lag_readout.linear.weight.zero_()
        m.lag_readout.linear.bias.zero_()
        miss = (x - m(x, tau).mean)[:, 2:].reshape(-1, 1)
        a = torch.cat([lag_stack(x, 2)[:, 2:].reshape(-1, 2), torch.ones(B * (T - 2), 1, dtype=F64)], 1)
        coef = torch.linalg.lstsq(a, miss).solution
    torch.testing.assert_close(torch.cat([W[0], b]), coef[:, 0], rtol=1e-6, atol=1e-8)
    # with a prior that adds next to nothing to x_{t-1}, the fit is the AR process itself, less
    # the persistence the prior holds: W = (1.5 - 1, -0.7), b = 0.2 (noise-limited, std error ~0.01)
    m = WARP(1, width=8, depth=1, transition="lowrank", rank=2, prior=get_prior("increment", gain=1e-9), ar_lags=2,
             seed=0).to(F64)
    fit_lag_readout(m, x, tau)
    torch.testing.assert_close(m.lag_readout.linear.weight[0], torch.tensor([0.5, -0.7], dtype=F64), atol=0.03, rtol=0)
    torch.testing.assert_close(m.lag_readout.linear.bias[0], torch.tensor(0.2, dtype=F64), atol=0.03, rtol=0)


def test_the_least_squares_start_is_the_classical_ar_fit():
    """With a prior that adds nothing to x_{t-1}, the start is the classical AR(p) of
    `warp_phys.baselines.classical.AR` fitted on the same windows (less the persistence the
    prior holds on lag 1): the model starts as the classical reference it is compared with."""
    import numpy as np

    from warp_phys.baselines.classical import AR
    from warp_phys.lag_readout import fit_lag_readout

    g = torch.Generator().manual_seed(3)
    B, T, p = 24, 40, 5
    x = torch.cumsum(torch.randn(B, T, 1, generator=g, dtype=F64), dim=1) * 0.3
    x = x + torch.sin(torch.arange(T, dtype=F64) * 0.7).view(1, T, 1)
    tau = torch.linspace(0, 1, T, dtype=F64)
    m = WARP(1, width=8, depth=1, transition="lowrank", rank=2, prior=get_prior("increment", gain=1e-12), ar_lags=p,
             seed=0).to(F64)
    fit_lag_readout(m, x, tau, ridge=0.0)
    ar = AR(1, order=p, ridge=0.0).fit(x.numpy(), x_val=x[:4].numpy(), context=p + 1)
    expected = ar.coefficients()[:, 0, 0].copy()
    expected[0] -= 1.0  # the increment prior already holds x_{t-1}
    np.testing.assert_allclose(m.lag_readout.linear.weight[0].detach().numpy(), expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(float(m.lag_readout.linear.bias[0].detach()), float(ar.intercept[0]), rtol=0, atol=1e-6)


def test_the_gated_start_forecasts_as_the_classical_ar():
    """With ``ar_gate`` the root network's outputs start at zero, so the least-squares start is the
    classical AR(p) at the default increment gain too: the free-running forecasts agree to float64
    round-off over 30 steps (the AR's own forecast of the same context)."""
    from warp_phys.baselines.classical import AR
    from warp_phys.lag_readout import fit_lag_readout

    g = torch.Generator().manual_seed(4)
    B, T, p, n_ctx = 24, 40, 4, 10
    x = torch.cumsum(torch.randn(B, T, 1, generator=g, dtype=F64), dim=1) * 0.3
    x = x + torch.sin(torch.arange(T, dtype=F64) * 0.7).view(1, T, 1)
    tau = torch.linspace(0, 1, T, dtype=F64)
    m = WARP(1, width=8, depth=1, transition="lowrank", rank=2, prior=get_prior("increment"), ar_lags=p,
             ar_gate=True, seed=0).to(F64)
    fit_lag_readout(m, x, tau, ridge=0.0)
    ar = AR(1, order=p, ridge=0.0).fit(x.numpy(), x_val=x[:4].numpy(), context=p + 1)
    ours = m.forecast(x[:, :n_ctx], tau).mean[:, n_ctx:]
    theirs = ar.forecast(x[:, :n_ctx], tau).mean[:, n_ctx:]
    assert ours.shape == theirs.shape == (B, T - n_ctx, 1)
    scale = float(theirs.abs().max())
    assert float((ours - theirs).abs().max()) <= 1e-8 * scale


def test_the_gate_opens_with_training_and_is_checked():
    """The gate is zero at the start, gets a gradient (the network's outputs do not, until it opens),
    bounds the network's correction by |gate| (whatever the input), and is refused without ar_lags or
    as a non-bool."""
    torch.manual_seed(0)
    m = WARP(2, width=8, depth=1, transition="lowrank", rank=2, prior=get_prior("increment"), ar_lags=2,
             ar_gate=True, seed=0)
    assert torch.equal(m.network_gate.detach(), torch.zeros(2))
    x = torch.randn(3, 12, 2)
    tau = torch.linspace(0, 1, 12)
    m(x, tau).mean.square().sum().backward()
    assert float(m.network_gate.grad.abs().sum()) > 0
    root_grads = [q.grad for n, q in m.named_parameters() if n != "network_gate" and not n.startswith("lag_readout")]
    assert all(q is None or float(q.abs().sum()) == 0.0 for q in root_grads)
    # opened, the correction to the AR term is at most gain * |gate| per step, even far outside the data
    with torch.no_grad():
        m.network_gate.fill_(0.5)
        huge = 1e3 * torch.randn(3, 12, 2, generator=torch.Generator().manual_seed(1))
        lags = m.lag_readout(lag_stack(huge, 2))
        correction = m(huge, tau).mean - torch.cat([huge[:, :1], huge[:, :-1]], dim=1) - lags
    assert float(correction.abs().max()) <= m.prior.gain * 0.5 * (1 + 1e-6)
    with pytest.raises(ValueError, match="ar_gate"):
        WARP(2, ar_gate=True)
    with pytest.raises(ValueError, match="ar_gate"):
        WARP(2, ar_lags=2, ar_gate=1)
    assert WARP(2, ar_lags=2, ar_gate=True).config["ar_gate"] is True


def test_the_fitted_start_is_kept_when_training_does_not_beat_it_on_validation():
    """`keep_fitted_start`: the start is a candidate of the validation selection; it is kept (the
    history says so) when its validation score is at most the trained model's, else the trained
    parameters stay."""
    from warp_phys import Trainer
    from warp_phys.pipeline.engine import keep_fitted_start
    from warp_phys.training import TrainHistory

    m = WARP(1, width=8, depth=1, transition="lowrank", rank=2, prior=get_prior("increment"), ar_lags=2,
             ar_gate=True, seed=0)
    x = torch.sin(torch.linspace(0, 6, 30)).view(1, 30, 1).repeat(4, 1, 1)
    tau = torch.linspace(0, 1, 30)
    start = {k: v.clone() for k, v in m.state_dict().items()}
    trainer = Trainer(val_n_ctx=10, batch_size=4)
    start_score = trainer.evaluate(m, x, tau)
    with torch.no_grad():
        m.network_gate.fill_(0.5)
    trained = {k: v.clone() for k, v in m.state_dict().items()}

    worse = TrainHistory(best_epoch=3, best_score=start_score * 2)
    keep_fitted_start(m, start, trainer, x, tau, worse)
    assert worse.kept_start and worse.best_epoch == -1 and worse.best_score == pytest.approx(start_score, rel=1e-12)
    assert torch.equal(m.network_gate.detach(), torch.zeros(1))

    m.load_state_dict(trained)
    better = TrainHistory(best_epoch=3, best_score=start_score / 2)
    keep_fitted_start(m, start, trainer, x, tau, better)
    assert not better.kept_start and better.best_epoch == 3
    assert better.start_score == pytest.approx(start_score, rel=1e-12)
    assert torch.equal(m.network_gate.detach(), torch.full((1,), 0.5))


def test_a_failed_training_run_keeps_the_fitted_start_with_a_warning():
    """When training finds no finite epoch, `engine.train` returns the least-squares start (a usable
    AR model) with a RuntimeWarning instead of raising; without a lag term it still raises."""
    from warp_phys import Trainer
    from warp_phys.pipeline import engine
    from warp_phys.training import TrainHistory
    from warp_phys.training_guard import TrainingFailedError

    class Failing(Trainer):
        def fit(self, model, *args, **kwargs):
            with torch.no_grad():
                for q in model.parameters():
                    q.add_(1.0)  # what a diverged run leaves behind
            raise TrainingFailedError("no epoch gave a finite validation loss",
                                      TrainHistory(status="failed"))

    x = torch.sin(torch.linspace(0, 12, 40)).view(1, 40, 1).repeat(6, 1, 1) + 0.01 * torch.randn(6, 40, 1)
    tau = torch.linspace(0, 1, 40)
    m = WARP(1, width=8, depth=1, transition="lowrank", rank=2, prior=get_prior("increment"), ar_lags=3,
             ar_gate=True, seed=0)
    kw = dict(context=10, output="mean", seed=0, device=torch.device("cpu"), progress=False)
    with pytest.warns(RuntimeWarning, match="fitted start"):
        history = engine.train(m, x[:4], tau, x[4:], None, trainer=Failing(val_n_ctx=10), **kw)
    assert history.kept_start and history.status == "failed" and history.best_epoch == -1
    assert torch.equal(m.network_gate.detach(), torch.zeros(1))  # the start, not the diverged parameters
    assert history.best_score == pytest.approx(Trainer(val_n_ctx=10).evaluate(m, x[4:], tau), rel=1e-6)
    plain = WARP(1, width=8, depth=1, transition="lowrank", rank=2, prior=get_prior("increment"), seed=0)
    with pytest.raises(TrainingFailedError):
        engine.train(plain, x[:4], tau, x[4:], None, trainer=Failing(val_n_ctx=10), **kw)
