"""A fitted `SequenceClassifier` saved with `save_classifier` loads with `load_classifier` and
predicts bit-identically (every model, string labels, ragged input); damaged or foreign files and
unfitted classifiers are refused with the fix."""
from __future__ import annotations

import numpy as np
import pytest

from warp_phys.atomic import CorruptFileError
from warp_phys.classification import SequenceClassifier
from warp_phys.classification.persistence import load_classifier, save_classifier
from warp_phys.validation import InputError


def _spirals(n: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """n ragged noisy spirals (lengths 10..16, 2 channels) labelled "cw"/"ccw"."""
    rng = np.random.default_rng(seed)
    labels = np.where(np.arange(n) % 2 == 1, "ccw", "cw")
    seqs = []
    for lab in labels:
        t = np.arange(rng.integers(10, 17))
        w = rng.uniform(0.25, 0.45) * (1 if lab == "ccw" else -1)
        phi = rng.uniform(0, 2 * np.pi)
        seqs.append(np.stack([np.cos(phi + w * t), np.sin(phi + w * t)], -1) + 0.05 * rng.standard_normal((len(t), 2)))
    return seqs, labels


X, Y = _spirals(48, 0)
X_NEW, _ = _spirals(12, 1)


@pytest.mark.parametrize("model", ["warp", "gru", "transformer"])
def test_saved_classifier_predicts_bit_identically(tmp_path, model):
    clf = SequenceClassifier(model, width=12, depth=1, epochs=3, lr=1e-2, device="cpu", seed=4).fit(X, Y)
    save_classifier(clf, tmp_path / "clf.pt")
    back = load_classifier(tmp_path / "clf.pt", device="cpu")
    np.testing.assert_array_equal(back.predict_proba(X_NEW), clf.predict_proba(X_NEW))
    assert list(back.predict(X_NEW)) == list(clf.predict(X_NEW)) and set(back.classes_) == {"ccw", "cw"}
    assert back.get_params() == {**clf.get_params(), "device": "cpu", "checkpoint_path": None, "progress": False}
    assert back.history_.best_epoch == clf.history_.best_epoch and back.readout_ == clf.readout_
    if model == "warp":
        np.testing.assert_array_equal(back.weight_trajectories(X_NEW), clf.weight_trajectories(X_NEW))


def test_unstandardised_and_refusals(tmp_path):
    clf = SequenceClassifier("gru", width=8, epochs=1, standardize=False, device="cpu").fit(X, Y)
    save_classifier(clf, tmp_path / "a.pt")
    assert load_classifier(tmp_path / "a.pt").scaler_ is None
    with pytest.raises(InputError, match="fitted"):
        save_classifier(SequenceClassifier("gru"), tmp_path / "b.pt")
    with pytest.raises(FileExistsError):
        save_classifier(clf, tmp_path / "a.pt", overwrite=False)
    data = bytearray((tmp_path / "a.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    (tmp_path / "c.pt").write_bytes(bytes(data))
    with pytest.raises(CorruptFileError):
        load_classifier(tmp_path / "c.pt")
    from warp_phys.checkpoint import atomic_save

    atomic_save({"format": "something else"}, tmp_path / "d.pt")
    with pytest.raises(InputError, match="not a SequenceClassifier file"):
        load_classifier(tmp_path / "d.pt")


def test_a_format_1_warp_file_loads_without_the_area_channels(tmp_path):
    """Files written before the signed-area channels became WARP's default (format /1, no "area"
    setting) rebuild the module they were trained with (area=False) and predict bit-identically."""
    from warp_phys.checkpoint import atomic_save, load_verified
    from warp_phys.classification.persistence import FORMAT_V1

    clf = SequenceClassifier("warp", width=12, depth=1, epochs=2, device="cpu", seed=1, area=False).fit(X, Y)
    save_classifier(clf, tmp_path / "new.pt")
    payload = load_verified(tmp_path / "new.pt")
    payload["format"] = FORMAT_V1
    del payload["params"]["area"]
    atomic_save(payload, tmp_path / "old.pt")
    back = load_classifier(tmp_path / "old.pt", device="cpu")
    assert back.model_.config["area"] is False and back.model_.transition.d == 3 * 2
    np.testing.assert_array_equal(back.predict_proba(X_NEW), clf.predict_proba(X_NEW))


def test_a_saved_seed_ensemble_predicts_bit_identically(tmp_path):
    from warp_phys.classification import SeedEnsembleClassifier

    base = SequenceClassifier("warp", width=12, depth=1, epochs=3, lr=1e-2, device="cpu", seed=4, max_time=60.0)
    ens = SeedEnsembleClassifier(base, members=2).fit(X, Y)
    save_classifier(ens, tmp_path / "ens.pt")
    back = load_classifier(tmp_path / "ens.pt", device="cpu")
    assert isinstance(back, SeedEnsembleClassifier) and back.members == 2 and back.share_time
    np.testing.assert_array_equal(back.predict_proba(X_NEW), ens.predict_proba(X_NEW))
    assert [m.seed for m in back.members_] == [4, 5] and [m.max_time for m in back.members_] == [30.0, 30.0]
    assert (back.val_loss_, back.val_accuracy_) == (ens.val_loss_, ens.val_accuracy_)
    assert back.base.get_params() == {**base.get_params(), "device": "cpu"}
    with pytest.raises(InputError, match="fitted SeedEnsembleClassifier"):
        save_classifier(SeedEnsembleClassifier(base, members=2), tmp_path / "unfitted.pt")
