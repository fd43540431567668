"""Trainer and losses: fitting, gradient-free adaptation, determinism, resume, stopping."""
import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from warp_phys.losses import gaussian_nll, mse_loss, sequence_loss
from warp_phys.model import WARP
from warp_phys.sequence import Prediction, SequenceModel
from warp_phys.training import Trainer

T = 48


def damped_oscillators(n, seed, k=(4.0, 16.0), c=(0.01, 0.2), m=(0.02, 0.04)):
    """Exact solutions of m x'' + c x' + k x = 0 (x0 = 1, v0 = 0) on t in [0, 1] with T steps.
    Returns (n, T, 2): position and velocity / 20 (roughly unit scale), and tau (T,)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, T)
    M, K, C = (rng.uniform(*r, size=(n, 1)) for r in (m, k, c))
    w0 = np.sqrt(K / M)
    zeta = C / (2 * np.sqrt(K * M))
    wd = w0 * np.sqrt(1 - zeta**2)
    env = np.exp(-zeta * w0 * t)
    pos = env * (np.cos(wd * t) + zeta * w0 / wd * np.sin(wd * t))
    vel = -env * (w0**2 / wd) * np.sin(wd * t)
    x = torch.tensor(np.stack([pos, vel / 20], -1), dtype=torch.float32)
    return x, torch.linspace(0, 1, T)


@pytest.fixture(scope="module")
def msd_fit():
    x, tau = damped_oscillators(256, seed=0)
    xv, _ = damped_oscillators(32, seed=1)
    model = WARP(2, width=16, depth=2, seed=0)
    trainer = Trainer(epochs=40, batch_size=32, lr=5e-3, progress=False, seed=0)
    history = trainer.fit(model, x, tau, xv)
    return model, history, trainer, xv, tau


def test_training_loss_falls_tenfold(msd_fit):
    model, history, trainer, xv, tau = msd_fit
    assert len(history.train_loss) == 40 and len(history.val_loss) == 40
    assert history.train_loss[-1] < history.train_loss[0] / 10
    # the model ends with the best epoch's parameters
    assert trainer.evaluate(model, xv, tau) == pytest.approx(history.val_loss[history.best_epoch], rel=1e-6)
    assert history.best_score == min(history.val_loss)


def test_gradient_free_adaptation_out_of_distribution(msd_fit):
    """Out-of-range oscillators (k in [2, 18], c in [0.01, 0.3], m in [0.01, 0.05]): the
    recurrence reading 16 context steps forecasts far better than theta frozen at theta_0."""
    model, _, _, _, tau = msd_fit
    xt, _ = damped_oscillators(64, seed=2, k=(2.0, 18.0), c=(0.01, 0.3), m=(0.01, 0.05))
    n = 16
    adapted = ((model.forecast(xt[:, :n], tau).mean[:, n:] - xt[:, n:]) ** 2).mean()
    frozen = ((model.forecast(xt[:, :n], tau, freeze_recurrence=True).mean[:, n:] - xt[:, n:]) ** 2).mean()
    assert frozen / adapted > 4.0
    assert adapted < 0.2


def test_nll_training_gives_positive_finite_std():
    x, tau = damped_oscillators(64, seed=3)
    model = WARP(2, width=12, depth=2, output="gaussian")
    history = Trainer(epochs=8, batch_size=32, lr=5e-3, loss="nll", progress=False).fit(model, x, tau)
    assert history.train_loss[-1] < history.train_loss[0] - 0.5  # the NLL falls
    with torch.no_grad():
        std = model(x, tau).std
    assert torch.isfinite(std).all() and std.min() >= 1e-3


def _small_fit(tmp_path=None, epochs=4, ck=None, p_force=0.5):
    x, tau = damped_oscillators(40, seed=4)
    model = WARP(2, width=8, depth=1, transition="lowrank", rank=2, seed=3)
    trainer = Trainer(epochs=epochs, batch_size=16, lr=3e-3, p_force=p_force, seed=5, progress=False,
                      checkpoint_path=ck, val_n_ctx=10, patience=100)
    history = trainer.fit(model, x, tau, x[:8])
    return model, history


def test_same_seed_same_result():
    m1, h1 = _small_fit()
    m2, h2 = _small_fit()
    assert h1.train_loss == h2.train_loss and h1.val_loss == h2.val_loss
    for (k, a), (_, b) in zip(m1.state_dict().items(), m2.state_dict().items()):
        assert torch.equal(a, b), k


def test_resume_equals_uninterrupted(tmp_path):
    ref_model, ref_hist = _small_fit(epochs=4)
    ck = tmp_path / "run.ckpt"
    _small_fit(epochs=2, ck=ck)  # "interrupted" after 2 epochs
    assert ck.exists()
    model, hist = _small_fit(epochs=4, ck=ck)  # resumes at epoch 2
    assert hist.train_loss == ref_hist.train_loss and hist.val_loss == ref_hist.val_loss
    assert hist.best_epoch == ref_hist.best_epoch
    for (k, a), (_, b) in zip(model.state_dict().items(), ref_model.state_dict().items()):
        assert torch.equal(a, b), k
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp files


def test_early_stopping_and_time_budget():
    x, tau = damped_oscillators(16, seed=6)
    model = WARP(2, width=8, depth=1)
    h = Trainer(epochs=50, lr=0.0, patience=3, progress=False).fit(model, x, tau, x)
    assert h.stopped_early and h.stop_reason == "early_stopping" and h.epochs_run == 4 and h.best_epoch == 0
    h = Trainer(epochs=10_000, batch_size=4, max_time=0.3, progress=False).fit(WARP(2, width=8, depth=1), x, tau)
    assert h.stop_reason == "max_time" and h.epochs_run < 10_000 and h.time_s < 5


class _Persistence(SequenceModel):
    """No parameters: predicts the previous value."""

    n_variables = 2

    def forward(self, x, tau, *, p_force=1.0, generator=None):
        return Prediction(torch.cat([x[:, :1], x[:, :-1]], 1))


def test_model_without_parameters_returns_immediately():
    x, tau = damped_oscillators(8, seed=7)
    h = Trainer(epochs=100, progress=False).fit(_Persistence(), x, tau, x)
    assert h.stop_reason == "no_parameters" and h.epochs_run == 0
    assert h.val_loss[0] == pytest.approx(float(((x[:, 1:] - x[:, :-1]) ** 2).mean()), rel=1e-6)


def test_trainer_bad_inputs():
    x, tau = damped_oscillators(8, seed=8)
    m = WARP(2, width=8, depth=1)
    tr = Trainer(epochs=1, progress=False)
    with pytest.raises(ValueError, match="trajectories, time, variables"):
        tr.fit(m, x[0], tau)
    with pytest.raises(ValueError, match="tau"):
        tr.fit(m, x, tau[:-1])
    bad = x.clone()
    bad[0, 0, 0] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        tr.fit(m, bad, tau)
    with pytest.raises(ValueError, match="variables"):
        tr.fit(m, torch.zeros(4, T, 3), tau)
    with pytest.raises(ValueError, match="val_n_ctx"):
        Trainer(epochs=1, val_n_ctx=T, progress=False).fit(m, x, tau, x)
    with pytest.raises(ValueError, match="unknown loss"):
        Trainer(loss="l1")
    with pytest.raises(ValueError, match="output='gaussian'"):
        Trainer(epochs=1, loss="nll", progress=False).fit(m, x, tau)


def test_losses_match_definitions():
    g = torch.Generator().manual_seed(0)
    m, x = torch.randn(2, 5, 3, generator=g), torch.randn(2, 5, 3, generator=g)
    s = torch.rand(2, 5, 3, generator=g) + 0.1
    ref = F.gaussian_nll_loss(m, x, s**2, full=False, eps=0.0)  # 0.5 (log s^2 + (x-m)^2/s^2)
    torch.testing.assert_close(gaussian_nll(Prediction(m, s), x), ref)
    mask = (torch.arange(5) >= 2).view(1, 5, 1)
    torch.testing.assert_close(mse_loss(m, x, mask), ((m - x)[:, 2:] ** 2).mean())
    torch.testing.assert_close(sequence_loss(Prediction(m), x, "mse", start=1), ((m - x)[:, 1:] ** 2).mean())


class _FlakyModel(WARP):
    """WARP whose training forward returns NaN on the listed call numbers (1-based)."""

    def __init__(self, bad_calls, **kw):
        super().__init__(2, width=8, depth=1, **kw)
        self.bad_calls, self.calls = set(bad_calls), 0

    def forward(self, x, tau, **kw):
        pred = super().forward(x, tau, **kw)
        if self.training:
            self.calls += 1
            if self.calls in self.bad_calls:
                return Prediction(pred.mean * float("nan"), pred.std)
        return pred


def test_trainer_recovers_from_non_finite_losses():
    x, tau = damped_oscillators(32, seed=0)
    xv, _ = damped_oscillators(8, seed=1)
    model = _FlakyModel({3, 4})
    with pytest.warns(RuntimeWarning) as caught:
        h = Trainer(epochs=4, batch_size=16, lr=1e-2, lr_factor=0.5, progress=False, device="cpu").fit(
            model, x, tau, xv)
    messages = [str(w.message) for w in caught]
    assert any("recovery 1 of 3" in m for m in messages) and any("recovery 2 of 3" in m for m in messages)
    # each recovery restarts the epoch at half the lr; all 4 epochs then run to the end
    assert h.recoveries == 2 and h.stop_reason == "epochs" and h.epochs_run == 4
    assert h.lr[0] == pytest.approx(1e-2) and h.lr[1] == pytest.approx(1e-2 * 0.25)  # NaNs in epoch 1
    assert all(math.isfinite(v) for v in h.train_loss + h.val_loss)
    # without retries the first non-finite loss stops training and keeps the best parameters
    model = _FlakyModel({3})
    init = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.warns(RuntimeWarning, match="stopping"):
        h = Trainer(epochs=4, batch_size=16, lr=1e-2, nan_retries=0, progress=False, device="cpu").fit(
            model, x, tau, xv)
    assert h.stop_reason == "non_finite_loss" and h.epochs_run == 1 and h.recoveries == 0
    assert any((model.state_dict()[k] != init[k]).any() for k in init)  # epoch 0's update was kept
    with pytest.raises(ValueError, match="nan_retries"):
        Trainer(nan_retries=-1)
