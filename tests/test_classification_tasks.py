"""The classification tasks the package generates (spirals, system_regimes, lorenz_regimes) and
the loader of the UCR/UEA sets bundled with sktime."""
from __future__ import annotations

import numpy as np
import pytest

from warp_phys.classification.datasets import available_ucr, load_ucr
from warp_phys.classification.tasks import (CHAOTIC, PERIODIC, lorenz_chaos_labels, lorenz_regimes, spirals,
                                            system_regimes)
from warp_phys.validation import InputError


def _same(a, b):
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.time, b.time)


# ---------------------------------------------------------------------------- spirals
def test_spirals_shapes_balance_and_seed():
    d = spirals(41, n_steps=50, seed=3)
    assert d.X.shape == (41, 50, 2) and d.X.dtype == np.float32 and d.y.shape == (41,)
    assert d.time.shape == (50,) and d.classes == ("anticlockwise", "clockwise")
    assert sorted(d.counts().values()) == [20, 21]
    _same(d, spirals(41, n_steps=50, seed=3))
    assert not np.array_equal(d.X, spirals(41, n_steps=50, seed=4).X)
    X, y = d   # unpacks as (X, y)
    assert X is d.X and y is d.y


def test_spirals_handedness_is_the_label():
    d = spirals(200, seed=0)
    x, y = d.X[..., 0].astype(np.float64), d.X[..., 1].astype(np.float64)
    cross = np.mean(x[:, :-1] * np.diff(y, axis=1) - y[:, :-1] * np.diff(x, axis=1), axis=1)
    assert np.all(np.where(cross > 0, "anticlockwise", "clockwise") == d.y)
    # without noise the sign is the label for every sample; swapping x and y flips it
    clean = spirals(50, noise=0.0, seed=1)
    cx = np.mean(clean.X[:, :-1, 1] * np.diff(clean.X[..., 0], axis=1)
                 - clean.X[:, :-1, 0] * np.diff(clean.X[..., 1], axis=1), axis=1)
    assert np.all(np.where(cx > 0, "anticlockwise", "clockwise") != clean.y)


# ---------------------------------------------------------------------------- system_regimes
def test_system_regimes_zscored_balanced_reproducible():
    names = ["pendulum", "van_der_pol", "lorenz63"]
    d = system_regimes(6, systems=names, window=32, cycles=3.0, seed=1)
    assert d.X.shape == (18, 32, 2) and d.X.dtype == np.float32
    assert d.counts() == {"lorenz63": 6, "pendulum": 6, "van_der_pol": 6}
    np.testing.assert_allclose(d.X.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(d.X.std(axis=1), 1.0, atol=1e-4)
    _same(d, system_regimes(6, systems=names, window=32, cycles=3.0, seed=1))
    assert not np.array_equal(d.X, system_regimes(6, systems=names, window=32, cycles=3.0, seed=2).X)
    assert d.time[0] == 0.0 and d.time[-1] == pytest.approx(3.0)
    # the parameters were drawn from each system's own training range
    from warp_phys.systems import get
    lo, hi = get("pendulum").parameter_ranges("train")["L"]
    assert np.all((d.info["params"]["pendulum"][:, 1] >= lo) & (d.info["params"]["pendulum"][:, 1] <= hi))


def test_system_regimes_default_systems_and_refusals():
    d = system_regimes(2, window=16, seed=0)
    assert len(d.classes) == 7 and len(d) == 14 and "lorenz96" not in d.classes
    for bad in (["sine", "pendulum"], ["lorenz96", "pendulum"], ["pendulum"], ["nope", "pendulum"],
                ["pendulum", "pendulum"], "pendulum", ["burgers_1d", "pendulum"]):
        with pytest.raises(InputError):
            system_regimes(2, systems=bad)
    with pytest.raises(InputError):
        system_regimes(0)
    with pytest.raises(InputError):
        system_regimes(2, noise=-0.1)


# ---------------------------------------------------------------------------- lorenz_regimes
def test_lorenz_labels_agree_with_the_lyapunov_sign():
    from warp_phys.lyapunov import largest_exponent
    from warp_phys.systems import get

    lam, labels = lorenz_chaos_labels([28.0, 160.0])
    assert labels.tolist() == [CHAOTIC, PERIODIC]
    assert 0.7 < lam[0] < 1.1 and abs(lam[1]) < 0.1
    # the package's other estimator (two-trajectory) gives the same signs
    for rho, chaotic in ((28.0, True), (160.0, False)):
        est = largest_exponent(get("lorenz63", rho=rho), n_starts=2, horizon=20.0, transient=10.0)
        assert (est.mean > 0.15) == chaotic, (rho, est)


def test_lorenz_regimes_labels_follow_the_grid():
    d = lorenz_regimes(24, rho_range=(150.0, 190.0), n_rho=3, window=40, seed=0)
    assert d.X.shape == (24, 40, 3) and d.classes == (CHAOTIC, PERIODIC)
    grid = d.info["rho_grid"]
    assert grid.tolist() == [150.0, 170.0, 190.0]
    assert d.info["grid_labels"].tolist() == [PERIODIC, CHAOTIC, CHAOTIC]
    for rho, label in zip(d.info["rho"], d.y):
        assert label == d.info["grid_labels"][np.flatnonzero(grid == rho)[0]]
    assert sum(d.info["balance"].values()) == 24
    np.testing.assert_allclose(d.X.std(axis=1), 1.0, atol=1e-4)
    with pytest.raises(InputError):
        lorenz_regimes(10, rho_range=(50.0, 10.0))
    with pytest.raises(InputError):
        lorenz_regimes(10, variables=("w",))


# ---------------------------------------------------------------------------- UCR/UEA sets
def test_load_ucr_italy_power_demand():
    pytest.importorskip("sktime")
    X, y = load_ucr("ItalyPowerDemand", split="train")
    Xt, yt = load_ucr("italy_power_demand", split="test")
    assert X.shape == (67, 24, 1) and Xt.shape == (1029, 24, 1) and y.shape == (67,)
    assert sorted(set(y)) == sorted(set(yt)) and len(set(y)) == 2
    assert np.isfinite(X).all()


def test_load_ucr_variable_length_and_multivariate():
    pytest.importorskip("sktime")
    X, y = load_ucr("JapaneseVowels")
    assert isinstance(X, list) and len(X) == len(y) == 270
    lengths = {x.shape[0] for x in X}
    assert len(lengths) > 1 and all(x.shape[1] == 12 for x in X)
    Xb, _ = load_ucr("BasicMotions", split="test")
    assert Xb.shape == (40, 100, 6)


def test_load_ucr_long_sets_match_their_declared_sizes():
    pytest.importorskip("sktime")
    X, y = load_ucr("ACSF1", split="test")
    assert X.shape == (100, 1460, 1) and len(set(y)) == 10 and np.isfinite(X).all()
    P, yp = load_ucr("PLAID")
    lengths = [p.shape[0] for p in P]
    assert len(P) == 537 and len(set(yp)) == 11 and min(lengths) == 100 and max(lengths) == 1344


def test_load_ucr_errors():
    with pytest.raises(InputError, match="ItalyPowerDemand"):
        load_ucr("NoSuchSet")
    with pytest.raises(InputError, match="split"):
        load_ucr("GunPoint", split="validation")
    assert "GunPoint" in available_ucr()
