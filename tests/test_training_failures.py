"""Training that cannot fail silently: a run with no finite epoch raises TrainingFailedError,
non-finite validation losses are recovered from like training ones, the inputs are copied,
a checkpoint of other settings or data is not resumed, and bad settings fail at once."""
import math
import warnings

import numpy as np
import pytest
import torch

import warp_phys
from warp_phys.checkpoint import atomic_save, load_verified
from warp_phys.model import WARP
from warp_phys.sequence import Prediction
from warp_phys.training import Trainer
from warp_phys.training_guard import TrainingFailedError
from warp_phys.training_resume import ResumeMismatchError
from warp_phys.validation import InputError

from test_training_objectives import waves  # noqa: E402  (sines and cosines, (n, T, 2), and tau)

QUIET = dict(progress=False, device="cpu")


def noisy_sines():
    """The example of the report: 40 noisy (sin, cos) trajectories of 50 steps."""
    rng = np.random.default_rng(0)
    t = np.linspace(0, 4, 50)
    x = np.stack([np.stack([np.sin(w * t + p), np.cos(w * t + p)], -1) for w, p in rng.uniform(1, 2, (40, 2))])
    return x + 0.05 * rng.standard_normal(x.shape), t


def small_fit(epochs=3, x=None, ck=None, **options):
    x, tau = waves(24) if x is None else x
    model = WARP(2, width=8, depth=1, seed=0)
    settings = dict(epochs=epochs, batch_size=8, lr=3e-3, seed=1, checkpoint_path=ck, **QUIET)
    history = Trainer(**{**settings, **options}).fit(model, x, tau, x[:6])
    return history, model


# ---------------------------------------------------------------- a run with no finite epoch raises
def test_diverging_reconstruct_raises_instead_of_returning_the_untrained_model():
    x, t = noisy_sines()
    with pytest.warns(RuntimeWarning, match="non-finite validation loss in epoch 0"):
        with pytest.raises(TrainingFailedError) as caught:
            warp_phys.reconstruct(data=x, time=t, lr=0.1, epochs=3, seed=0, **QUIET)
    msg = str(caught.value)
    for words in ("no epoch gave a finite validation loss at lr=0.1 (3 non-finite epoch attempt(s), 3 of epochs=3 "
                  "completed", "e.g. lr=0.01", "output_clip", "reconstruct"):
        assert words in msg, (words, msg)
    h = caught.value.history
    assert isinstance(caught.value, RuntimeError)
    assert h.status == "failed" and h.best_epoch == -1 and h.epochs_run == 3 and h.recoveries == 0
    assert [e["action"] for e in h.non_finite] == ["skipped"] * 3


def test_diverging_fit_with_recovery_lowers_the_lr_then_raises():
    x, tau = waves(24)
    model = WARP(2, width=8, depth=1, seed=0)
    trainer = Trainer(epochs=3, batch_size=8, lr=3e-3, seed=1, nan_validation="recover", lr_factor=0.5, **QUIET)
    trainer.evaluate = lambda *a, **k: math.nan  # the validation forecast never finite
    with pytest.warns(RuntimeWarning, match="recovery 1 of 3"):
        with pytest.raises(TrainingFailedError, match=r"at lr=0.003 \(4 non-finite epoch attempt\(s\), lr lowered "
                                                      r"to 0.000375 by 3 recoveries"):
            trainer.fit(model, x, tau, x[:6])


def test_a_failed_run_from_a_fitted_field_says_to_bound_the_outputs_first():
    """With parameter_fit the forecast starts from each context's fitted field, which can blow up
    whatever the learning rate: the message says so (and only then)."""
    from warp_phys import priors
    from warp_phys.priors import BindContext
    from warp_phys.scaling import Scaler

    x, tau = waves(24)
    ctx = BindContext(2, float(tau[1] - tau[0]), 1.0, Scaler.identity(2), None)
    messages = {}
    for fit in (True, False):
        model = WARP(2, width=8, depth=1, prior=priors.get("quadratic"), bind_context=ctx, parameter_fit=fit, seed=0)
        trainer = Trainer(epochs=2, batch_size=8, lr=3e-3, seed=1, val_n_ctx=10, **QUIET)
        trainer.evaluate = lambda *a, **k: math.nan  # the validation forecast never finite
        with pytest.warns(RuntimeWarning), pytest.raises(TrainingFailedError) as caught:
            trainer.fit(model, x, tau, x[:6])
        messages[fit] = str(caught.value)
    assert "With parameter_fit" in messages[True] and "output_clip=, e.g. 5" in messages[True]
    assert "With parameter_fit" not in messages[False] and "output_clip" in messages[False]


