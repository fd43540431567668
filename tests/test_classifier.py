"""SequenceClassifier (warp_phys.classification) and Trainer(loss="cross_entropy").

The task: noisy 2-D spirals turning clockwise (one class) or anticlockwise (the other), with
random phase, angular speed and radius, so neither the first nor the last point alone tells
the classes apart: the model has to read the direction of rotation from the history.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from warp_phys.classification import SequenceClassifier
from warp_phys.classification.heads import WARPClassifierModule
from warp_phys.training import Trainer
from warp_phys.validation import InputError

T = 16
MODELS = ("warp", "gru", "lstm", "transformer")
#: Small sizes and few epochs keep the file fast; the task is easy enough for all of them. 40
#: epochs: WARP with its default signed-area channels scored 0.975 on the test spirals after 20
#: (still improving, best epoch the last), 1.0 after 40.
FAST = dict(epochs=40, batch_size=16, lr=1e-2, progress=False, device="cpu")
SIZES = {"warp": dict(width=16, depth=1), "gru": dict(width=16), "lstm": dict(width=16),
         "transformer": dict(width=16, depth=1)}


def spirals(n: int, seed: int, noise: float = 0.05, steps: int = T) -> tuple[np.ndarray, np.ndarray]:
    """n sequences (n, steps, 2) and labels (n,): 1 anticlockwise, 0 clockwise (equal halves)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    t = np.arange(steps)[None]
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    speed = rng.uniform(0.25, 0.45, (n, 1)) * np.where(y == 1, 1.0, -1.0)[:, None]
    radius = rng.uniform(0.5, 2.0, (n, 1)) * (1 + t / steps)
    x = np.stack([radius * np.cos(phase + speed * t), radius * np.sin(phase + speed * t)], -1)
    return x + noise * rng.standard_normal(x.shape), y


X_TRAIN, Y_TRAIN = spirals(128, seed=0)
X_TEST, Y_TEST = spirals(40, seed=1)


def fit(model: str = "warp", **kw) -> SequenceClassifier:
    return SequenceClassifier(model, **{**FAST, **SIZES[model], **kw}).fit(X_TRAIN, Y_TRAIN)


@pytest.fixture(scope="module")
def fitted() -> dict[str, SequenceClassifier]:
    return {m: fit(m) for m in MODELS}


@pytest.mark.parametrize("model", MODELS)
def test_every_model_separates_held_out_spirals(fitted, model):
    clf = fitted[model]
    assert clf.score(X_TEST, Y_TEST) == 1.0
    assert clf.history_.val_accuracy and clf.history_.val_accuracy[clf.history_.best_epoch] == 1.0
    assert list(clf.classes_) == [0, 1] and clf.n_features_in_ == 2
    proba = clf.predict_proba(X_TEST)
    assert proba.shape == (40, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-9)  # a softmax in float64


def test_an_untrained_model_does_not_score_perfectly():
    # guards the test above against a task so easy that any model solves it: with lr=0 the
    # parameters stay at their initial values
    clf = SequenceClassifier("warp", **{**FAST, **SIZES["warp"], "epochs": 1, "lr": 0.0}).fit(X_TRAIN, Y_TRAIN)
    assert clf.score(X_TEST, Y_TEST) < 0.9


def test_same_seed_same_numbers_other_seed_other_numbers():
    a, b, c = (fit("warp", epochs=3, seed=s).predict_proba(X_TEST) for s in (0, 0, 1))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-4  # another initialisation, split and batch order


@pytest.mark.parametrize("model", MODELS)
def test_steps_after_the_lengths_change_nothing(fitted, model):
    clf = fitted[model]
    rng = np.random.default_rng(3)
    lengths = rng.integers(3, T + 1, size=len(X_TEST))
    ragged = [x[:n] for x, n in zip(X_TEST, lengths)]
    junk = rng.normal(0, 1e3, (len(X_TEST), T + 9, 2))  # longer than any sequence, wild values
    junk[:, ::3] = np.nan
    for i, n in enumerate(lengths):
        junk[i, :n] = X_TEST[i, :n]
    from_list = clf.predict_proba(ragged)
    from_junk = clf.predict_proba(junk, lengths=lengths)
    zero_padded = np.where((np.arange(T)[None, :] < lengths[:, None])[..., None], X_TEST, 0.0)
    # float32 sums over other batch shapes may round differently; 1e-5 is far above that, far below a change
    np.testing.assert_allclose(from_junk, from_list, rtol=0, atol=1e-5)
    np.testing.assert_allclose(clf.predict_proba(zero_padded, lengths=lengths), from_list, rtol=0, atol=1e-5)
    # and the lengths are used: the same arrays read in full give other numbers
    assert np.abs(clf.predict_proba(X_TEST) - from_list).max() > 1e-3


