"""The forecast steps only (sequence.forecast_after): the validation forecast and the Trainer's
forecast loss skip the one-step predictions of the context, with the same numbers and gradients."""
import pytest
import torch

from test_fast_autoregressive import _assert_same, _data, _model, B, T, d, F64, TOL
from warp_phys import baselines, priors, transitions
from warp_phys.completion import context_rollout, with_context_forecast
from warp_phys.context_scaling import ContextScaled
from warp_phys.known_inputs import KnownInputs
from warp_phys.rollout import sequential_rollout
from warp_phys.sequence import Prediction, forecast_after, forecast_from, forecast_mse

N_CTX = 5


def _tail(pred: Prediction, n: int = N_CTX) -> Prediction:
    return Prediction(pred.mean[:, n:], None if pred.std is None else pred.std[:, n:])


CASES = [(tr, ev) for tr in transitions.available() for ev in ("auto", "plain")
         if ev == "auto" or transitions.get(tr).factorable]


@pytest.mark.parametrize("transition,evaluation", CASES)
@pytest.mark.parametrize("extra", [{}, {"ar_lags": 3}, {"transition_input": "moments"}])
def test_warp_forecast_steps_equal_the_full_forecast_with_gradients(transition, evaluation, extra):
    m = _model(transition, evaluation=evaluation, prev_obs_input=True, output="gaussian", output_clip=0.3, **extra)
    x, tau = _data()
    full = m.context_forecast(x[:, :N_CTX], tau)
    steps = forecast_after(m, x, tau, N_CTX, grad=True)
    assert steps.mean.shape == (B, T - N_CTX, d)
    _assert_same(m, steps, _tail(full), x[:, N_CTX:])
    with torch.no_grad():
        torch.testing.assert_close(forecast_after(m, x, tau, N_CTX).mean, m.forecast(x[:, :N_CTX], tau).mean[:, N_CTX:],
                                   **TOL)


@pytest.mark.parametrize("prior", priors.available())
def test_forecast_steps_for_every_prior_held_or_not(prior):
    m = _model("lowrank", prior, scale=0.1, prev_obs_input=True, output_clip=5.0)
    x, tau = _data(1)
    _assert_same(m, forecast_after(m, x, tau, N_CTX, grad=True), _tail(m.context_forecast(x[:, :N_CTX], tau)),
                 x[:, N_CTX:])


def test_the_root_network_is_not_evaluated_on_the_context(monkeypatch):
    m = _model("subspace")
    x, tau = _data()
    calls = []
    evaluate = m.root.evaluate_factored
    monkeypatch.setattr(m.root, "evaluate_factored", lambda *a, **k: calls.append(a[-1].shape[1]) or evaluate(*a, **k))
    forecast_after(m, x, tau, N_CTX, grad=True)
    assert len(calls) == T - N_CTX  # one per forecast step, none on the context
    calls.clear()
    m.context_forecast(x[:, :N_CTX], tau)
    assert len(calls) == T


def test_forecast_mse_is_the_mean_square_error_of_the_forecast_steps():
    m = _model("subspace", output="gaussian")
    x, tau = _data(2)
    with torch.no_grad():
        full = m.forecast(x[:, :N_CTX], tau).mean
    expected = ((full[:, N_CTX:] - x[:, N_CTX:]) ** 2).mean()
    torch.testing.assert_close(forecast_mse(m, x, tau, N_CTX), expected, **TOL)
    torch.testing.assert_close(forecast_mse(m, x, tau, N_CTX, grad=True).detach(), expected, **TOL)
    # a context as long as tau leaves no forecast step
    assert forecast_after(m, x, tau, T).mean.shape == (B, 0, d)


@pytest.mark.parametrize("name", ["gru", "lstm", "transformer", "node"])
def test_baseline_forecast_steps_equal_the_stepwise_rollout_with_gradients(name):
    m = with_context_forecast(baselines.get(name, d, seed=0)).to(F64)
    x, tau = _data(3)
    steps = forecast_after(m, x, tau, N_CTX, grad=True)  # the context read in one call
    stepwise = context_rollout(m, x[:, :N_CTX], tau)  # one token per step
    _assert_same(m, steps, _tail(stepwise), x[:, N_CTX:], {"rtol": 1e-9, "atol": 1e-11})
    with torch.no_grad():
        torch.testing.assert_close(forecast_after(m, x, tau, N_CTX).mean, m.forecast(x[:, :N_CTX], tau).mean[:, N_CTX:],
                                   **TOL)


def test_context_scaled_forecast_steps_equal_its_full_forecast():
    m = ContextScaled(_model("subspace", output_clip=3.0), N_CTX)  # clipped: finite forecasts
    x, tau = _data(4)
    x = 5.0 + 3.0 * x  # a level and scale the wrapper removes
    _assert_same(m, forecast_after(m, x, tau, N_CTX, grad=True), _tail(forecast_from(m, x, tau, N_CTX, grad=True)),
                 x[:, N_CTX:])


