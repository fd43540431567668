"""Context scaling (`warp_phys.context_scaling.ContextScaled`): each window rescaled by its own
context's mean and standard deviation, predictions mapped back. It is the inner model on the
rescaled window (exactly), so its forecast commutes with any positive affine change of a window
(the inner model sees the same input); it reads the context only (causal); known input channels
pass unchanged; the pipeline wraps the model with it, fits a lag term on the rescaled windows and
reads WARP's weights on them; bad settings are refused."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import warp_phys
from warp_phys import baselines
from warp_phys.context_scaling import MIN_SCALE, ContextScaled, innermost
from warp_phys.known_inputs import KnownInputs
from warp_phys.model import WARP
from warp_phys.validation import InputError

F64 = torch.float64
B, T, D, N_CTX = 4, 24, 2, 10
TAU = torch.linspace(0, 1, T, dtype=F64)


def _x(seed: int = 0, d: int = D) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.cumsum(0.5 * torch.randn(B, T, d, generator=g, dtype=F64), dim=1) + 2.0


def _models(d: int = D) -> dict[str, torch.nn.Module]:
    return {"warp": WARP(d, width=8, depth=2, transition="subspace", rank=2, prev_obs_input=True, seed=0).to(F64),
            "gru": baselines.get("gru", d, hidden=8, layers=1).to(F64)}


@pytest.mark.parametrize("name", ["warp", "gru"])
def test_it_is_the_inner_model_on_the_rescaled_window(name: str) -> None:
    inner = _models()[name]
    model = ContextScaled(inner, N_CTX)
    x = _x()
    m, s = x[:, :N_CTX].mean(1, keepdim=True), x[:, :N_CTX].std(1, keepdim=True)
    with torch.no_grad():
        got = model(x, TAU).mean
        ref = inner((x - m) / s, TAU).mean * s + m
        fc = model.forecast(x[:, :N_CTX], TAU).mean
        fc_ref = inner.forecast((x[:, :N_CTX] - m) / s, TAU).mean * s + m
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(fc, fc_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(model.forecast_known(x, TAU, N_CTX).mean, fc, rtol=0, atol=0)
    if name == "warp":
        torch.testing.assert_close(model.context_forecast(x[:, :N_CTX], TAU).mean, fc, rtol=0, atol=1e-12)
    else:  # the GRU has no differentiable forecast of its own: neither has the wrapper
        assert model.context_forecast is None


@pytest.mark.parametrize("name", ["warp", "gru"])
def test_forecasts_commute_with_a_change_of_level_and_scale(name: str) -> None:
    """A window a x + b (a > 0, b per window and channel) is forecast as a f(x) + b: the level and
    amplitude of a window no longer move it outside what the model was trained on."""
    model = ContextScaled(_models()[name], N_CTX)
    x = _x(1)
    g = torch.Generator().manual_seed(2)
    a = 0.5 + 3 * torch.rand(B, 1, D, generator=g, dtype=F64)
    b = 10 * torch.randn(B, 1, D, generator=g, dtype=F64)
    with torch.no_grad():
        f = model.forecast(x[:, :N_CTX], TAU).mean
        f2 = model.forecast(a * x[:, :N_CTX] + b, TAU).mean
        tf = model(x, TAU).mean
        tf2 = model(a * x + b, TAU).mean
    torch.testing.assert_close(f2, a * f + b, rtol=0, atol=1e-9)
    torch.testing.assert_close(tf2, a * tf + b, rtol=0, atol=1e-9)
    if name != "warp":  # an untrained GRU forecasts persistence, which commutes anyway
        return
    plain = _models()[name]  # without the wrapper a rescaled window is forecast differently
    with torch.no_grad():
        assert not torch.allclose(plain.forecast(3.0 * x[:, :N_CTX], TAU).mean,
                                  3.0 * plain.forecast(x[:, :N_CTX], TAU).mean, atol=1e-3)


def test_it_reads_the_context_only() -> None:
    """The statistics come from the first n_ctx steps: steps after the context change neither the
    forecast nor (teacher forced) the predictions up to them."""
    model = ContextScaled(_models()["warp"], N_CTX)
    x = _x(3)
    y = x.clone()
    y[:, N_CTX + 2:] += 50.0
    with torch.no_grad():
        torch.testing.assert_close(model.forecast_known(y, TAU, N_CTX).mean, model.forecast_known(x, TAU, N_CTX).mean,
                                   rtol=0, atol=0)
        torch.testing.assert_close(model(y, TAU).mean[:, : N_CTX + 3], model(x, TAU).mean[:, : N_CTX + 3],
                                   rtol=0, atol=1e-12)


def test_a_flat_context_is_scaled_by_the_floor() -> None:
    model = ContextScaled(_models()["gru"], N_CTX)
    x = torch.full((B, T, D), 0.7, dtype=F64)
    mean, scale = model.statistics(x[:, :N_CTX])
    torch.testing.assert_close(scale, torch.full((B, 1, D), MIN_SCALE, dtype=F64), rtol=0, atol=0)
    torch.testing.assert_close(mean, torch.full((B, 1, D), 0.7, dtype=F64), rtol=0, atol=1e-15)
    with torch.no_grad():
        assert torch.isfinite(model.forecast(x[:, :N_CTX], TAU).mean).all()


def test_known_channels_pass_unchanged() -> None:
    """Around `KnownInputs` only the targets are rescaled: the known channels keep mean 0 and scale
    1, are returned as given, and the forecast is the known-input model's on the rescaled targets."""
    known = KnownInputs(_models(D + 2)["gru"], 2)
    model = ContextScaled(known, N_CTX)
    assert model.n_targets == D
    x = _x(4, D + 2)
    mean, scale = model.statistics(x[:, :N_CTX])
    assert (mean[..., D:] == 0).all() and (scale[..., D:] == 1).all()
    with torch.no_grad():
        out = model.forecast_known(x, TAU, N_CTX).mean
        z = model.scale(x)
        ref = known.forecast_known(z, TAU, N_CTX).mean[..., :D] * scale[..., :D] + mean[..., :D]
    assert torch.equal(out[..., D:], x[..., D:])
    torch.testing.assert_close(out[..., :D], ref, rtol=0, atol=1e-12)