def test_string_labels_round_trip():
    names = np.array(["clockwise", "anticlockwise"])
    clf = SequenceClassifier("warp", **{**FAST, **SIZES["warp"]}).fit(X_TRAIN, names[1 - Y_TRAIN])
    assert list(clf.classes_) == ["anticlockwise", "clockwise"]
    pred = clf.predict(X_TEST)
    assert pred.dtype.kind == "U" and set(pred) <= set(names)
    assert clf.score(X_TEST, names[1 - Y_TEST]) == 1.0
    np.testing.assert_array_equal(clf.classes_[clf.predict_proba(X_TEST).argmax(1)], pred)


def test_univariate_and_explicit_validation_data():
    x = X_TRAIN[..., 0]  # (N, T): one channel
    clf = SequenceClassifier("gru", **{**FAST, **SIZES["gru"], "epochs": 2}).fit(
        x[:96], Y_TRAIN[:96], X_val=x[96:], y_val=Y_TRAIN[96:])
    assert clf.n_features_in_ == 1 and len(clf.history_.val_loss) == 2
    assert clf.predict_proba(X_TEST[..., :1]).shape == (40, 2)


def test_weight_trajectories_are_the_weights_the_decision_reads(fitted):
    clf = fitted["warp"]
    lengths = np.full(len(X_TEST), T)
    lengths[0] = 5
    theta = clf.weight_trajectories(X_TEST, lengths=lengths)
    D = clf.model_.weight_size
    assert theta.shape == (40, T, D)
    assert np.isnan(theta[0, 5:]).all() and np.isfinite(theta[0, :5]).all() and np.isfinite(theta[1:]).all()
    assert np.abs(theta[1, -1] - theta[1, 0]).max() > 1e-3  # the weights move along the sequence
    with pytest.raises(InputError, match="model='warp'"):
        fitted["gru"].weight_trajectories(X_TEST)


def test_get_and_set_params():
    clf = SequenceClassifier("lstm", width=8, rank=3)
    params = clf.get_params()
    assert params["model"] == "lstm" and params["width"] == 8 and params["rank"] == 3
    assert clf.set_params(epochs=7, heads=2) is clf and clf.epochs == 7 and clf.get_params()["heads"] == 2


def test_lr_patience_reaches_the_plateau_schedule():
    """lr_patience=None keeps the learning rate; lr_patience=1 is torch's ReduceLROnPlateau on the
    validation cross-entropy (relative threshold 1e-4): the rate halves when two epochs in a row
    bring no better score."""
    opts = {**FAST, "epochs": 15}
    noise = np.random.default_rng(0).integers(0, 2, 40)  # labels without a pattern: validation stalls
    kept = SequenceClassifier("gru", lr_patience=None, **opts).fit(X_TRAIN[:40], noise)
    assert set(kept.history_.lr) == {FAST["lr"]}
    h = SequenceClassifier("gru", lr_patience=1, **opts).fit(X_TRAIN[:40], noise).history_
    lr, best, bad = FAST["lr"], float("inf"), 0
    for e, score in enumerate(h.val_loss):
        assert h.lr[e] == pytest.approx(lr)
        if score < best * (1 - 1e-4):
            best, bad = score, 0
        else:
            bad += 1
            if bad > 1:
                lr, bad = lr * 0.5, 0
    assert min(h.lr) < FAST["lr"]  # the schedule did act in these 15 epochs


def _no_training(*args, **kwargs):
    raise AssertionError("training started before the inputs were checked")


