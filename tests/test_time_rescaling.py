"""Time rescaling as a symmetry of the mass-spring-damper and Lotka-Volterra families
(`warp_phys.systems.symmetries`) and as a training augmentation (``time_rescale``)."""
import numpy as np
import pytest
import torch

import warp_phys
from warp_phys import systems
from warp_phys.pipeline import StateEncoder
from warp_phys.systems.symmetries import time_rescale

T_SPAN, N_STEPS = (0.0, 1.0), 256


def _simulate(system, params, ic):
    ds = system.simulate(len(ic), T_SPAN, N_STEPS, params=params, ic=torch.as_tensor(ic, dtype=torch.float64),
                         seed=0, device="cpu")
    return ds["state"].transpose("trajectory", "time", "variable").values, ds["time"].values


def _spline_error(x, t):
    """The cubic spline's own interpolation error on this grid, estimated from the data: a
    spline through every other sample, evaluated at the samples left out, errs 2^4 = 16 times
    more than one through all of them (the error scales as h^4)."""
    from scipy.interpolate import CubicSpline

    coarse = CubicSpline(t[::2], x[:, ::2], axis=1)(t[1::2])
    return np.abs(coarse - x[:, 1::2]).max() / 16


def test_factor_one_is_the_identity():
    x = np.random.default_rng(0).normal(size=(3, 20, 2))
    t = np.linspace(0.0, 1.0, 20)
    np.testing.assert_allclose(time_rescale(x, t, np.ones(3), (0, 1)), x, rtol=0, atol=1e-12)


@pytest.mark.parametrize("a", [0.6, 0.85])
def test_rescaled_msd_trajectory_is_the_msd_with_rescaled_parameters(a):
    """x(a t) with (m, c, k) solves (m / a^2, c / a, k) from (x0, a v0): the interpolated copy
    must match that simulation to the cubic spline's accuracy (h^4 x'''' ~ 1e-6 here)."""
    msd = systems.get("mass_spring_damper")
    m, c, k = np.array([0.02, 0.04]), np.array([0.05, 0.2]), np.array([6.0, 15.0])
    ic = np.array([[1.0, 0.0], [0.7, -0.4]])
    x, t = _simulate(msd, {"m": m, "c": c, "k": k}, ic)
    want, _ = _simulate(msd, {"m": m / a**2, "c": c / a, "k": k}, ic * np.array([1.0, a]))
    got = time_rescale(x, t, np.full(2, a), msd.time_rescaling)
    assert np.abs(got - want).max() < 4 * _spline_error(x, t) + 1e-6
    # and it is not the trivial answer: the copy differs from the original by O(1)
    assert np.abs(got - x).max() > 0.1 * np.abs(x).max()


def test_rescaled_lv_trajectory_is_the_lv_with_all_rates_times_a():
    lv = systems.get("lotka_volterra")
    a = 0.7
    rates = {"a": np.array([30.0]), "b": np.array([100.0]), "c": np.array([90.0]), "d": np.array([40.0])}
    x, t = _simulate(lv, rates, np.array([[1.0, 1.0]]))
    want, _ = _simulate(lv, {k: v * a for k, v in rates.items()}, np.array([[1.0, 1.0]]))
    got = time_rescale(x, t, np.array([a]), lv.time_rescaling)
    assert np.abs(got - want).max() < 4 * _spline_error(x, t) + 1e-6
    assert np.abs(got - x).max() > 0.1 * np.abs(x).max()


def test_encoder_appends_seeded_copies_and_keeps_the_originals():
    msd = systems.get("mass_spring_damper")
    ds = msd.simulate(4, T_SPAN, 64, params="train", seed=1, device="cpu")
    enc = StateEncoder(time_rescale=(0.6, 1.0), copies=2, powers=msd.time_rescaling, seed=5)
    out = enc.augment(ds)
    x = ds["state"].transpose("trajectory", "time", "variable").values
    assert out.sizes["trajectory"] == 12
    np.testing.assert_array_equal(out["state"].values[:4], x)
    again = StateEncoder(time_rescale=(0.6, 1.0), copies=2, powers=msd.time_rescaling, seed=5).augment(ds)
    np.testing.assert_array_equal(out["state"].values, again["state"].values)
    assert StateEncoder().augment(ds) is ds  # off by default


@pytest.mark.parametrize("bad", [(0.5, 1.5), (0.0, 0.5), (0.9, 0.8), "fast"])
def test_bad_ranges_are_refused(bad):
    with pytest.raises(ValueError, match="time_rescale"):
        StateEncoder(time_rescale=bad, powers=(0, 1))


def test_reconstruct_refuses_rescaling_without_a_symmetry_before_simulating(monkeypatch):
    from warp_phys.pipeline import jobs

    monkeypatch.setattr(jobs, "simulate_system", lambda *a, **k: pytest.fail("simulated before the check"))
    with pytest.raises(ValueError, match="closed under time rescaling"):
        warp_phys.reconstruct(system="lorenz", time_rescale=(0.8, 1.0), epochs=1, progress=False)
    with pytest.raises(ValueError, match="closed under time rescaling"):
        warp_phys.reconstruct(data=np.zeros((6, 10, 1)) + np.arange(10)[None, :, None], time=np.arange(10.0),
                              time_rescale=(0.8, 1.0), epochs=1, progress=False)


def test_reconstruct_trains_on_the_augmented_split():
    """The augmentation reaches the trainer: with copies the training set is (1 + copies) x n_train
    trajectories (persistence does not train, so compare the encoded sizes through the encoder)."""
    from warp_phys.pipeline import system_job

    job = system_job(systems.get("mass_spring_damper"), model="gru", prior=None, prior_options=None,
                     protocol="paper", seed=0, options=dict(n_train=6, n_val=2, n_test=2, time_rescale=(0.7, 1.0),
                                                            time_rescale_copies=3, epochs=1))
    assert job.encoder.augment(job.splits.train).sizes["trajectory"] == 24
