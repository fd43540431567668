"""WARP's ``parameter_fit``: the grey box's held parameters start from a least-squares fit to the context."""
import numpy as np
import pytest
import torch

from warp_phys import data as D
from warp_phys import systems as S
from warp_phys.baselines.ode_fit import ODEFit
from warp_phys.checkpoint import load_model, save_model
from warp_phys.model import WARP
from warp_phys.priors import BindContext, GreyBox, Identity
from warp_phys.priors.parameter_fit import FitCache, fit_raw

N_CTX = 100


@pytest.fixture(scope="module")
def msd():
    system = S.get("mass_spring_damper")
    ds = system.simulate(6, params="test", seed=3, protocol="paper")
    x = S.trajectories_to_tensor(ds, dtype=torch.float32)[0]
    sc = D.fit_scaler(x)
    t = ds["time"].values
    ctx = BindContext(2, float(t[1] - t[0]), float(t[-1] - t[0]), sc, system)
    return ds, sc.normalise(x), D.normalised_time(t), ctx


def _warp(ctx, parameter_fit=True, **kw):
    return WARP(2, width=16, depth=2, prior=GreyBox(margin=0.0), bind_context=ctx, prev_obs_input=True,
                parameter_fit=parameter_fit, seed=1, **kw)


def test_untrained_model_forecasts_with_the_fitted_parameters(msd):
    ds, z, tau, ctx = msd
    model = _warp(ctx)
    ref = ODEFit(2, bind_context=ctx, margin=0.0)
    ours = model.forecast(z[:, :N_CTX], tau).mean
    theirs = ref.forecast(z[:, :N_CTX], tau).mean
    # the gate starts at zero, so the held parameters are the fit's: the same RK4 forecast, the
    # only difference being float32 (ours) against float64 (the reference) arithmetic
    torch.testing.assert_close(ours[:, N_CTX:], theirs[:, N_CTX:], rtol=0, atol=1e-4)
    held = model.held_parameters(z[:, :N_CTX], tau)
    km = (held["k"] / held["m"]).numpy()
    true = ds["k"].values / ds["m"].values
    # the fit reads k/m to the RK4 truncation level (test_ode_fit.py); float32 adds ~1e-6
    assert np.abs(km / true - 1).max() < 1e-3


def test_context_predictions_are_the_networks_own(msd):
    _, z, tau, ctx = msd
    with_fit, without = _warp(ctx), _warp(ctx, parameter_fit=False)
    a, b = with_fit.forecast(z[:, :N_CTX], tau).mean, without.forecast(z[:, :N_CTX], tau).mean
    torch.testing.assert_close(a[:, :N_CTX], b[:, :N_CTX], rtol=0, atol=0)  # same seed, same network
    assert (a[:, N_CTX:] - b[:, N_CTX:]).abs().max() > 1e-2  # the held parameters differ


def test_gradient_reaches_the_gate_and_the_network_not_the_fit(msd):
    _, z, tau, ctx = msd
    model = _warp(ctx)
    pred = model.context_forecast(z[:, :N_CTX], tau).mean
    ((pred[:, N_CTX:] - z[:, N_CTX:]) ** 2).mean().backward()
    assert model.fit_gate.grad is not None and model.fit_gate.grad.abs().sum() > 0
    # with the gate at zero the held correction passes no gradient to the root network's
    # weights; the context's one-step predictions are not in this loss, so only the gate learns
    # first, and a non-zero gate then opens the network's path
    with torch.no_grad():
        model.fit_gate.fill_(0.1)
    model.zero_grad()
    pred = model.context_forecast(z[:, :N_CTX], tau).mean
    ((pred[:, N_CTX:] - z[:, N_CTX:]) ** 2).mean().backward()
    grads = [p.grad.abs().sum() for n, p in model.named_parameters() if n != "fit_gate" and p.grad is not None]
    assert grads and sum(grads) > 0


def test_a_non_zero_gate_moves_the_held_parameters_by_the_network(msd):
    _, z, tau, ctx = msd
    model = _warp(ctx)
    fitted = model.prior.interpret(fit_raw(model.prior, z[:, :N_CTX], tau[:N_CTX]).float())
    with torch.no_grad():
        model.fit_gate.fill_(0.5)
    held = model.held_parameters(z[:, :N_CTX], tau)
    assert max(float((held[k] - fitted[k]).abs().max()) for k in held) > 1e-4


def test_checkpoint_round_trip_keeps_the_fit_and_the_gate(msd, tmp_path):
    _, z, tau, ctx = msd
    model = _warp(ctx)
    with torch.no_grad():
        model.fit_gate.copy_(torch.tensor([0.1, -0.2, 0.3]))
    save_model(model, tmp_path / "m.pt")
    again = load_model(tmp_path / "m.pt", device="cpu")
    assert again.parameter_fit
    torch.testing.assert_close(again.forecast(z[:, :N_CTX], tau).mean, model.forecast(z[:, :N_CTX], tau).mean)