@pytest.mark.parametrize("call, words", [
    (lambda: SequenceClassifier().fit(X_TRAIN, Y_TRAIN[:-1]), "one label per sequence"),
    (lambda: SequenceClassifier().fit(X_TRAIN, np.zeros(128, int)), "at least two"),
    (lambda: SequenceClassifier().fit(X_TRAIN, Y_TRAIN, lengths=np.full(128, T + 1)), r"outside \[1, 16\]"),
    (lambda: SequenceClassifier().fit(X_TRAIN, Y_TRAIN, lengths=np.zeros(128, int)), r"outside \[1, 16\]"),
    (lambda: SequenceClassifier().fit(np.where(np.arange(T)[None, :, None] == 4, np.nan, X_TRAIN), Y_TRAIN),
     "NaN/inf.*step 4"),
    (lambda: SequenceClassifier("rnn").fit(X_TRAIN, Y_TRAIN), "unknown model 'rnn'.*gru"),
    (lambda: SequenceClassifier("gru", readout="root").fit(X_TRAIN, Y_TRAIN), "leave readout='auto'"),
    (lambda: SequenceClassifier(widht=3).fit(X_TRAIN, Y_TRAIN), "unknown option.*widht.*width"),
    (lambda: SequenceClassifier(val_fraction=1.0).fit(X_TRAIN, Y_TRAIN), r"val_fraction.*\[0, 1\)"),
    (lambda: SequenceClassifier().fit(X_TRAIN, Y_TRAIN, X_val=X_TEST, y_val=np.full(40, 5)), "labels.*y does not"),
    (lambda: SequenceClassifier().predict(X_TEST), "not fitted.*call fit"),
    (lambda: SequenceClassifier(lr_patience=0).fit(X_TRAIN, Y_TRAIN), "lr_patience"),
])
def test_bad_inputs_are_refused_before_training(monkeypatch, call, words):
    monkeypatch.setattr(Trainer, "fit", _no_training)
    with pytest.raises(InputError, match=words):
        call()


def test_wrong_number_of_channels_at_predict(fitted):
    with pytest.raises(InputError, match="3 channels.*fitted on 2"):
        fitted["warp"].predict(np.zeros((2, T, 3)))


def test_trainer_cross_entropy_refuses_feedback_and_bad_labels():
    with pytest.raises(InputError, match="teacher-forced.*p_force=1"):
        Trainer(loss="cross_entropy", p_force=0.5)
    with pytest.raises(InputError, match="teacher-forced"):
        Trainer(loss="cross_entropy", p_force_schedule="linear", epochs=4)
    with pytest.raises(InputError, match="teacher-forced"):
        Trainer(loss="cross_entropy", forecast_weight=1.0, forecast_context=4)
    module = WARPClassifierModule(2, 2, width=4, depth=1)
    x = torch.zeros(6, T, 3)
    x[..., -1] = 1.0
    tau = torch.linspace(0, 1, T)
    trainer = Trainer(loss="cross_entropy", epochs=1, progress=False, device="cpu")
    for y, words in ((torch.zeros(6, T, 3), r"must be \(6,\)"), (torch.zeros(5, dtype=torch.int64), r"\(6,\)"),
                     (torch.zeros(6), "integers"), (torch.full((6,), 2), "< 2"), (None, "needs class labels")):
        with pytest.raises(InputError, match=words):
            trainer.fit(module, x, tau, y_train=y)
    with pytest.raises(InputError, match="loss='cross_entropy'"):
        Trainer(epochs=1, progress=False).fit(module, x, tau, x, y_train=torch.zeros(6, dtype=torch.int64),
                                              y_val=torch.zeros(6, dtype=torch.int64))


def test_trainer_cross_entropy_scores_the_validation_cross_entropy():
    module = WARPClassifierModule(2, 3, width=4, depth=1)
    x = torch.randn(10, T, 3, generator=torch.Generator().manual_seed(0))
    x[..., -1] = 1.0
    tau = torch.linspace(0, 1, T)
    y = torch.arange(10) % 3
    trainer = Trainer(loss="cross_entropy", epochs=2, progress=False, device="cpu")
    history = trainer.fit(module, x, tau, x, y_train=y, y_val=y)
    with torch.no_grad():
        expected = float(torch.nn.functional.cross_entropy(module(x, tau), y))
    assert trainer.evaluate(module, x, tau, y) == pytest.approx(expected, rel=1e-6)
    assert history.best_score == pytest.approx(expected, rel=1e-6)  # the selected epoch's validation score
    assert len(history.val_accuracy) == 2 and all(0 <= a <= 1 for a in history.val_accuracy)