def test_autoregressive_training_options_are_passed_on() -> None:
    """p_force < 1 with a generator: the same draws as the inner model on the rescaled window."""
    inner = _models()["warp"]
    model = ContextScaled(inner, N_CTX)
    x = _x(5)
    a = model(x, TAU, p_force=0.5, generator=torch.Generator().manual_seed(9)).mean
    m, s = model.statistics(x[:, :N_CTX])
    b = inner((x - m) / s, TAU, p_force=0.5, generator=torch.Generator().manual_seed(9)).mean * s + m
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    a.sum().backward()  # the gradient reaches the inner model's parameters through the rescaling
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in inner.parameters())


def test_innermost_unwraps_and_rescales() -> None:
    warp = _models(D + 2)["warp"]
    model = ContextScaled(KnownInputs(warp, 2), N_CTX)
    x = _x(6, D + 2)
    inner, z = innermost(model, x)
    assert inner is warp
    torch.testing.assert_close(z, model.scale(x), rtol=0, atol=0)
    assert innermost(warp, x) == (warp, x)


def _series(n: int = 360) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(n, dtype=float)
    rng = np.random.default_rng(0)
    return (1 + t / 150) * np.sin(2 * np.pi * t / 24) + t / 40 + 0.05 * rng.normal(size=n), t


def test_reconstruct_wraps_the_model_and_reads_weights_on_the_rescaled_windows() -> None:
    y, t = _series(400)
    rec = warp_phys.reconstruct(data=y, time=t, window=60, context=36, epochs=2, progress=False, seed=0,
                                split=(0.6, 0.2, 0.2), context_scaling=True, ar_lags=3)
    assert isinstance(rec.model, ContextScaled) and rec.model.n_ctx == 36
    warp = innermost(rec.model)[0]
    ds = rec.datasets["test"]
    seq = np.where(ds["context"].values[None, :, None], ds["state"].values, ds["prediction_mean"].values)
    z = rec.model.scale(rec.encode(seq), 36)
    with torch.no_grad():
        expected = warp.weights(z, warp_phys.data.normalised_time(ds["time"].values)).numpy()
    np.testing.assert_allclose(rec.weights().values, expected, rtol=0, atol=1e-6)
    # the reported forecast is the wrapped model's, mapped back to the record's units
    with torch.no_grad():
        fc = rec.model.forecast(rec.encode(ds["state"].values)[:, :36],
                                warp_phys.data.normalised_time(ds["time"].values)).mean
    np.testing.assert_allclose(ds["prediction_mean"].values, rec.decode(fc).numpy(), rtol=1e-5, atol=1e-5)