def test_bad_options_are_refused(msd):
    _, _, _, ctx = msd
    with pytest.raises(ValueError, match="can be fitted"):
        WARP(2, prior=Identity(), bind_context=ctx, parameter_fit=True)
    with pytest.raises(ValueError, match="hold_after_context"):
        _warp(ctx, hold_after_context=False)
    with pytest.raises(ValueError, match="True or False"):
        _warp(ctx, parameter_fit=1)
    with pytest.raises(ValueError, match="hold_after_context"):
        _warp(ctx, parameter_fit=False, hold_after_context=False).held_parameters(torch.zeros(1, 5, 2),
                                                                                  torch.linspace(0, 1, 10))


def test_reconstruct_reports_the_held_parameters():
    import warnings

    import warp_phys

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rec = warp_phys.reconstruct(system="msd", protocol="paper", prior="grey_box", parameter_fit=True,
                                    n_train=16, n_val=8, n_test=8, epochs=1, batch_size=8, width=8, depth=1,
                                    seed=0, device="cpu", progress=False)
    P = rec.parameters()
    assert P["k_held"].dims == ("trajectory",)
    km = (P["k_held"] / P["m_held"]).values
    true = P["k_true"].values / P["m_true"].values
    # two Adam steps move the zero gate by at most ~2 lr, a raw-space correction of order 1e-3:
    # the held k/m stays within a few 1e-3 of the fit's, which is exact to ~1e-5
    assert np.median(np.abs(km / true - 1)) < 1e-2
    # the forecast runs on them: its error is the fit's, far below predicting zero
    assert rec.metrics["mse"] < 1e-3 * float((rec.dataset["state"].isel(time=slice(rec.context, None)) ** 2).mean())


def test_held_parameters_without_the_fit_are_the_networks_at_the_first_forecast_step(msd):
    _, z, tau, ctx = msd
    model = _warp(ctx, parameter_fit=False)
    held = model.held_parameters(z[:, :N_CTX], tau)
    with torch.no_grad():
        per_step = model.interpret(z, tau)  # step N_CTX reads theta_{N_CTX-1} and x_{N_CTX-1}: the held step
    for name, value in held.items():
        torch.testing.assert_close(value, per_step[name][:, N_CTX])


# ---- the fit cache: a context is fitted once, and the cached fit is the fresh one ------------
def test_cached_fits_equal_fresh_fits_whatever_the_batch(msd):
    _, z, tau, ctx = msd
    prior = _warp(ctx).prior
    cache = FitCache()
    fresh = fit_raw(prior, z[:, :N_CTX], tau[:N_CTX])
    # fitted in a batch of 2, then read back in another order and with a repeated row
    cache.fit(prior, z[[4, 1], :N_CTX], tau[:N_CTX])
    assert len(cache) == 2
    order = [1, 4, 0, 1, 5]
    got = cache.fit(prior, z[order, :N_CTX], tau[:N_CTX])
    assert len(cache) == 4  # rows 0 and 5 were added once each
    # each trajectory's Levenberg-Marquardt fit is independent of its batch: the same float64 numbers
    torch.testing.assert_close(got, fresh[order], rtol=0, atol=1e-12)
    # another context length (other times, other values) is another key
    cache.fit(prior, z[:2, :N_CTX - 1], tau[:N_CTX - 1])
    assert len(cache) == 6


def test_cache_starts_again_when_full(msd):
    _, z, tau, ctx = msd
    prior = _warp(ctx).prior
    cache = FitCache(max_entries=3)
    cache.fit(prior, z[:3, :N_CTX], tau[:N_CTX])
    cache.fit(prior, z[3:5, :N_CTX], tau[:N_CTX])  # 3 + 2 > 3: emptied, then the 2 new ones
    assert len(cache) == 2


def test_prefit_then_forecast_fits_nothing_more_and_gives_the_same_forecast(msd, monkeypatch):
    _, z, tau, ctx = msd
    fresh = _warp(ctx)
    fresh.fit_cache = None  # the fit at every call
    expected = fresh.forecast(z[:, :N_CTX], tau).mean
    expected_part = fresh.forecast(z[2:4, :N_CTX], tau).mean
    model = _warp(ctx)
    model.prefit_contexts(z[:, :N_CTX], tau[:N_CTX])
    import warp_phys.priors.parameter_fit as PF

    def refuse(*a, **k):
        raise AssertionError("a prefitted context was fitted again")

    monkeypatch.setattr(PF, "fit_raw", refuse)
    torch.testing.assert_close(model.forecast(z[:, :N_CTX], tau).mean, expected, rtol=0, atol=0)
    torch.testing.assert_close(model.forecast(z[2:4, :N_CTX], tau).mean, expected_part, rtol=0, atol=0)


def test_trainer_fits_each_training_and_validation_context_once(msd, monkeypatch):
    from warp_phys.training import Trainer
    import warp_phys.priors.parameter_fit as PF

    _, z, tau, ctx = msd
    fitted = []
    real = PF.fit_raw

    def counting(prior, x, t, *a, **k):
        fitted.append(x.shape[0])
        return real(prior, x, t, *a, **k)

    monkeypatch.setattr(PF, "fit_raw", counting)
    model = _warp(ctx)
    Trainer(epochs=3, batch_size=2, forecast_weight=1.0, forecast_context=N_CTX, val_n_ctx=N_CTX, seed=0,
            device="cpu", progress=False).fit(model, z[:4], tau, z[4:])
    # 4 training contexts and 2 validation contexts, each fitted once (in two large batches), although
    # 3 epochs of 2 batches and 3 validations read them
    assert fitted == [4, 2]
