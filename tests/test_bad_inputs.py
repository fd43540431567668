"""A catalogue of bad inputs at the public entry points (``warp_phys.reconstruct`` and the
``warp-phys`` CLI): each fails fast with the right exception type and a message naming the
argument, the value and the fix, before anything is simulated or trained. Plus a property
test: tiny valid user data give finite metrics or an InputError, never NaN or another error."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
import time as _time

import numpy as np
import pytest
import torch
import xarray as xr
from hypothesis import example, given, settings
from hypothesis import strategies as st

import warp_phys
from warp_phys import data as D
from warp_phys.cli import main
from warp_phys.device import resolve_device
from warp_phys.pipeline import sources
from warp_phys.validation import InputError, check_time_grid

FAST_S = 5.0  # every bad input is caught within this many seconds

RNG = np.random.default_rng(0)
T = np.linspace(0.0, 4.0, 32)
X = np.stack([np.stack([np.sin(w * T + p), np.cos(w * T + p)], -1) for w, p in RNG.uniform(1, 2, (10, 2))])
KW = dict(epochs=1, progress=False, device="cpu", context=8, width=8, depth=1)
SYS = dict(epochs=1, progress=False, device="cpu")


# `guarded` (tests/conftest.py): any simulation, windowing or training fails the test.

def rec(**kw):
    return lambda tmp: warp_phys.reconstruct(**kw)


def user(**kw):
    return lambda tmp: warp_phys.reconstruct(**{"data": X, "time": T, **KW, **kw})


def lorenz(**kw):
    return lambda tmp: warp_phys.reconstruct(**{"system": "lorenz", **SYS, **kw})


def _ds(**changes):
    ds = xr.Dataset({"state": (("trajectory", "time", "variable"), X)}, coords={"time": T})
    return ds.rename(changes) if changes else ds


NO_CUDA = not torch.cuda.is_available()

# id -> (call(tmp_path), exception type, words the message must contain)
API = {
    # seeds: every public function that takes one goes through check_seed
    "seed_negative": (user(seed=-1), InputError, ["seed", "-1", "non-negative"]),
    "seed_beyond_64_bits": (user(seed=2**64), InputError, ["seed", "18446744073709551616", "2**63"]),
    "seed_float": (user(seed=1.5), InputError, ["seed", "1.5"]),
    "seed_str": (user(seed="0"), InputError, ["seed", "'0'"]),
    "seed_bool": (user(seed=True), InputError, ["seed", "True"]),
    "seed_system": (lorenz(seed=-3), InputError, ["seed", "-3"]),
    "split_indices_seed": (lambda tmp: D.split_indices(10, seed=-1), InputError, ["seed", "-1"]),
    "derive_seed_seed": (lambda tmp: sources.derive_seed(2**70, 0), InputError, ["seed", "2**63"]),
    "user_splits_seed": (lambda tmp: sources.user_splits(X, T, -2), InputError, ["seed", "-2"]),
    # devices
    "device_banana": (user(device="banana"), InputError, ["banana", "cpu"]),
    "device_cuda_index": (user(device="cuda:99"), InputError, ["cuda:99", "cpu"]),
    "device_int": (user(device=3.5), InputError, ["device", "3.5"]),
    "device_direct": (lambda tmp: resolve_device("gpu0"), InputError, ["gpu0", "auto"]),
    # names and kinds of input
    "model_unknown": (user(model="nope"), ValueError, ["unknown model", "nope"]),
    "model_not_str": (user(model=3), InputError, ["model", "3"]),
    "prior_unknown_before_simulation": (lorenz(prior="nonsense"), InputError, ["nonsense", "grey_box"]),
    "prior_not_str": (lorenz(prior=5), InputError, ["prior", "5"]),
    "prior_options_without_prior": (user(prior=None, prior_options={"gain": 1.0}), InputError, ["prior_options", "prior="]),
    "both_system_and_data": (rec(system="lorenz", data=X, time=T), InputError, ["exactly one"]),
    "neither_system_nor_data": (rec(), InputError, ["exactly one"]),
    "system_not_a_system": (rec(system=123), InputError, ["system", "123"]),
    "system_with_time": (lorenz(time=T), InputError, ["time=", "t_span"]),
    "system_with_variables": (lorenz(variables=["a", "b", "c"]), ValueError, ["variables=", "names its own"]),
    "data_path_missing": (rec(data="traj.nc"), InputError, ["traj.nc", "no such file", "open_trajectories"]),
    "progress_not_bool": (user(progress="yes"), InputError, ["progress", "yes"]),
    # options that do nothing for user data
    "user_n_steps": (user(n_steps=10), InputError, ["n_steps", "own data"]),
    "user_n_train": (user(n_train=5), InputError, ["n_train", "drop them"]),
    "user_t_span": (user(t_span=(0, 1)), InputError, ["t_span"]),
    "user_protocol": (user(protocol="paper"), InputError, ["protocol"]),
    "user_parameters": (user(parameters="fixed"), InputError, ["parameters"]),
    "user_several_listed": (user(n_val=2, n_test=2), InputError, ["n_test", "n_val"]),
    "user_system_options": (user(system_options={"nu": 1}), InputError, ["system_options"]),
    # the data: types, shapes, values, float32 range
    "data_complex": (user(data=X * (1 + 1j)), InputError, ["complex", "imag"]),
    "data_2d": (user(data=X[0]), InputError, ["2-D", "[None]"]),
    "data_4d": (user(data=X[..., None]), InputError, ["3-D", "(trajectory, time, variable)"]),
    "data_nan": (user(data=np.where(np.arange(2) == 1, np.nan, X)), InputError, ["NaN", "interpolate"]),
    "data_inf": (user(data=X + np.inf), InputError, ["NaN/inf"]),
    "data_strings": (user(data=np.full((4, 32, 1), "a")), InputError, ["numeric"]),
    "data_empty": (user(data=X[:0]), InputError, ["empty axis"]),
    "data_two_trajectories": (user(data=X[:2]), InputError, ["at least 3"]),
    "data_ragged": (user(data=[X[0], X[1, :20]]), InputError, ["different lengths", "trim"]),
    "data_overflows_float32": (user(data=X * 1e39), InputError, ["'x0'", "float32", "divide"]),
    "data_near_float32_max": (user(data=X * 1e38), InputError, ["'x0'", "float32", "margin"]),
    "data_underflows_float32": (user(data=X * 1e-45), InputError, ["'x0'", "float32", "multiply"]),
    "data_variation_lost_in_offset": (user(data=1000 + X * 1e-9), InputError, ["'x0'", "resolve", "Subtract"]),
    "data_named_variable": (user(data=X * 1e39, variables=["p", "q"]), InputError, ["'p'", "float32"]),
    "variables_wrong_count": (user(variables=["a"]), InputError, ["2 distinct"]),
    "dataset_without_state": (user(data=_ds(state="u"), time=None), InputError, ["no 'state'", "rename", "'u'"]),
    "dataset_wrong_dims": (user(data=_ds(variable="var"), time=None), InputError, ["dims", "'var'"]),
    "dataset_and_time": (user(data=_ds()), InputError, ["time=", "own 'time'"]),
    "dataarray": (user(data=_ds()["state"], time=None), InputError, ["DataArray", "to_dataset"]),
    # time grids
    "time_missing": (user(time=None), InputError, ["time is required"]),
    "time_wrong_length": (user(time=T[:-1]), InputError, ["time has 31 values", "32"]),
    "time_2d": (user(time=T[None]), InputError, ["1-D"]),
    "time_not_increasing": (user(time=T[::-1]), InputError, ["strictly increasing", "index 1"]),
    "time_not_uniform": (user(time=T ** 1.5), InputError, ["not uniform", "resample"]),
    "time_nan": (user(time=np.where(T > 2, np.nan, T)), InputError, ["NaN"]),
    "time_complex": (user(time=T * (1 + 1j)), InputError, ["time is complex"]),
    "time_dates": (user(time=np.datetime64("2020-01-01") + np.arange(32) * np.timedelta64(1, "h")),
                   InputError, ["datetime64", "timedelta64"]),
    "time_strings": (user(time=np.array([str(v) + "s" for v in T])), InputError, ["numeric"]),
    "time_tiny_steps_big_offset": (user(time=1e6 + np.arange(32) * 1e-9), InputError,
                                   ["1e+06", "subtract the start time"]),
    "time_float32_underflow": (user(time=(np.arange(32) * 1e-45).astype(np.float32)), InputError,
                               ["float32", "smallest normal", "float64"]),
    "time_tiny_not_uniform": (user(time=np.arange(32) ** 1.5 * 1e-30), InputError, ["not uniform"]),
    # context, horizon, epochs and training settings (before any simulation)
    "context_zero": (user(context=0), InputError, ["context", ">= 1"]),
    "context_too_long": (user(context=32), InputError, ["context", "shorter than the trajectories"]),
    "context_float": (user(context=1.5), InputError, ["context", "1.5"]),
    "horizon_zero": (user(horizon=0), InputError, ["horizon", ">= 1"]),
    "horizon_past_the_end": (user(horizon=100), InputError, ["horizon", "horizon <= 24"]),
    "horizon_system": (lorenz(horizon=500), InputError, ["horizon", "horizon <= 301"]),
    "epochs_negative": (user(epochs=-1), InputError, ["epochs", "-1"]),
    "epochs_str": (lorenz(epochs="3"), InputError, ["epochs", "'3'"]),
    "batch_size_zero": (lorenz(batch_size=0), InputError, ["batch_size", ">= 1"]),
    "lr_negative": (lorenz(lr=-1.0), InputError, ["lr", "> 0"]),
    "lr_str": (user(lr="fast"), InputError, ["lr", "fast"]),
    "max_time_zero": (lorenz(max_time=0), InputError, ["max_time", "> 0"]),
    "forecast_weight_negative": (lorenz(forecast_weight=-1.0), InputError, ["forecast_weight", "-1"]),
    # impossible sizes fail before allocation, naming the size
    "n_train_impossible": (lorenz(n_train=10**12), InputError, ["n_train", "1000000000000"]),
    "n_steps_impossible": (lorenz(n_steps=10**11, context=10), InputError, ["n_steps", "100000000000"]),
    "field_grid_impossible": (rec(system="kolmogorov", grid=10**6, **SYS), InputError, ["grid", "1000000", "memory"]),
    "field_protocol_options": (rec(system="kolmogorov", n_train=4, **SYS), InputError, ["n_train", "FieldRecipe"]),
    "field_protocol": (rec(system="kolmogorov", protocol="paper", **SYS), InputError, ["protocol=", "FieldRecipe"]),
    "ode_system_options": (lorenz(system_options={"rho": 1}), InputError, ["system_options", "field systems"]),
    # output paths (checked before anything is simulated)
    "to_netcdf_missing_dir": (lambda tmp: warp_phys.reconstruct(system="lorenz", to_netcdf=tmp / "no" / "x.nc", **SYS),
                              InputError, ["to_netcdf", "does not exist", "mkdir"]),
    "to_netcdf_is_dir": (lambda tmp: warp_phys.reconstruct(system="lorenz", to_netcdf=tmp, **SYS),
                         InputError, ["is a directory", "out.nc"]),
    "to_netcdf_under_a_file": (lambda tmp: (tmp / "f").write_text("") or warp_phys.reconstruct(
        system="lorenz", to_netcdf=tmp / "f" / "x.nc", **SYS), InputError, ["not a directory"]),
    "to_netcdf_not_a_path": (user(to_netcdf=3), InputError, ["to_netcdf", "file path"]),
}
if NO_CUDA:
    API["device_cuda_without_cuda"] = (user(device="cuda"), InputError, ["cuda", "not available", "cpu"])


@pytest.mark.parametrize("case", sorted(API))
def test_api_bad_input(case, guarded, tmp_path):
    call, kind, words = API[case]
    start = _time.perf_counter()
    with pytest.raises(kind) as info:
        call(tmp_path)
    assert _time.perf_counter() - start < FAST_S, "the check must fire before any expensive work"
    message = str(info.value)
    for word in words:
        assert word in message, (case, word, message)


H5 = importlib.util.find_spec("h5netcdf") is not None

# id -> (argv with {tmp} for tmp_path, words stderr must contain)
CLI = {
    "reconstruct_missing_dir": ("reconstruct lorenz -o {tmp}/no/x.nc", ["--output", "does not exist"]),
    "reconstruct_out_is_dir": ("reconstruct lorenz -o {tmp}", ["is a directory"]),
    "reconstruct_plot_missing_dir": ("reconstruct lorenz -o {tmp}/x.nc --plot {tmp}/no/p.png", ["--plot", "does not exist"]),
    "reconstruct_seed_negative": ("reconstruct lorenz -o {tmp}/x.nc --seed -1", ["--seed", "-1"]),
    "reconstruct_seed_65_bits": ("reconstruct lorenz -o {tmp}/x.nc --seed 18446744073709551616", ["--seed", "2**63"]),
    "reconstruct_device_banana": ("reconstruct lorenz -o {tmp}/x.nc --device banana", ["banana", "cpu"]),
    "reconstruct_prior_unknown": ("reconstruct lorenz -o {tmp}/x.nc --prior nonsense", ["unknown prior", "nonsense"]),
    "reconstruct_model_unknown": ("reconstruct lorenz -o {tmp}/x.nc --model nope", ["unknown model 'nope'"]),
    "reconstruct_n_train_impossible": ("reconstruct lorenz -o {tmp}/x.nc --n-train 1000000000000", ["n_train", "1000000000000"]),
    "reconstruct_forecast_weight": ("reconstruct lorenz -o {tmp}/x.nc --forecast-weight -1", ["forecast_weight"]),
    "reconstruct_max_time_zero": ("reconstruct lorenz -o {tmp}/x.nc --max-time 0", ["max_time", "> 0"]),
    "reconstruct_batches_per_epoch_zero": ("reconstruct lorenz -o {tmp}/x.nc --batches-per-epoch 0",
                                           ["batches_per_epoch=0", ">= 1"]),
    "reconstruct_val_horizon_zero": ("reconstruct lorenz -o {tmp}/x.nc --val-horizon 0", ["val_horizon=0", ">= 1"]),
    "reconstruct_ar_lags_negative": ("reconstruct lorenz -o {tmp}/x.nc --ar-lags -1", ["ar_lags", ">= 0"]),
    "reconstruct_ar_lags_held_prior": ("reconstruct msd -o {tmp}/x.nc --ar-lags 2", ["ar_lags=2", "hold_after_context"]),
    "reconstruct_trajectory_negative": ("reconstruct lorenz -o {tmp}/x.nc --trajectory -1", ["--trajectory"]),
    "reconstruct_horizon_past_end": ("reconstruct lorenz -o {tmp}/x.nc --horizon 1000", ["horizon", "301"]),
    "reconstruct_context_zero": ("reconstruct lorenz -o {tmp}/x.nc --context 0", ["context", ">= 1"]),
    "reconstruct_epochs_negative": ("reconstruct lorenz -o {tmp}/x.nc --epochs -1", ["epochs"]),
    "reconstruct_field_protocol": ("reconstruct burgers -o {tmp}/x.nc --protocol paper", ["protocol="]),
    "simulate_missing_dir": ("simulate lorenz -n 2 -o {tmp}/no/x.nc", ["--output", "does not exist"]),
    "simulate_out_is_dir": ("simulate lorenz -n 2 -o {tmp}", ["is a directory"]),
    "simulate_seed_negative": ("simulate lorenz -n 2 -o {tmp}/x.nc --seed -5", ["--seed", "-5"]),
    "simulate_n_zero": ("simulate lorenz -n 0 -o {tmp}/x.nc", ["-n", ">= 1"]),
    "simulate_field_backend": ("simulate burgers -n 1 -o {tmp}/x.nc --backend scipy", ["--backend", "ODE systems only"]),
    "simulate_field_rtol": ("simulate burgers -n 1 -o {tmp}/x.nc --rtol 1e-3", ["--rtol", "ODE systems only"]),
    "simulate_ode_grid": ("simulate lorenz -n 1 -o {tmp}/x.nc --grid 16", ["--grid", "field systems only"]),
    "simulate_device_banana": ("simulate lorenz -n 1 -o {tmp}/x.nc --device banana", ["banana"]),
    "simulate_t_end_before_start": ("simulate lorenz -n 1 -o {tmp}/x.nc --t-end -1", ["t_end > t_start"]),
    "simulate_rtol_negative": ("simulate lorenz -n 1 -o {tmp}/x.nc --rtol -1", ["--rtol", "> 0"]),
    "simulate_unknown_system": ("simulate lorenzz -o {tmp}/x.nc", ["Did you mean 'lorenz63'"]),
    "simulate_unknown_engine": ("simulate lorenz -o {tmp}/x.nc --engine foo", ["unknown engine", "netcdf4"]),
}
if not H5:
    CLI["simulate_engine_not_installed"] = ("simulate lorenz -o {tmp}/x.nc --engine h5netcdf",
                                            ["h5netcdf", "not installed", "pip install"])


@pytest.mark.parametrize("case", sorted(CLI))
def test_cli_bad_input(case, guarded, tmp_path, capsys):
    argv, words = CLI[case]
    start = _time.perf_counter()
    try:
        rc = main([a.replace("{tmp}", str(tmp_path)) for a in argv.split()] + ["--quiet"])
    except SystemExit as exit_:  # argparse's own errors
        rc = exit_.code
    assert _time.perf_counter() - start < FAST_S
    err = capsys.readouterr().err
    assert rc == 2, (case, rc, err)
    for word in words:
        assert word in err, (case, word, err)
    assert not (tmp_path / "x.nc").exists()


def test_unwritable_directory(tmp_path, guarded, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    # the permission bits alone do not stop root (CI may run as root): deny access to this directory
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == locked else real_access(p, mode, **kw))
    with pytest.raises(InputError, match=r"directory .*locked' is not writable; choose a writable directory"):
        warp_phys.reconstruct(system="lorenz", to_netcdf=locked / "x.nc", **SYS)


def test_cli_engine_choices_are_installed_ones(capsys):
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    text = capsys.readouterr().out
    assert "netcdf4" in text and ("h5netcdf" in text) == H5


def test_valid_edge_inputs_are_accepted():
    """The other side of each check: tiny units, tiny-but-real variation, constants."""
    for scale in (1e-9, 1e-30):
        np.testing.assert_allclose(check_time_grid(np.arange(50) * scale), np.arange(50) * scale)
    check_time_grid((np.arange(50) * 1e-9).astype(np.float32))
    check_time_grid(np.linspace(100.0, 110.0, 1001).astype(np.float32))
    D.as_dataset(X * 1e-30, T)
    D.as_dataset(X * 1e30, T)
    D.as_dataset(np.concatenate([X, np.full(X.shape[:2] + (1,), 1e6)], -1), T)  # a constant variable
    # a tiny but real variation is scaled by its own std, not treated as constant
    s = D.fit_scaler(torch.as_tensor(X * 1e-8, dtype=torch.float32))
    assert torch.all(s.scale < 1e-7) and torch.all(s.scale > 1e-9)
    assert D.fit_scaler(torch.full((2, 3, 1), 5.0)).scale.item() == 1.0


def test_tiny_units_forecast_like_unit_ones():
    """Silently wrong before: std below 1e-6 was taken as constant (errors ~1e10x the variance)."""
    kw = dict(model="gru", hidden=8, layers=1, epochs=2, progress=False, device="cpu", context=8, seed=0)
    ref = warp_phys.reconstruct(data=X, time=T, **kw).metrics
    tiny = warp_phys.reconstruct(data=X * 1e-8, time=T * 1e-9, **kw).metrics
    assert tiny["mse"] / 1e-16 == pytest.approx(ref["mse"], rel=1e-3)
    assert tiny["mse"] < tiny["mse_persistence"]


OUTCOMES: list[str] = []


@settings(max_examples=15, deadline=None)
# found by a random run in CI: AR's forecast of data at 1e35, scaled back in float32, overflowed to inf
@example(n=3, steps=3, d=2, exponent=35, offset=0.0, dt_exponent=0, seed=2279, model="persistence", constant=False)
@given(n=st.integers(3, 8), steps=st.integers(3, 12), d=st.integers(1, 2), exponent=st.integers(-42, 40),
       offset=st.sampled_from([0.0, 0.0, 1.0, 1e8]), dt_exponent=st.integers(-30, 4), seed=st.integers(0, 2**32),
       model=st.sampled_from(["persistence", "gru"]), constant=st.booleans())
def test_user_data_gives_finite_metrics_or_input_error(n, steps, d, exponent, offset, dt_exponent, seed, model,
                                                       constant):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, steps, d)) * 10.0 ** exponent + offset
    if constant:
        x[..., 0] = offset
    t = np.arange(steps) * 10.0 ** dt_exponent
    extra = dict(hidden=4, layers=1) if model == "gru" else {}
    try:
        rec_ = warp_phys.reconstruct(data=x, time=t, model=model, epochs=1, progress=False, device="cpu",
                                     seed=seed, **extra)
    except InputError:
        OUTCOMES.append("InputError")
        return
    OUTCOMES.append("metrics")
    assert all(np.isfinite(v) for v in rec_.metrics.values()), rec_.metrics


def test_cli_prints_the_backend_of_ode_systems_only(tmp_path, capsys):
    """Field systems have their own solver: no backend=... line for them (it was printed before)."""
    assert main(["simulate", "burgers", "-n", "1", "--steps", "5", "--t-end", "0.2", "--grid", "48",
                 "-o", str(tmp_path / "b.nc"), "-q"]) == 0
    assert "backend=" not in capsys.readouterr().out
    assert main(["simulate", "msd", "-n", "1", "--steps", "5", "-o", str(tmp_path / "m.nc"), "-q"]) == 0
    assert "backend=torch" in capsys.readouterr().out


@pytest.mark.parametrize("seed", [-1, 2**64, 1.5])
def test_lyapunov_seeds_are_checked(seed):
    with pytest.raises(InputError, match=r"seed must be an integer in \[0, 2\*\*63 - 1\]"):
        warp_phys.lyapunov_exponents(warp_phys.systems.get("lorenz"), seed=seed)