def test_first_output_needs_the_skipped_steps_forced():
    m = _model("lowrank")
    x, tau = _data()
    force = torch.zeros(B, T, dtype=torch.bool)
    force[:, :3] = True
    with pytest.raises(ValueError, match="forced"):
        sequential_rollout(m, x, tau, force, first_output=4)
    with pytest.raises(ValueError, match="first_output"):
        sequential_rollout(m, x, tau, force, first_output=T)
    torch.testing.assert_close(sequential_rollout(m, x, tau, force, first_output=3).mean,
                               m.rollout(x, tau, force).mean[:, 3:], **TOL)
    with pytest.raises(ValueError, match="steps"):
        m.forecast_after(x[:, :3], tau, 4)


@pytest.mark.parametrize("name", ["gru", "lstm", "transformer", "node", "persistence"])
def test_baseline_rollout_from_a_first_output_equals_the_full_rollout(name):
    m = baselines.get(name, d, seed=0).to(F64)
    x, tau = _data(5)
    force = torch.zeros(B, T, d, dtype=torch.bool)
    force[:, :N_CTX] = True
    force[:, :, 1] = True  # channel 1 forced everywhere (a known input), channel 0 free after the context
    for n in (1, N_CTX):
        full = m.rollout(x, tau, force)
        part = m.rollout(x, tau, force, first_output=n)
        assert part.mean.shape == (B, T - n, d)
        if any(p.requires_grad for p in m.parameters()):
            _assert_same(m, part, _tail(full, n), x[:, n:], {"rtol": 1e-9, "atol": 1e-11})
        else:
            torch.testing.assert_close(part.mean, full.mean[:, n:], **TOL)
    assert m.rollout(x, tau, torch.ones_like(force), first_output=T).mean.shape == (B, 0, d)
    with pytest.raises(ValueError, match="forced"):
        m.rollout(x, tau, force, first_output=N_CTX + 1)
    with pytest.raises(ValueError, match="first_output"):
        m.rollout(x, tau, force, first_output=T + 1)


@pytest.mark.parametrize("inner", ["warp", "gru"])
def test_known_inputs_forecast_steps_equal_forecast_known(inner):
    model = _model("subspace", output_clip=3.0) if inner == "warp" else baselines.get("gru", d, seed=0).to(F64)
    m = KnownInputs(model, 1)  # channel 1 is known at every step
    x, tau = _data(6)
    full = m.forecast_known(x, tau, N_CTX, grad=True)
    steps = forecast_after(m, x, tau, N_CTX, grad=True)
    assert steps.mean.shape == (B, T - N_CTX, d)
    torch.testing.assert_close(steps.mean[..., 1], x[:, N_CTX:, 1], rtol=0, atol=0)  # the known channel as given
    target = Prediction(steps.mean[..., :1], None)
    _assert_same(m, target, Prediction(full.mean[:, N_CTX:, :1], None), x[:, N_CTX:, :1])
    assert forecast_after(m, x, tau, T).mean.shape == (B, 0, d)


def test_complete_skips_the_steps_before_the_first_gap(monkeypatch):
    import numpy as np

    from warp_phys import completion

    m = _model("subspace", output_clip=3.0)
    x, tau = _data(7)
    mask = np.ones((B, T), bool)
    mask[:, N_CTX:] = False
    mask[0, N_CTX + 2] = True  # an observation inside one sequence's gap
    calls = []
    evaluate = m.root.evaluate_factored
    monkeypatch.setattr(m.root, "evaluate_factored", lambda *a, **k: calls.append(1) or evaluate(*a, **k))
    fast = completion.complete(m, x.numpy(), mask, tau.numpy())
    assert len(calls) == T - N_CTX  # no root evaluation before the first gap
    monkeypatch.setattr(completion, "takes_first_output", lambda model: False)
    slow = completion.complete(m, x.numpy(), mask, tau.numpy())
    assert len(calls) == 2 * T - N_CTX
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)


def test_takes_first_output_looks_inside_the_wrappers():
    from warp_phys.sequence import takes_first_output

    class OldStyle(torch.nn.Module):  # a user's model whose rollout returns every step
        n_variables = d

        def rollout(self, x, tau, force):
            return Prediction(x, None)

    assert takes_first_output(_model("lowrank")) and takes_first_output(baselines.get("gru", d, seed=0))
    assert takes_first_output(ContextScaled(KnownInputs(_model("subspace"), 1), N_CTX))
    assert not takes_first_output(OldStyle()) and not takes_first_output(KnownInputs(OldStyle(), 1))
