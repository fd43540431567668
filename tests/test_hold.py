"""Holding a time-invariant prior's outputs after the context, and training on the forecast."""
import pytest
import torch

from warp_phys import systems as S
from warp_phys.baselines import get as get_baseline
from warp_phys.model import WARP
from warp_phys.priors import BindContext, get as get_prior, rk4_step
from warp_phys.scaling import Scaler
from warp_phys.training import Trainer

F64 = torch.float64
T, N_CTX = 40, 15


def _msd_data(n=4, seed=0):
    msd = S.get("mass_spring_damper")
    ds = msd.simulate(n, params="train", seed=seed, t_span=(0.0, 0.5), n_steps=T)
    x = torch.tensor(ds["state"].transpose("trajectory", "time", "variable").values, dtype=F64)
    t = ds["time"].values
    return msd, x, torch.linspace(0, 1, T, dtype=F64), float(t[1] - t[0]), float(t[-1] - t[0])


def _grey_box_model(msd, x, dt, duration, **kw):
    sc = Scaler(x.mean((0, 1)), x.std((0, 1)))
    ctx = BindContext(2, dt, duration, sc, msd)
    m = WARP(2, width=12, depth=2, transition="lowrank", rank=3, prior=get_prior("grey_box"),
             bind_context=ctx, **kw).to(F64)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():  # a recurrence that reacts to the context (B = U = 0 at initialisation)
        m.transition.B.copy_(0.3 * torch.randn(m.transition.B.shape, generator=g, dtype=F64))
        m.transition.U.copy_(0.05 * torch.randn(m.transition.U.shape, generator=g, dtype=F64))
    return m, sc


def test_grey_box_forecast_integrates_the_parameters_read_at_the_end_of_the_context():
    msd, x, tau, dt, duration = _msd_data()
    m, sc = _grey_box_model(msd, x, dt, duration)
    assert m.hold_after_context  # the grey box declares its outputs time-invariant
    z = sc.normalise(x)
    fc = sc.denormalise(m.forecast(z[:, :N_CTX], tau).mean)
    # parameters the root network emits for step N_CTX (weights that read the whole context)
    p = m.interpret(z, tau)
    pars = torch.stack([p[n][:, N_CTX] for n in msd.parameter_names], -1)
    # they vary from step to step: holding them is a real constraint
    assert (p["k"][:, N_CTX + 5] - p["k"][:, N_CTX]).abs().max() > 1e-6
    state, ref = x[:, N_CTX - 1], []
    for t in range(N_CTX, T):
        state = rk4_step(lambda tt, xx: msd.rhs(tt, xx, pars), torch.full((x.shape[0],), (t - 1) * dt, dtype=F64),
                         state, dt)
        ref.append(state)
    torch.testing.assert_close(fc[:, N_CTX:], torch.stack(ref, 1), rtol=1e-10, atol=1e-10)
    # the context part is the teacher-forced one-step prediction
    torch.testing.assert_close(fc[:, :N_CTX], sc.denormalise(m(z, tau).mean)[:, :N_CTX], rtol=1e-10, atol=1e-10)


def test_hold_can_be_switched_off_and_black_box_never_holds():
    msd, x, tau, dt, duration = _msd_data()
    held, sc = _grey_box_model(msd, x, dt, duration)
    free, _ = _grey_box_model(msd, x, dt, duration, hold_after_context=False)
    free.load_state_dict(held.state_dict())
    z = sc.normalise(x)
    a, b = held.forecast(z[:, :N_CTX], tau).mean, free.forecast(z[:, :N_CTX], tau).mean
    torch.testing.assert_close(a[:, :N_CTX], b[:, :N_CTX], rtol=1e-10, atol=1e-10)
    assert (a[:, N_CTX:] - b[:, N_CTX:]).abs().max() > 1e-6  # the root network's parameters drift
    # the free-running forecast is the autoregressive rollout fed with the context
    force = (torch.arange(T) < N_CTX).expand(x.shape[0], T)
    torch.testing.assert_close(b, free.rollout(torch.cat([z[:, :N_CTX], 0 * z[:, N_CTX:]], 1), tau, force).mean)
    assert not WARP(2).hold_after_context
    with pytest.raises(ValueError, match="hold_after_context"):
        WARP(2, hold_after_context="yes")


def test_context_forecast_is_the_forecast_with_gradients():
    msd, x, tau, dt, duration = _msd_data()
    m, sc = _grey_box_model(msd, x, dt, duration)
    z = sc.normalise(x)
    pred = m.context_forecast(z[:, :N_CTX], tau)
    torch.testing.assert_close(pred.mean.detach(), m.forecast(z[:, :N_CTX], tau).mean)
    ((pred.mean[:, N_CTX:] - z[:, N_CTX:]) ** 2).mean().backward()
    assert m.transition.U.grad is not None and m.transition.U.grad.abs().max() > 0


def test_trainer_adds_the_forecast_error_to_the_loss():
    msd, x, tau, dt, duration = _msd_data(n=6)
    m, sc = _grey_box_model(msd, x, dt, duration)
    z = sc.normalise(x)
    with torch.no_grad():
        one_step = float(((m(z, tau).mean - z)[:, 1:] ** 2).mean())
        fc = m.forecast(z[:, :N_CTX], tau).mean
        horizon = float(((fc[:, N_CTX:N_CTX + 10] - z[:, N_CTX:N_CTX + 10]) ** 2).mean())
    tr = Trainer(epochs=1, batch_size=6, lr=0.0, forecast_weight=2.0, forecast_context=N_CTX, forecast_horizon=10,
                 progress=False, device="cpu")
    h = tr.fit(m, z, tau)
    assert h.train_loss[0] == pytest.approx(one_step + 2.0 * horizon, rel=1e-9)


def test_forecast_loss_errors():
    with pytest.raises(ValueError, match="forecast_context"):
        Trainer(forecast_weight=1.0)
    with pytest.raises(ValueError, match="forecast_weight"):
        Trainer(forecast_weight=-1.0, forecast_context=3)
    x = torch.randn(4, 12, 2)
    tau = torch.linspace(0, 1, 12)
    with pytest.raises(ValueError, match="forecast_context=12"):
        Trainer(forecast_weight=1.0, forecast_context=12, progress=False, device="cpu").fit(WARP(2), x, tau)
    with pytest.raises(ValueError, match="context_forecast"):
        Trainer(forecast_weight=1.0, forecast_context=3, progress=False, device="cpu").fit(
            get_baseline("gru", 2), x, tau)


def test_gaussian_output_holds_its_std_after_the_context():
    msd, x, tau, dt, duration = _msd_data()
    m, sc = _grey_box_model(msd, x, dt, duration, output="gaussian")
    z = sc.normalise(x)
    pred = m.forecast(z[:, :N_CTX], tau)
    assert pred.std.shape == z.shape and bool((pred.std > 0).all())
    after = pred.std[:, N_CTX:]
    torch.testing.assert_close(after, after[:, :1].expand_as(after), rtol=0, atol=0)
    # the context part is the teacher-forced one, and the held std is the step-N_CTX one of it
    tf = m(z, tau)
    torch.testing.assert_close(pred.std[:, :N_CTX], tf.std[:, :N_CTX], rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(after[:, 0], tf.std[:, N_CTX], rtol=1e-10, atol=1e-10)