class _NaNModel(WARP):
    """WARP whose training forward always predicts NaN."""

    def forward(self, x, tau, **kw):
        pred = super().forward(x, tau, **kw)
        return Prediction(pred.mean * float("nan"), pred.std) if self.training else pred


def test_no_finite_training_loss_raises_and_restores_the_initial_parameters():
    x, tau = waves(16)
    model = _NaNModel(2, width=8, depth=1, seed=0)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(TrainingFailedError,
                       match=r"training loss at lr=0\.02 \(1 non-finite epoch attempt\(s\), 0 of epochs=5.*lr=0\.002"):
        Trainer(epochs=5, batch_size=8, lr=0.02, nan_retries=0, **QUIET).fit(model, x, tau)
    assert all(torch.equal(v, init[k]) for k, v in model.state_dict().items())
    assert not model.training


def test_a_normal_run_reports_ok():
    h, _ = small_fit()
    assert h.status == "ok" and h.non_finite == [] and h.recoveries == 0 and h.best_epoch >= 0


# ---------------------------------------------------------------- non-finite validation is recovered from
def _nan_on_calls(monkeypatch, calls):
    """Trainer.evaluate returns NaN on the listed (1-based) calls."""
    original, count = Trainer.evaluate, [0]

    def evaluate(self, *args, **kwargs):
        count[0] += 1
        return math.nan if count[0] in calls else original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "evaluate", evaluate)


def test_non_finite_validation_restores_lowers_the_lr_and_warns(monkeypatch):
    ref, _ = small_fit(epochs=3)
    _nan_on_calls(monkeypatch, {2})  # epoch 1's validation
    with pytest.warns(RuntimeWarning, match=r"non-finite validation loss in epoch 1; .* lr 0\.0015 \(recovery 1 of 3"):
        h, _ = small_fit(epochs=3, lr_factor=0.5, nan_validation="recover")
    assert h.recoveries == 1 and h.status == "unstable" and h.epochs_run == 3 and h.stop_reason == "epochs"
    assert h.non_finite == [{"epoch": 1, "loss": "validation", "lr": pytest.approx(3e-3), "action": "recovered"}]
    assert h.lr == pytest.approx([3e-3, 1.5e-3, 1.5e-3], rel=1e-9)
    assert len(h.val_loss) == 3 and all(math.isfinite(v) for v in h.val_loss)  # the NaN is not recorded
    assert h.train_loss[0] == ref.train_loss[0] and h.train_loss[1] != ref.train_loss[1]


def test_non_finite_validation_after_the_retries_stops_with_the_best_epoch(monkeypatch):
    _nan_on_calls(monkeypatch, {2})
    with pytest.warns(RuntimeWarning, match="non-finite validation loss in epoch 1; stopping"):
        h, model = small_fit(epochs=3, nan_retries=0, nan_validation="recover")
    assert h.status == "stopped_non_finite" and h.stop_reason == "non_finite_loss" and h.best_epoch == 0
    assert h.epochs_run == 1 and len(h.val_loss) == 1


def test_nan_validation_skip_keeps_parameters_and_lr(monkeypatch):
    ref, _ = small_fit(epochs=3)
    _nan_on_calls(monkeypatch, {2})
    with pytest.warns(RuntimeWarning, match=r"validation loss in epoch 1; it counts as an epoch without improvement"):
        h, _ = small_fit(epochs=3)  # the default
    assert h.status == "unstable" and h.recoveries == 0 and h.lr == pytest.approx([3e-3] * 3)
    assert h.non_finite == [{"epoch": 1, "loss": "validation", "lr": pytest.approx(3e-3), "action": "skipped"}]
    assert h.train_loss == ref.train_loss and math.isnan(h.val_loss[1]) and h.val_loss[2] == ref.val_loss[2]
    assert h.best_epoch != 1