def test_the_lag_term_is_fitted_on_the_rescaled_windows() -> None:
    """With ar_lags the least-squares start is fitted on the windows as WARP reads them (rescaled by
    their contexts): the same coefficients as fitting that WARP directly on the rescaled windows."""
    from warp_phys.lag_readout import fit_lag_readout
    from warp_phys.pipeline.engine import train
    from warp_phys.recipes import TrainingRecipe

    x = _x(7).float()
    tau = TAU.float()
    make = lambda: WARP(D, width=8, depth=1, transition="subspace", rank=2, ar_lags=3, seed=0)  # noqa: E731
    model = ContextScaled(make(), N_CTX)
    ref = make()
    fit_lag_readout(ref, model.scale(x), tau)
    plan = TrainingRecipe(epochs=1, batch_size=4, lr=1e-12, p_force=1.0)
    train(model, x, tau, x, plan, context=N_CTX, output="mean", seed=0, device=torch.device("cpu"), progress=False)
    assert model.model.lag_readout.linear.weight.abs().sum() > 0
    torch.testing.assert_close(model.model.lag_readout.linear.weight, ref.lag_readout.linear.weight,
                               rtol=0, atol=1e-6)


@pytest.mark.parametrize("bad, match", [(dict(context_scaling="yes"), "True or False"),
                                        (dict(context_scaling=True, context=1), "at least 2 context steps")])
def test_bad_settings_are_refused(bad: dict, match: str) -> None:
    y, t = _series(300)
    with pytest.raises(InputError, match=match):
        warp_phys.reconstruct(data=y, time=t, window=40, **{"context": 20, **bad}, epochs=1, progress=False)
    with pytest.raises(InputError):
        ContextScaled(_models()["gru"], 1)
    with pytest.raises(InputError):
        ContextScaled(_models()["gru"], N_CTX, min_scale=0.0)
    with pytest.raises(InputError, match="at least 2 context steps"):
        ContextScaled(_models()["gru"], N_CTX).forecast(_x()[:, :1], TAU)


def test_new_data_forecasts_commute_with_a_change_of_units() -> None:
    """rec.forecast of the test windows reproduces the run's predictions, and the same windows in
    other units (a y + b, a > 0: a level and amplitude the training block never had) are forecast as
    a (forecast) + b, in the record's units."""
    y, t = _series(400)
    rec = warp_phys.reconstruct(data=y, time=t, window=60, context=36, epochs=2, progress=False, seed=1,
                                split=(0.6, 0.2, 0.2), context_scaling=True)
    ds = rec.dataset
    out = rec.forecast(ds)
    np.testing.assert_array_equal(out["prediction_mean"].values, ds["prediction_mean"].values)
    x = ds["state"].transpose("trajectory", "time", "variable").values
    a, b = 3.0, 40.0
    moved = rec.forecast(a * x + b, time=ds["time"].values, context=36)
    np.testing.assert_allclose(moved["prediction_mean"].values, a * out["prediction_mean"].values + b,
                               rtol=1e-4, atol=1e-3)


def test_completion_needs_the_scaling_steps_observed() -> None:
    """`complete` with a context-scaled model: a gap inside the first n_ctx steps (which set the
    scale) is refused; gaps after them are filled from the observed steps, and the observed steps
    are returned bit for bit."""
    from warp_phys.completion import complete

    model = ContextScaled(_models()["warp"], N_CTX)
    x = _x(8).numpy()
    mask = np.ones((B, T), bool)
    mask[:, N_CTX + 3:N_CTX + 8] = False
    out = complete(model, np.where(mask[..., None], x, np.nan), mask)
    assert np.array_equal(out[mask], x[mask]) and np.isfinite(out).all()
    with torch.no_grad():  # the gap's first step is the model's one-step prediction from the observed steps
        ref = model(torch.from_numpy(x), TAU).mean.numpy()
    np.testing.assert_allclose(out[:, N_CTX + 3], ref[:, N_CTX + 3], rtol=0, atol=1e-12)
    early = mask.copy()
    early[:, 4] = False
    with pytest.raises(InputError, match="first 10 steps"):
        complete(model, np.where(early[..., None], x, np.nan), early)
