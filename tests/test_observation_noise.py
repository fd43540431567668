"""Noisy observations of simulated data: `warp_phys.systems.observe` and the pipeline's
``observation_noise`` option (noisy training/validation data and test contexts, clean scored future)."""
import json

import numpy as np
import pytest

import warp_phys
from warp_phys import systems
from warp_phys.cli import main
from warp_phys.io import open_trajectories
from warp_phys.pipeline import plan_system, simulate_system
from warp_phys.validation import InputError


@pytest.fixture(scope="module")
def clean():
    return systems.get("lorenz").simulate(64, (0.0, 2.0), 101, params="train", seed=0)


def test_noise_has_the_asked_std_per_variable_and_no_bias(clean):
    level = 0.05
    noisy = systems.observe(clean, level, seed=1)
    eps = (noisy["state"] - clean["state"]).transpose("trajectory", "time", "variable").values.reshape(-1, 3)
    n = eps.shape[0]  # 6464 samples per variable
    ref = level * systems.observation_scale(clean)
    # the sample std of n Gaussian draws has a relative standard error of 1/sqrt(2n) ~ 0.9 %
    np.testing.assert_allclose(eps.std(axis=0), ref, rtol=5 / np.sqrt(2 * n))
    assert np.all(np.abs(eps.mean(axis=0)) < 5 * ref / np.sqrt(n))
    corr = np.corrcoef(eps.T)[np.triu_indices(3, 1)]  # independent across variables
    assert np.all(np.abs(corr) < 5 / np.sqrt(n))
    assert noisy.attrs["observation_noise"] == level
    np.testing.assert_allclose(noisy.attrs["observation_noise_std"], ref, rtol=1e-12)
    assert noisy.attrs["observation_noise_steps"] == 101


def test_only_the_first_steps_are_noisy_and_the_seed_decides(clean):
    scale = np.array([1.0, 2.0, 3.0])
    before = clean["state"].values.copy()
    noisy = systems.observe(clean, 0.1, seed=7, scale=scale, steps=30)
    diff = (noisy["state"] - clean["state"]).transpose("trajectory", "time", "variable").values
    assert np.all(diff[:, 30:] == 0.0) and np.all(diff[:, :30] != 0.0)
    np.testing.assert_allclose(diff[:, :30].reshape(-1, 3).std(axis=0), 0.1 * scale, rtol=5 / np.sqrt(2 * 64 * 30))
    again = systems.observe(clean, 0.1, seed=7, scale=scale, steps=30)
    other = systems.observe(clean, 0.1, seed=8, scale=scale, steps=30)
    assert np.array_equal(again["state"].values, noisy["state"].values)
    assert not np.array_equal(other["state"].values, noisy["state"].values)
    assert np.array_equal(clean["state"].values, before)  # the input is not modified
    assert noisy["state"].dims == clean["state"].dims and noisy.attrs["observation_noise_steps"] == 30


def test_zero_noise_is_the_data_and_bad_inputs_are_refused(clean):
    assert systems.observe(clean, 0.0, seed=0) is clean
    for kwargs, message in [(dict(noise=-0.1), "noise"), (dict(noise=0.1, scale=[1.0, 2.0]), "scale must be 3"),
                            (dict(noise=0.1, scale=[1.0, np.nan, 1.0]), "scale must be"),
                            (dict(noise=0.1, steps=102), "more than the 101"), (dict(noise=True), "noise")]:
        with pytest.raises(InputError, match=message):
            systems.observe(clean, seed=0, **kwargs)
    with pytest.raises(InputError, match="state"):
        systems.observe(clean.rename(state="x"), 0.1, seed=0)


def _splits(noise: float, seed: int = 3):
    system = systems.get("mass_spring_damper")
    recipe, proto, _ = plan_system(system, model="persistence", prior=None, protocol="paper", seed=seed,
                                   options=dict(n_train=32, n_val=8, n_test=16, observation_noise=noise))
    return simulate_system(system, recipe, proto, seed), int(proto.n_ctx)


def test_the_pipeline_noises_train_val_and_test_contexts_only():
    clean, ctx = _splits(0.0)
    noisy, ctx_noisy = _splits(0.02)
    assert ctx == ctx_noisy == 100
    scale = systems.observation_scale(clean.train)  # every split's noise refers to the clean training std
    for a, b in ((clean.train, noisy.train), (clean.val, noisy.val)):
        diff = (b["state"] - a["state"]).values.reshape(-1, 2)
        np.testing.assert_allclose(diff.std(axis=0), 0.02 * scale, rtol=5 / np.sqrt(2 * diff.shape[0]))
    assert set(noisy.tests) == set(clean.tests) == {"val", "test", "test_id"}
    assert noisy.tests["val"] is noisy.val  # the validation split is scored as it was trained on: noisy throughout
    for name in ("test", "test_id"):
        a = clean.tests[name]["state"].transpose("trajectory", "time", "variable").values
        b = noisy.tests[name]["state"].transpose("trajectory", "time", "variable").values
        assert np.array_equal(a[:, ctx:], b[:, ctx:])  # the scored future is the true state
        assert np.all(a[:, :ctx] != b[:, :ctx])
        assert "observed with noise" in noisy.tests[name].attrs["split_description"]
    # the noise of different splits is independent (different seeds)
    d_train = (noisy.train["state"] - clean.train["state"]).values[:16, :ctx]
    d_test = (noisy.tests["test"]["state"] - clean.tests["test"]["state"]).values[:, :ctx]
    assert not np.allclose(d_train, d_test)


def test_user_data_refuse_observation_noise():
    x = np.random.default_rng(0).normal(size=(20, 50, 2))
    with pytest.raises(InputError, match="observation_noise"):
        warp_phys.reconstruct(data=x, time=np.arange(50.0), observation_noise=0.1, model="persistence",
                              progress=False)
    with pytest.raises(InputError, match="observation_noise"):
        warp_phys.reconstruct(system="msd", observation_noise=-1.0, model="persistence", progress=False)
    with pytest.raises(InputError, match="observation_noise applies to ODE systems"):
        warp_phys.reconstruct(system="burgers", observation_noise=0.01, model="persistence", progress=False)


def test_cli_observation_noise_reaches_the_data(tmp_path):
    paths = {level: tmp_path / f"msd_{level}.nc" for level in ("0", "0.05")}
    for level, path in paths.items():
        extra = [] if level == "0" else ["--observation-noise", level]
        rc = main(["reconstruct", "msd", "-o", str(path), "--model", "persistence", "--n-train", "8",
                   "--context", "100", "--device", "cpu", "--quiet", *extra])
        assert rc == 0
    clean, noisy = (open_trajectories(p) for p in paths.values())
    assert json.loads(noisy.attrs["recipe"])["observation_noise"] == 0.05
    a = clean["state"].transpose("trajectory", "time", "variable").values
    b = noisy["state"].transpose("trajectory", "time", "variable").values
    assert np.array_equal(a[:, 100:], b[:, 100:]) and not np.array_equal(a[:, :100], b[:, :100])
