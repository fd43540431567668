"""Known inputs of one long series: periodic phases and covariates (read, never predicted)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import warp_phys
from warp_phys import WARP
from warp_phys.baselines import get as get_baseline
from warp_phys.known_inputs import KnownInputs
from warp_phys.pipeline.jobs import series_job
from warp_phys.pipeline.known_channels import check_known_inputs
from warp_phys.pipeline.record_time import check_record_time
from warp_phys.sequence import forecast_from
from warp_phys.validation import InputError

P, SIGMA = 20, 0.1


def _models(d: int) -> list[torch.nn.Module]:
    """An untrained WARP (the user-data setup: subspace memory, previous observation read) and GRU."""
    warp = WARP(d, width=16, depth=2, transition="subspace", prev_obs_input=True, seed=0)
    return [KnownInputs(warp, 2), KnownInputs(get_baseline("gru", n_variables=d, hidden=16, seed=0), 2)]


@pytest.mark.parametrize("k", [0, 1])
def test_known_channels_hold_given_values_and_forecast_is_causal(k):
    model = _models(3)[k].eval()
    torch.manual_seed(0)
    if k == 1:  # away from the initialisation (the GRU's residual head starts at zero)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.1 * torch.randn_like(p))
    T, n_ctx = 12, 4
    x, tau = torch.randn(5, T, 3), torch.linspace(0, 1, T)
    pred = forecast_from(model, x, tau, n_ctx)
    assert torch.equal(pred.mean[..., 1:], x[..., 1:])  # known channels: exactly the given values
    # the targets after the context are never read
    garbage = x.clone()
    garbage[:, n_ctx:, 0] = 1e3
    assert torch.equal(forecast_from(model, garbage, tau, n_ctx).mean, pred.mean)
    # causality: known values after step t change no target prediction up to step t ...
    t = 7
    later = x.clone()
    later[:, t:, 1:] += 0.5
    changed = forecast_from(model, later, tau, n_ctx).mean[..., 0]
    torch.testing.assert_close(changed[:, : t + 1], pred.mean[:, : t + 1, 0], rtol=0, atol=1e-6)
    # ... and the known values before step t are read: the forecast at t + 1 moves
    moved = (changed[:, t + 1:] - pred.mean[:, t + 1:, 0]).abs()
    assert torch.isfinite(moved).all() and moved.max() > 1e-3


def test_autoregressive_training_forward_keeps_known_channels():
    model = _models(3)[0]
    x, tau = torch.randn(4, 10, 3), torch.linspace(0, 1, 10)
    pred = model(x, tau, p_force=0.3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(pred.mean[..., 1:], x[..., 1:])
    loss = ((pred.mean - x) ** 2)[..., 1:].sum()
    assert loss.item() == 0.0  # no error and no gradient on the known channels
    grads = torch.autograd.grad(loss, list(model.parameters()), allow_unused=True, retain_graph=True)
    assert all(g is None or not g.any() for g in grads)
    target = ((pred.mean - x) ** 2)[..., :1].sum()  # the targets do train
    assert any(g is not None and g.any() for g in torch.autograd.grad(target, list(model.parameters()),
                                                                        allow_unused=True))
    with pytest.raises(ValueError, match="known inputs needs their values|forecast_known"):
        model.forecast(x[:, :3], tau)


def test_phase_values_continue_across_windows_and_past_the_end():
    time = check_record_time(np.arange(100.0), 100)
    known = check_known_inputs((P, 7.5), None, None, time)
    assert known.names == [f"sin_{P}", f"cos_{P}", "sin_7.5", "cos_7.5"]
    i = np.array([[0, 1, 99, 100, 250]])
    got = known.at(i)
    want = np.stack([np.sin(2 * np.pi * i / P), np.cos(2 * np.pi * i / P),
                     np.sin(2 * np.pi * i / 7.5), np.cos(2 * np.pi * i / 7.5)], -1)
    np.testing.assert_allclose(got, want, atol=1e-12)
    # with difference=True the model's step 0 is the record's step 1: the phase keeps the record's index
    y = np.sin(2 * np.pi * np.arange(200) / P)
    job = series_job(y, np.arange(200.0), None, window=30, model="warp", prior="auto", prior_options=None,
                     seed=0, options={"epochs": 1, "context": 5}, difference=True, phases=(P,), progress=False)
    ds = job.splits.train
    start = ds["window_start_index"].values[:, None] + np.arange(30) + 1
    np.testing.assert_allclose(ds["known"].values[..., 0], np.sin(2 * np.pi * start / P), atol=1e-12)


def test_named_periods_on_dates():
    weekly = check_record_time(np.arange("2000-01-02", "2003-01-02", 7, dtype="M8[D]"), 157)
    assert check_known_inputs("year", None, None, weekly).periods == pytest.approx((365.2425 / 7,))
    monthly = check_record_time(np.arange("2000-01", "2005-01", dtype="M8[M]").astype("M8[D]"), 60)
    assert check_known_inputs(("year",), None, None, monthly).periods == (12.0,)
    with pytest.raises(InputError, match="named period needs a date"):
        check_known_inputs("year", None, None, check_record_time(np.arange(50.0), 50))
    # the phase origin of new data: a date on the record's grid -> its record step index
    assert check_known_inputs("year", None, None, weekly).index_of(np.datetime64("2000-01-16"), 1).tolist() == [2]
    with pytest.raises(InputError, match="not on the record's grid"):
        check_known_inputs("year", None, None, weekly).index_of(np.datetime64("2000-01-17"), 1)
    assert check_known_inputs("year", None, None, monthly).index_of("2001-03-01", 2).tolist() == [14, 14]


def _sine(n: int = 800, seed: int = 0) -> np.ndarray:
    i = np.arange(n)
    return np.sin(2 * np.pi * i / P) + SIGMA * np.random.default_rng(seed).standard_normal(n)


def _fit(y, model="warp", epochs=12, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return warp_phys.reconstruct(data=y, time=np.arange(y.size, dtype=float), window=32, context=2, model=model,
                                     epochs=epochs, progress=False, seed=0, device="cpu", **kw)


@pytest.mark.parametrize("model", ["warp", "gru"])
def test_phases_make_a_noisy_sine_forecastable(model):
    """Two noisy steps of context barely fix the phase of a sine; the known phase does: the
    forecast error over 30 steps falls to the noise level (variance SIGMA^2 = 0.01)."""
    y = _sine()
    with_phase, without = _fit(y, model, phases=(P,)), _fit(y, model)
    assert with_phase.metrics["mse"] < 2 * SIGMA**2
    assert without.metrics["mse"] > 2 * with_phase.metrics["mse"]
    assert with_phase.dataset["prediction_mean"].shape == without.dataset["prediction_mean"].shape  # targets only
    assert "known_inputs" in with_phase.dataset.attrs
    # the forecast past the record's end follows the phase on: compare with the noise-free continuation
    fut = with_phase.datasets["future"]
    i0 = y.size - with_phase.context
    truth = np.sin(2 * np.pi * (i0 + np.arange(fut.sizes["time"])) / P)
    err = (fut["prediction_mean"].values[0, with_phase.context:, 0] - truth[with_phase.context:]) ** 2
    assert err.mean() < 2 * SIGMA**2


def test_same_seed_same_numbers():
    y = _sine(300)
    a, b = _fit(y, epochs=2, phases=(P,)), _fit(y, epochs=2, phases=(P,))
    np.testing.assert_array_equal(a.dataset["prediction_mean"].values, b.dataset["prediction_mean"].values)
    assert a.metrics["mse"] == b.metrics["mse"]


def test_covariates_drive_the_forecast_and_the_future_needs_their_values():
    """y_t = u_{t-1} + noise with u a random walk known to the model: unpredictable from y alone."""
    rng = np.random.default_rng(1)
    u = np.cumsum(rng.standard_normal(600)) * 0.2
    u -= u.mean()
    y = np.concatenate([[0.0], u[:-1]]) + 0.05 * rng.standard_normal(600)
    future_u = u[-1] + np.cumsum(rng.standard_normal(30)) * 0.2
    rec = _fit(y, covariates=u, future_covariates=future_u, epochs=15)
    base = _fit(y, epochs=15)
    assert rec.metrics["mse"] < 0.5 * base.metrics["mse"]
    fut = rec.datasets["future"]["prediction_mean"].values[0, rec.context:, 0]
    want = np.concatenate([[u[-1]], future_u])[: fut.size]  # y_{T+j} = u_{T+j-1}
    assert np.mean((fut - want) ** 2) < 0.25 * np.mean(want ** 2)
    # without future values: the test scores stay, the forecast past the end is left out (warned)
    with pytest.warns(UserWarning, match="future_covariates"):
        rec2 = warp_phys.reconstruct(data=y, time=np.arange(600.0), window=32, context=2, covariates=u, epochs=1,
                                     progress=False)
    assert "future" not in rec2.datasets and np.isfinite(rec2.metrics["mse"])
    with pytest.raises(InputError, match="reads the covariates"):
        rec2.forecast(y[None, :40, None], time=np.arange(40.0))
    with pytest.raises(InputError, match=r"shape \(32, 1\)"):
        rec2.forecast(y[None, :32, None], time=np.arange(32.0), covariates=np.zeros((31, 1)))
    # new data with their covariates: the same forecast as the test window with the same values
    ds = rec.dataset
    j = ds.sizes["trajectory"] - 1
    start = int(ds["window_start_index"].values[j])
    new = rec.forecast(ds["state"].values[j:j + 1], time=ds["time"].values, covariates=u[start:start + 32])
    np.testing.assert_allclose(new["prediction_mean"].values, ds["prediction_mean"].values[j:j + 1], rtol=1e-5,
                               atol=1e-6)


def test_forecast_of_new_data_reads_phases_from_the_record_axis():
    """rec.forecast(new_data, start=t0): the phase of the training record's step index, not of new_data's own."""
    y = _sine()
    rec = _fit(y, phases=(P,), epochs=4)
    ds = rec.dataset
    j = 3
    window = ds["state"].values[j:j + 1]
    t0 = float(ds["record_time"].values[j, 0])
    same = rec.forecast(window, time=ds["time"].values, start=t0)
    np.testing.assert_allclose(same["prediction_mean"].values, ds["prediction_mean"].values[j:j + 1], rtol=1e-5,
                               atol=1e-6)
    shifted = rec.forecast(window, time=ds["time"].values, start=t0 + P / 2)  # half a period off
    assert np.abs(shifted["prediction_mean"].values - same["prediction_mean"].values).max() > 0.1
    with pytest.raises(InputError, match="pass start="):
        rec.forecast(window, time=ds["time"].values)
    with pytest.raises(InputError, match="not on the record's grid"):
        rec.forecast(window, time=ds["time"].values, start=t0 + 0.5)
    with pytest.raises(InputError, match="drop covariates="):
        rec.forecast(window, time=ds["time"].values, start=t0, covariates=np.zeros((32, 1)))


@pytest.mark.parametrize("kwargs, match", [
    (dict(covariates=np.zeros(99)), "covariates has 99 steps"),
    (dict(covariates=np.r_[np.zeros(50), np.nan, np.zeros(49)]), "NaN or inf.*step 50"),
    (dict(phases=1), "period > 1"),
    (dict(phases=(0.5,)), "period > 1"),
    (dict(phases="year"), "named period needs a date"),
    (dict(phases=(12, 12)), "repeated period"),
    (dict(phases=("12",)), "named period"),
    (dict(future_covariates=np.zeros(10)), "pass covariates= too"),
    (dict(covariates=np.zeros((100, 2)), future_covariates=np.zeros((10, 3))), "3 columns but covariates has 2"),
    (dict(phases=(12,), model="ar"), "cannot"),
])
def test_bad_inputs(kwargs, match):
    with pytest.raises(InputError, match=match):
        warp_phys.reconstruct(data=np.zeros(100), time=np.arange(100.0), window=10, epochs=1, progress=False, **kwargs)


def test_known_inputs_need_window():
    with pytest.raises(InputError, match="window"):
        warp_phys.reconstruct(data=np.zeros((4, 30, 1)), time=np.arange(30.0), phases=(12,), epochs=1, progress=False)


def test_validation_score_and_forecast_loss_cover_the_targets_only():
    from warp_phys.training import Trainer

    model = _models(3)[0]
    x, tau = torch.randn(6, 12, 3), torch.linspace(0, 1, 12)
    trainer = Trainer(epochs=1, val_n_ctx=4, forecast_weight=1.0, forecast_context=4, progress=False)
    pred = forecast_from(model, x, tau, 4).mean
    want = ((pred[:, 4:, 0] - x[:, 4:, 0]) ** 2).mean().item()  # not divided by the 3 channels
    assert trainer.evaluate(model, x, tau) == pytest.approx(want, rel=1e-5)
    assert trainer.forecast_loss(model, x, tau).item() == pytest.approx(want, rel=1e-5)


def test_weights_of_a_phases_reconstruction_read_the_known_channels():
    """rec.weights() of a WARP model with known inputs: theta_t of the WARP inside `KnownInputs`
    on the sequence it read (truth in the context, its forecast after) and the phase channels."""
    from warp_phys.data import normalised_time

    rec = _fit(_sine(300), phases=(P,), epochs=2)
    inner = rec.model.model
    assert isinstance(rec.model, KnownInputs) and isinstance(inner, WARP)
    rows = [0, 2]
    w = rec.weights(trajectory=rows)
    ds = rec.dataset.isel(trajectory=rows)
    assert w.dims == ("trajectory", "time", "weight")
    assert w.shape == (2, ds.sizes["time"], inner.weight_size)
    assert np.isfinite(w.values).all()
    np.testing.assert_array_equal(w["trajectory"].values, ds["trajectory"].values)
    # the same theta_t built by hand: targets, then sin/cos of the record step index, one scaler for all
    ctx = ds["context"].values.astype(bool)
    targets = np.where(ctx[None, :, None], ds["state"].values, ds["prediction_mean"].values)
    i = ds["window_start_index"].values[:, None] + np.arange(ds.sizes["time"])
    tau = normalised_time(ds["time"].values)

    def theta(shift: float) -> np.ndarray:
        phase = np.stack([np.sin(2 * np.pi * (i + shift) / P), np.cos(2 * np.pi * (i + shift) / P)], -1)
        z = rec.encoder.scaler.normalise(torch.as_tensor(np.concatenate([targets, phase], -1), dtype=torch.float32))
        with torch.no_grad():
            return inner.weights(z, tau).numpy()

    np.testing.assert_allclose(w.values, theta(0), rtol=1e-5, atol=1e-6)
    assert np.abs(w.values - theta(P / 2)).max() > 1e-4  # the phases are read: half a period off moves theta
    # the future split (past the record's end) too
    fut = rec.weights(split="future")
    assert fut.shape == (1, rec.datasets["future"].sizes["time"], inner.weight_size) and np.isfinite(fut.values).all()


def test_weights_refused_clearly_without_a_warp_model_or_after_a_transform():
    rec = _fit(_sine(300), phases=(P,), epochs=1)
    with pytest.raises(ValueError, match="no interpretable parameters"):  # past the WARP check: the prior has none
        rec.parameters()
    gru = _fit(_sine(300), "gru", phases=(P,), epochs=1)
    for method in (gru.weights, gru.parameters):
        with pytest.raises(ValueError, match="needs a WARP model"):
            method()
    detrended = _fit(_sine(300), phases=(P,), epochs=1, detrend=1)
    with pytest.raises(ValueError, match="detrend="):
        detrended.weights()
