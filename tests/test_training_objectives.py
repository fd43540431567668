"""Training objectives for free-running forecasts: scheduled sampling, a rollout curriculum,
noise / parallel feedback passes. Each option changes training as documented; the defaults
change nothing."""
import inspect
import math

import numpy as np
import pytest
import torch
from torch import nn

import warp_phys
from warp_phys import baselines
from warp_phys.model import WARP
from warp_phys.sequence import Prediction, SequenceModel
from warp_phys.training import Trainer
from warp_phys.training_epoch import epoch_order

WARP_FEEDBACK = all(k in inspect.signature(WARP.forward).parameters
                    for k in ("feedback_passes", "detach_feedback", "noise_std"))
needs_warp_feedback = pytest.mark.skipif(not WARP_FEEDBACK, reason="WARP.forward has no feedback keywords yet")


def waves(n, T=24, seed=0):
    """(n, T, 2) sines and cosines of random frequency and phase, and tau (T,)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, T)
    w, p = rng.uniform(4, 8, (n, 1)), rng.uniform(0, 2 * np.pi, (n, 1))
    x = np.stack([np.sin(w * t + p), np.cos(w * t + p)], -1)
    return torch.tensor(x, dtype=torch.float32), torch.linspace(0, 1, T)


from test_training import damped_oscillators  # noqa: E402  (the data of the pinned run below)


class Stub(SequenceModel):
    """Predicts x_{t-1} + w and records the keywords of every training forward (``calls``) and
    the length of every ``context_forecast`` (``forecast_lengths``)."""

    n_variables = 2

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2))
        self.calls, self.forecast_lengths = [], []
        self.register_forward_pre_hook(self._record, with_kwargs=True)

    def _record(self, module, args, kwargs):
        if self.training:
            self.calls.append(dict(kwargs))

    def forward(self, x, tau, *, p_force=1.0, generator=None, feedback_passes=None, detach_feedback=True,
                noise_std=0.0):
        return Prediction(torch.cat([x[:, :1], x[:, :-1]], 1) + self.w)

    def context_forecast(self, x_ctx, tau):
        self.forecast_lengths.append(tau.shape[0])
        rest = x_ctx[:, -1:].expand(-1, tau.shape[0] - x_ctx.shape[1], -1)
        return Prediction(torch.cat([x_ctx, rest], 1) + self.w)


class PlainStub(Stub):
    """A baseline-like forward: p_force and generator only."""

    def forward(self, x, tau, *, p_force=1.0, generator=None):
        return Prediction(torch.cat([x[:, :1], x[:, :-1]], 1) + self.w)


QUIET = dict(progress=False, device="cpu", patience=1000)


# ---------------------------------------------------------------- scheduled sampling
def test_p_force_schedules_follow_their_formulas():
    pinned_mid = {"linear": 0.6, "exponential": 0.2 + 0.8 * (math.exp(-2.5) - math.exp(-5)) / (1 - math.exp(-5)),
                  "inverse_sigmoid": 0.6}  # p at u = k / K = 1/2
    for kind, mid in pinned_mid.items():
        tr = Trainer(epochs=20, p_force_schedule=kind, p_force_floor=0.2, schedule_epochs=8, **QUIET)
        p = [tr.schedule_at(k)["p_force"] for k in range(20)]
        assert p[0] == 1.0 and p[4] == pytest.approx(mid, abs=1e-12)
        assert all(v == 0.2 for v in p[8:]) and p[7] > 0.2  # the floor from epoch schedule_epochs on
        assert all(a > b for a, b in zip(p[:8], p[1:9])), (kind, p)  # strictly falling until then
    assert pinned_mid["exponential"] == pytest.approx(0.26069, abs=1e-5)
    # the shapes differ as documented: exponential falls fastest early, inverse sigmoid slowest
    early = {k: Trainer(epochs=20, p_force_schedule=k, p_force_floor=0.2, schedule_epochs=8,
                        **QUIET).schedule_at(1)["p_force"] for k in pinned_mid}
    assert early["exponential"] < early["linear"] < early["inverse_sigmoid"]
    assert early["linear"] == pytest.approx(0.9)
    # it starts at p_force; schedule_epochs=None: the floor at the last epoch
    tr = Trainer(epochs=5, p_force=0.6, p_force_schedule="linear", p_force_floor=0.2, **QUIET)
    assert [tr.schedule_at(k)["p_force"] for k in range(5)] == pytest.approx([0.6, 0.5, 0.4, 0.3, 0.2])
    assert tr.schedule_at(4)["p_force"] == 0.2
    tr = Trainer(epochs=5, p_force=0.3, **QUIET)  # no schedule: p_force in every epoch
    assert [tr.schedule_at(k) for k in range(3)] == [{"p_force": 0.3, "forecast_horizon": None}] * 3


def test_scheduled_sampling_reaches_the_forward_and_the_history():
    x, tau = waves(16)
    model = Stub()
    h = Trainer(epochs=6, batch_size=8, p_force_schedule="linear", p_force_floor=0.25, schedule_epochs=3,
                **QUIET).fit(model, x, tau)
    assert h.p_force == [1.0, 0.75, 0.5, 0.25, 0.25, 0.25]
    assert [c["p_force"] for c in model.calls] == [p for p in h.p_force for _ in range(2)]  # 2 batches an epoch
    assert h.forecast_horizon == [None] * 6


# ---------------------------------------------------------------- rollout curriculum
def test_rollout_horizon_grows_by_the_formula():
    x, tau = waves(16, T=24)
    model = Stub()
    tr = Trainer(epochs=8, batch_size=16, forecast_weight=1.0, forecast_context=6, forecast_horizon_schedule=(2, 3),
                 **QUIET)
    expected = [min(2 + 3 * k, 24 - 6) for k in range(8)]
    assert expected == [2, 5, 8, 11, 14, 17, 18, 18]
    assert [tr.schedule_at(k, n_steps=24)["forecast_horizon"] for k in range(8)] == expected
    assert tr.schedule_at(10)["forecast_horizon"] == 32  # without n_steps: no cap from the data
    h = tr.fit(model, x, tau)
    assert h.forecast_horizon == expected and h.p_force == [1.0] * 8
    assert model.forecast_lengths == [6 + e for e in expected]  # the forecast reaches context + h(k)
    # capped by forecast_horizon
    tr = Trainer(epochs=6, forecast_weight=1.0, forecast_context=6, forecast_horizon=10,
                 forecast_horizon_schedule=(2, 3), **QUIET)
    assert [tr.schedule_at(k, 24)["forecast_horizon"] for k in range(6)] == [2, 5, 8, 10, 10, 10]
    # the loss covers exactly those steps
    w = torch.tensor([0.1, -0.2])
    with torch.no_grad():
        model.w.copy_(w)
    pred = torch.cat([x[:, :6], x[:, 5:6].expand(-1, 18, -1)], 1) + w
    for hor in (2, 7):
        ref = ((pred[:, 6:6 + hor] - x[:, 6:6 + hor]) ** 2).mean()
        torch.testing.assert_close(tr.forecast_loss(model, x, tau, hor), ref)


# ---------------------------------------------------------------- noise and feedback passes
def test_feedback_keywords_reach_the_forward():
    x, tau = waves(16)
    model = Stub()
    Trainer(epochs=2, batch_size=16, p_force=0.5, feedback_noise=0.1, feedback_passes=2, detach_feedback=False,
            **QUIET).fit(model, x, tau)
    assert len(model.calls) == 2
    for c in model.calls:
        assert isinstance(c.pop("generator"), torch.Generator)
        assert c == {"p_force": 0.5, "feedback_passes": 2, "detach_feedback": False, "noise_std": 0.1}
    model = Stub()  # at their defaults nothing new is passed (models without the keywords work as before)
    Trainer(epochs=1, batch_size=16, p_force=0.5, **QUIET).fit(model, x, tau)
    assert [sorted(c) for c in model.calls] == [["generator", "p_force"]]


def test_feedback_options_need_a_model_that_takes_them():
    x, tau = waves(8)
    with pytest.raises(ValueError, match=r"feedback_noise=0\.1.*PlainStub"):
        Trainer(epochs=1, p_force=0.5, feedback_noise=0.1, **QUIET).fit(PlainStub(), x, tau)
    gru = baselines.get("gru", n_variables=2, hidden=4)
    with pytest.raises(ValueError, match=r"feedback_passes=3.*RNNBaseline"):
        Trainer(epochs=1, p_force=0.5, feedback_passes=3, **QUIET).fit(gru, x, tau)


@needs_warp_feedback
def test_warp_objectives_are_seeded_and_change_training():
    x, tau = waves(16, T=24)

    def run(seed=1, noise=0.05):
        model = WARP(2, width=8, depth=1, seed=0)
        h = Trainer(epochs=3, batch_size=8, lr=3e-3, seed=seed, p_force_schedule="linear", p_force_floor=0.5,
                    schedule_epochs=1, feedback_noise=noise, feedback_passes=2, forecast_weight=0.5,
                    forecast_context=6, forecast_horizon_schedule=(2, 4), **QUIET).fit(model, x, tau, x[:4])
        return h, model

    h1, m1 = run()
    h2, m2 = run()
    assert h1.train_loss == h2.train_loss and h1.val_loss == h2.val_loss
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    assert h1.p_force == [1.0, 0.5, 0.5] and h1.forecast_horizon == [2, 6, 10]
    assert all(math.isfinite(v) for v in h1.train_loss)
    # the seed draws the batches, the forced steps and the noise; the noise reaches the model
    assert run(seed=2)[0].train_loss != h1.train_loss
    h0 = run(noise=0.0)[0]
    assert h0.train_loss[0] == h1.train_loss[0] and h0.train_loss[1:] != h1.train_loss[1:]  # epoch 0: p = 1


@needs_warp_feedback
def test_resume_with_schedules_equals_uninterrupted(tmp_path):
    x, tau = waves(16, T=24)

    def run(epochs, ck=None):
        model = WARP(2, width=8, depth=1, seed=0)
        h = Trainer(epochs=epochs, batch_size=8, seed=3, p_force_schedule="exponential", p_force_floor=0.2,
                    schedule_epochs=3, feedback_passes=2, feedback_noise=0.02, checkpoint_path=ck,
                    **QUIET).fit(model, x, tau)
        return h, model

    ref, ref_model = run(4)
    run(2, tmp_path / "ck.pt")
    h, model = run(4, tmp_path / "ck.pt")
    assert h.train_loss == ref.train_loss and h.p_force == ref.p_force and len(h.p_force) == 4
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), ref_model.state_dict().values()))


# ---------------------------------------------------------------- epochs of k batches
def test_epoch_order_draws_whole_passes_then_cuts():
    g = torch.Generator().manual_seed(7)
    one = epoch_order(10, g, batch_size=4)
    assert sorted(one.tolist()) == list(range(10))
    g = torch.Generator().manual_seed(7)
    short = epoch_order(10, g, batch_size=4, batches_per_epoch=2)  # 8 of one permutation: no repeat
    assert short.tolist() == one[:8].tolist()
    g = torch.Generator().manual_seed(7)
    long = epoch_order(10, g, batch_size=4, batches_per_epoch=6)  # 24: two whole passes and 4 more
    assert long.shape == (24,) and long[:10].tolist() == one.tolist()
    assert sorted(long[10:20].tolist()) == list(range(10)) and len(set(long[20:].tolist())) == 4


def test_batches_per_epoch_sets_the_steps_between_validations_and_the_schedule():
    x, tau = waves(16)
    model = Stub()
    h = Trainer(epochs=5, batch_size=4, batches_per_epoch=3, p_force_schedule="linear", p_force_floor=0.0,
                schedule_epochs=4, **QUIET).fit(model, x, tau, x[:4])
    assert len(model.calls) == 5 * 3  # 3 steps an epoch, not 16 / 4 = 4
    assert h.p_force == [1.0, 0.75, 0.5, 0.25, 0.0] and len(h.val_loss) == 5
    assert [c["p_force"] for c in model.calls] == [p for p in h.p_force for _ in range(3)]


def test_batches_per_epoch_of_one_pass_is_the_default_bit_for_bit():
    x, tau = waves(16)

    def run(**options):
        model = WARP(2, width=8, depth=1, seed=0)
        return Trainer(epochs=3, batch_size=8, seed=2, **QUIET, **options).fit(model, x, tau, x[:4]), model

    (ref, m_ref), (same, m_same) = run(), run(batches_per_epoch=2)  # 2 * 8 = 16: one permutation
    assert same.train_loss == ref.train_loss and same.val_loss == ref.val_loss
    assert all(torch.equal(a, b) for a, b in zip(m_ref.state_dict().values(), m_same.state_dict().values()))
    other, _ = run(batches_per_epoch=3)
    assert other.train_loss[0] != ref.train_loss[0]


def test_resume_with_batches_per_epoch_equals_uninterrupted_and_checks_it(tmp_path):
    x, tau = waves(16)

    def run(epochs, ck=None, k=3):
        model = WARP(2, width=8, depth=1, seed=0)
        return Trainer(epochs=epochs, batch_size=4, batches_per_epoch=k, seed=1, checkpoint_path=ck,
                       **QUIET).fit(model, x, tau, x[:4]), model

    ref, ref_model = run(4)
    run(2, tmp_path / "ck.pt")
    h, model = run(4, tmp_path / "ck.pt")
    assert h.train_loss == ref.train_loss and h.val_loss == ref.val_loss
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), ref_model.state_dict().values()))
    with pytest.raises(ValueError, match="batches_per_epoch: checkpoint 3, now 5"):
        run(6, tmp_path / "ck.pt", k=5)


# ---------------------------------------------------------------- the defaults change nothing
DEFAULTS = dict(p_force_schedule=None, p_force_floor=0.0, schedule_epochs=None, forecast_horizon_schedule=None,
                feedback_noise=0.0, feedback_passes=None, detach_feedback=True, batches_per_epoch=None)


def _pinned_run(**options):
    x, tau = damped_oscillators(40, seed=4)
    model = WARP(2, width=8, depth=1, transition="lowrank", rank=2, seed=3)
    h = Trainer(epochs=3, batch_size=16, lr=3e-3, seed=5, progress=False, val_n_ctx=10, patience=100, p_force=0.7,
                forecast_weight=0.5, forecast_context=10, **options).fit(model, x, tau, x[:8])
    return h, model


def test_defaults_leave_training_bit_identical():
    absent, m_absent = _pinned_run()
    present, m_present = _pinned_run(**DEFAULTS)
    assert absent.train_loss == present.train_loss and absent.val_loss == present.val_loss
    assert all(torch.equal(a, b) for a, b in zip(m_absent.state_dict().values(), m_present.state_dict().values()))
    # the numbers of the Trainer before these options existed (same machine kind as the pipeline pins)
    assert absent.train_loss == pytest.approx([0.24990635514259338, 0.21090154051780702, 0.2022932231426239],
                                              rel=1e-5)
    assert absent.p_force == [0.7] * 3 and absent.forecast_horizon == [38] * 3
    # a schedule whose floor is its start is the constant p_force, bit for bit
    flat, _ = _pinned_run(p_force_schedule="inverse_sigmoid", p_force_floor=0.7, schedule_epochs=2)
    assert flat.train_loss == absent.train_loss
    # a curriculum that starts at the full window is no curriculum
    full, _ = _pinned_run(forecast_horizon_schedule=(38, 5))
    assert full.train_loss == absent.train_loss


# ---------------------------------------------------------------- bad values
@pytest.mark.parametrize("options, match", [
    (dict(p_force_schedule="cosine"), "p_force_schedule='cosine'"),
    (dict(p_force_schedule="linear", p_force_floor=-0.1), "p_force_floor=-0.1"),
    (dict(p_force=0.5, p_force_schedule="linear", p_force_floor=0.8), "p_force_floor=0.8"),
    (dict(p_force_schedule="linear", p_force_floor=math.nan), "p_force_floor=nan"),
    (dict(p_force_floor=0.3), "p_force_floor=0.3.*p_force_schedule"),
    (dict(schedule_epochs=4), "schedule_epochs=4.*p_force_schedule"),
    (dict(p_force_schedule="linear", schedule_epochs=0), "schedule_epochs=0"),
    (dict(p_force_schedule="linear", schedule_epochs=2.5), "schedule_epochs=2.5"),
    (dict(forecast_weight=1.0, forecast_context=4, forecast_horizon_schedule=(0, 1)), "forecast_horizon_schedule"),
    (dict(forecast_weight=1.0, forecast_context=4, forecast_horizon_schedule=(4,)), "forecast_horizon_schedule"),
    (dict(forecast_weight=1.0, forecast_context=4, forecast_horizon_schedule=(4, -1)), "forecast_horizon_schedule"),
    (dict(forecast_weight=1.0, forecast_context=4, forecast_horizon_schedule=(4, 1.5)), "forecast_horizon_schedule"),
    (dict(forecast_horizon_schedule=(4, 1)), "forecast_horizon_schedule.*forecast_weight"),
    (dict(forecast_weight=1.0, forecast_context=4, forecast_horizon=3, forecast_horizon_schedule=(4, 1)),
     "forecast_horizon=3"),
    (dict(p_force=0.5, feedback_noise=-1.0), "feedback_noise=-1.0"),
    (dict(p_force=0.5, feedback_noise=math.inf), "feedback_noise=inf"),
    (dict(p_force=0.5, feedback_passes=0), "feedback_passes=0"),
    (dict(p_force=0.5, feedback_passes=True), "feedback_passes=True"),
    (dict(p_force=0.5, feedback_passes=2, detach_feedback="yes"), "detach_feedback='yes'"),
    (dict(p_force=0.5, detach_feedback=False), "detach_feedback=False.*feedback_passes"),
    (dict(feedback_noise=0.1), "feedback_noise=0.1.*p_force=1"),
    (dict(p_force_schedule="linear", p_force_floor=1.0, feedback_passes=2), "feedback_passes=2.*p_force=1"),
    (dict(batches_per_epoch=0), "batches_per_epoch=0"),
    (dict(batches_per_epoch=2.5), "batches_per_epoch=2.5"),
    (dict(batches_per_epoch=True), "batches_per_epoch=True"),
])
def test_bad_values_name_the_argument(options, match):
    with pytest.raises(ValueError, match=match):
        Trainer(**options)


def test_schedule_at_checks_the_epoch():
    with pytest.raises(ValueError, match="epoch"):
        Trainer().schedule_at(-1)


# ---------------------------------------------------------------- through reconstruct
SMALL = dict(n_train=8, n_val=4, n_test=4, t_span=(0.0, 0.5), n_steps=32, context=8, epochs=2, batch_size=8,
             progress=False, device="cpu", seed=0)


def test_reconstruct_passes_the_options_to_the_trainer():
    rec = warp_phys.reconstruct(system="msd", p_force_schedule="linear", p_force_floor=0.5, schedule_epochs=1,
                                forecast_weight=0.1, forecast_horizon_schedule=(4, 8), **SMALL)
    assert rec.history.p_force == [1.0, 0.5] and rec.history.forecast_horizon == [4, 12]
    assert rec.recipe.p_force_schedule == "linear" and math.isfinite(rec.metrics["mse"])
    with pytest.raises(ValueError, match="feedback_noise=0.2.*RNNBaseline"):
        warp_phys.reconstruct(system="msd", model="gru", p_force=0.5, feedback_noise=0.2, **SMALL)
    with pytest.raises(ValueError, match="p_force_schedule='cosine'"):
        warp_phys.reconstruct(system="msd", p_force_schedule="cosine", **SMALL)


def test_reconstruct_passes_batches_per_epoch():
    options = dict(SMALL, batch_size=4, epochs=2)  # 8 training trajectories: 2 batches a pass
    ref = warp_phys.reconstruct(system="msd", **options)
    one_pass = warp_phys.reconstruct(system="msd", batches_per_epoch=2, **options)
    one_step = warp_phys.reconstruct(system="msd", batches_per_epoch=1, **options)
    assert one_pass.recipe.batches_per_epoch == 2 and one_step.recipe.batches_per_epoch == 1
    assert one_pass.history.train_loss == ref.history.train_loss
    assert one_step.history.train_loss != ref.history.train_loss and len(one_step.history.train_loss) == 2
    with pytest.raises(ValueError, match="batches_per_epoch=0"):
        warp_phys.reconstruct(system="msd", batches_per_epoch=0, **SMALL)


# ---------------------------------------------------------------- the validation horizon
def test_val_horizon_scores_the_first_steps_of_the_forecast_only():
    x, tau = waves(6)
    n, H = 8, 5
    hold = x[:, n - 1 : n]  # the stub's forecast holds the last context value (w = 0)
    model, lengths = Stub(), []
    forecast = model.forecast
    model.forecast = lambda ctx, t: lengths.append(t.shape[0]) or forecast(ctx, t)
    short = Trainer(val_n_ctx=n, val_horizon=H, **QUIET).evaluate(model, x, tau)
    assert lengths == [n + H]  # the forecast stops at the horizon
    assert short == pytest.approx(float(((x[:, n : n + H] - hold) ** 2).mean()), rel=1e-6)
    full = Trainer(val_n_ctx=n, **QUIET).evaluate(model, x, tau)
    assert full == pytest.approx(float(((x[:, n:] - hold) ** 2).mean()), rel=1e-6) and full != pytest.approx(short)
    past_end = Trainer(val_n_ctx=n, val_horizon=10_000, **QUIET).evaluate(model, x, tau)
    assert past_end == full  # a horizon past the end is the whole forecast


def test_val_horizon_checks_and_resume_key():
    from warp_phys.training_resume import trainer_settings

    with pytest.raises(ValueError, match="val_horizon needs val_n_ctx"):
        Trainer(val_horizon=5, **QUIET)
    with pytest.raises(ValueError, match="val_horizon=0"):
        Trainer(val_n_ctx=3, val_horizon=0, **QUIET)
    assert "val_horizon" not in trainer_settings(Trainer(val_n_ctx=3, **QUIET))  # old checkpoints still resume
    assert trainer_settings(Trainer(val_n_ctx=3, val_horizon=7, **QUIET))["val_horizon"] == 7