def test_checkpoint_resume_gives_the_uninterrupted_result(tmp_path):
    path = tmp_path / "clf.pt"
    whole = fit("warp", epochs=6, patience=100)
    fit("warp", epochs=3, patience=100, checkpoint_path=path)
    resumed = fit("warp", epochs=6, patience=100, checkpoint_path=path)
    assert resumed.history_.epochs_run == 6
    np.testing.assert_array_equal(resumed.predict_proba(X_TEST), whole.predict_proba(X_TEST))
    assert resumed.history_.val_loss == whole.history_.val_loss


def test_warp_energy_features_are_causal_running_means():
    """WARP reads the values and, per channel, the running means of x^2 and of the squared
    increments (``energy=True``, the default); ``energy=False, area=False`` reads the values only."""
    module = WARPClassifierModule(2, 3, width=8, depth=1, area=False)
    x = torch.randn(4, 10, 2)
    f = module.features(x)
    assert f.shape == (4, 10, 6) and module.transition.d == 6
    torch.testing.assert_close(f[..., :2], x)
    torch.testing.assert_close(f[:, 5, 2:4], (x[:, :6] ** 2).mean(dim=1))
    torch.testing.assert_close(f[:, 5, 4:], ((x[:, 1:6] - x[:, :5]) ** 2).mean(dim=1))
    assert (f[:, 0, 4:] == 0).all()
    y = x.clone()
    y[:, 7:] = 100.0  # later steps change nothing before them
    torch.testing.assert_close(module.features(y)[:, :7], f[:, :7])
    plain = WARPClassifierModule(2, 3, width=8, depth=1, energy=False, area=False)
    assert plain.transition.d == 2 and plain.features(x) is x
    assert WARPClassifierModule(2, 3, width=8, depth=1).transition.d == 2 * 3 + 1  # the defaults: energy and area
    clf = SequenceClassifier("warp", energy=False, **{**FAST, **SIZES["warp"], "epochs": 1}).fit(X_TRAIN, Y_TRAIN)
    assert clf.model_.config["energy"] is False and clf.model_.config["area"] is True


def test_warp_area_features_are_the_running_signed_area():
    """``area=True`` adds, per channel pair i < j, the running mean of the signed area swept per
    step (x_{t-1,i} dx_{t,j} - x_{t-1,j} dx_{t,i}) / 2: positive for an anticlockwise circle,
    its negative for the clockwise one (about pi r^2 / (T - 1) per step over one turn), causal."""
    module = WARPClassifierModule(3, 2, width=8, depth=1, energy=False, area=True)
    assert module.transition.d == 3 + 3
    x = torch.randn(4, 10, 3)
    f = module.features(x)
    assert f.shape == (4, 10, 6)
    torch.testing.assert_close(f[..., :3], x)
    dx = x[:, 1:6] - x[:, :5]
    expected_02 = 0.5 * (x[:, :5, 0] * dx[..., 2] - x[:, :5, 2] * dx[..., 0]).mean(dim=1)
    torch.testing.assert_close(f[:, 5, 4], expected_02)  # pairs in order (0, 1), (0, 2), (1, 2)
    y = x.clone()
    y[:, 7:] = 100.0
    torch.testing.assert_close(module.features(y)[:, :7], f[:, :7])
    t = torch.linspace(0.0, 2 * np.pi, 201)
    circle = torch.stack([t.cos(), t.sin()], -1)[None]
    two = WARPClassifierModule(2, 2, width=8, depth=1, energy=True, area=True)
    anti, clock = two.features(circle)[0, -1, -1], two.features(circle.flip(-1))[0, -1, -1]
    assert abs(float(anti) - np.pi / 200) < 1e-3 * np.pi / 200
    torch.testing.assert_close(clock, -anti)
    assert WARPClassifierModule(1, 2, width=8, depth=1, area=True).transition.d == 3  # no pair: no area