def test_validation_that_is_never_finite_raises(monkeypatch):
    monkeypatch.setattr(Trainer, "evaluate", lambda self, *a, **k: math.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(TrainingFailedError,
                           match=r"finite validation loss at lr=0\.003 \(2 non-finite epoch attempt\(s\), 2 of "
                                 r"epochs=2 completed"):
            small_fit(epochs=2, nan_retries=2)  # default nan_validation="skip": no recovery, then the error


# ---------------------------------------------------------------- the inputs are copied
class _Meddler(WARP):
    """WARP that runs ``hook`` at its first training forward (the caller changing its arrays mid-run)."""

    def __init__(self, hook):
        super().__init__(2, width=8, depth=1, seed=0)
        self.hook = hook

    def forward(self, x, tau, **kw):
        if self.training and self.hook is not None:
            self.hook()
            self.hook = None
        return super().forward(x, tau, **kw)


def _fit_meddled(x, tau, xv, hook):
    model = _Meddler(hook)
    return Trainer(epochs=2, batch_size=8, lr=3e-3, seed=1, val_n_ctx=6, **QUIET).fit(model, x, tau, xv)


@pytest.mark.parametrize("kind", ["tensor", "numpy"])
def test_changing_the_inputs_during_the_run_changes_nothing(kind):
    x, tau = waves(24)
    wrap = (lambda a: a.clone()) if kind == "tensor" else (lambda a: a.numpy().copy())
    ref = _fit_meddled(wrap(x), wrap(tau), wrap(x[:6]), None)
    xc, tc, vc = wrap(x), wrap(tau), wrap(x[:6])

    def meddle():
        xc[:] = 0
        vc[:] = 0
        tc[:] = tc * 5

    h = _fit_meddled(xc, tc, vc, meddle)
    assert float(np.abs(np.asarray(xc)).max()) == 0.0  # the meddling happened
    assert h.train_loss == ref.train_loss and h.val_loss == ref.val_loss


def test_fit_does_not_write_to_the_callers_arrays():
    x, tau = waves(24)
    xn, tn = x.numpy().astype(np.float64), tau.numpy().copy()
    before = (xn.copy(), tn.copy(), x.clone())
    model = WARP(2, width=8, depth=1, seed=0)
    Trainer(epochs=1, batch_size=8, **QUIET).fit(model, xn, tn, xn[:4])
    Trainer(epochs=1, batch_size=8, **QUIET).fit(model, x, tau, x[:4])
    assert np.array_equal(xn, before[0]) and np.array_equal(tn, before[1]) and torch.equal(x, before[2])


# ---------------------------------------------------------------- resume checks settings and data
def test_resume_with_other_settings_or_data_raises(tmp_path):
    ck = tmp_path / "run.ckpt"
    small_fit(epochs=2, ck=ck)
    with pytest.raises(ResumeMismatchError, match=r"(?s)lr: checkpoint 0\.003, now 0\.01.*resume_mismatch='warn'"):
        small_fit(epochs=4, ck=ck, lr=0.01)
    with pytest.raises(ResumeMismatchError, match="batch_size: checkpoint 8, now 4"):
        small_fit(epochs=4, ck=ck, batch_size=4)
    x, tau = waves(24)
    x2 = x.clone()
    x2[3, 5, 1] += 1e-3
    with pytest.raises(ResumeMismatchError) as caught:
        small_fit(epochs=4, ck=ck, x=(x2, tau))
    msg = str(caught.value)
    assert "x_train: checkpoint shape (24, 24, 2) float32 sha256" in msg and "x_val" in msg and "lr:" not in msg
    assert isinstance(caught.value, InputError) and "checkpoint_path=" in msg
    # the same settings with more epochs resume (and equal an uninterrupted run)
    ref, ref_model = small_fit(epochs=4)
    h, model = small_fit(epochs=4, ck=ck)
    assert h.train_loss == ref.train_loss and h.val_loss == ref.val_loss


def test_resume_mismatch_warn_resumes_anyway(tmp_path):
    ck = tmp_path / "run.ckpt"
    small_fit(epochs=2, ck=ck)
    with pytest.warns(RuntimeWarning, match=r"(?s)resuming checkpoint .*lr: checkpoint 0\.003, now 0\.01"):
        h, _ = small_fit(epochs=4, ck=ck, lr=0.01, resume_mismatch="warn")
    assert h.epochs_run == 4 and h.status == "ok"
    assert h.lr[2] == pytest.approx(3e-3)  # the checkpoint's optimiser state (and lr) is kept, as documented


def test_checkpoint_without_settings_is_not_resumed(tmp_path):
    ck = tmp_path / "run.ckpt"
    small_fit(epochs=2, ck=ck)
    old = load_verified(ck)
    del old["settings"], old["data"]
    atomic_save(old, ck)
    with pytest.raises(ResumeMismatchError, match="records no settings"):
        small_fit(epochs=4, ck=ck)


# ---------------------------------------------------------------- bad settings fail before any work
@pytest.mark.parametrize("options, words", [
    (dict(max_time=-1), ["max_time=-1", "seconds > 0"]),
    (dict(max_time=0), ["max_time=0"]),
    (dict(lr=math.nan), ["lr=nan", "learning rate"]),
    (dict(lr=-0.1), ["lr=-0.1", ">= 0"]),
    (dict(epochs=0), ["epochs=0", ">= 1"]),
    (dict(batch_size=0), ["batch_size=0", ">= 1"]),
    (dict(batch_size=2.5), ["batch_size=2.5", "integer"]),
    (dict(patience=0), ["patience=0", "early stopping"]),
    (dict(lr_factor=1.5), ["lr_factor=1.5", "(0, 1)"]),
    (dict(grad_clip=0.0), ["grad_clip=0.0", "None"]),
    (dict(weight_decay=-1e-4), ["weight_decay=-0.0001"]),
    (dict(seed=-3), ["seed", "-3"]),
    (dict(resume_mismatch="force"), ["resume_mismatch='force'", "'warn'"]),
    (dict(nan_retries=True), ["nan_retries", "True"]),
    (dict(loss="l1"), ["unknown loss", "mse"]),
    (dict(nan_validation="ignore"), ["nan_validation='ignore'", "'skip'"]),
])
def test_bad_settings_raise_input_errors(options, words):
    with pytest.raises(InputError) as caught:
        Trainer(**options)
    for w in words:
        assert w in str(caught.value), (w, str(caught.value))


def test_reconstruct_checks_the_training_settings_before_training(monkeypatch):
    import warp_phys.pipeline.engine as engine

    def no_model(*a, **k):
        raise AssertionError("a model was built before the settings were checked")

    monkeypatch.setattr(engine, "build_model", no_model)
    x, t = noisy_sines()
    with pytest.raises(InputError, match=r"patience=0 must be an integer >= 1"):
        warp_phys.reconstruct(data=x, time=t, patience=0, **QUIET)


def test_resuming_a_checkpoint_of_another_model_configuration_is_refused(tmp_path):
    x, tau = waves(16)
    ck = tmp_path / "ck.pt"
    Trainer(epochs=1, batch_size=8, seed=1, checkpoint_path=ck, **QUIET).fit(WARP(2, width=8, depth=1, seed=0),
                                                                             x, tau, x[:4])
    for mode in ("error", "warn"):  # the weights cannot be loaded, whatever the mode
        trainer = Trainer(epochs=2, batch_size=8, seed=1, checkpoint_path=ck, resume_mismatch=mode, **QUIET)
        with pytest.raises(ResumeMismatchError) as info:
            trainer.fit(WARP(2, width=16, depth=1, seed=0), x, tau, x[:4])
        msg = str(info.value)
        assert "holds the weights of another model configuration" in msg and "Fix: build the model" in msg
        assert "initial.layers.1.weight: checkpoint shape (13, 8), model (21, 8)" in msg
