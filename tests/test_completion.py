"""`warp_phys.completion.complete`: fill unobserved steps by autoregressive rollout.

The models are small and untrained, with their parameters perturbed (an untrained baseline
has a zero output head, i.e. it is persistence, which would hide feedback bugs).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from warp_phys import baselines
from warp_phys.completion import complete, context_rollout, with_context_forecast
from warp_phys.model import WARP
from warp_phys.scaling import Scaler
from warp_phys.validation import InputError

N, T, D = 6, 24, 2
TAU = torch.linspace(0.0, 1.0, T)
# float32 models: the same numbers computed in a different order (a context read in one call
# vs step by step, a factored evaluation of another batch layout) differ by a few ulp of
# values O(1), compounded over < 24 steps: 1e-5 is ~100x that and far below the O(0.1) effect
# of any wrong input fed back.
ATOL = 1e-5


def _perturbed(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random changes to the parameters (small ones to WARP's transition, which starts inert,
    B = U = 0, and explodes with large ones)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_((0.02 if name.startswith("transition") else 0.3) * torch.randn(p.shape, generator=gen))
    return model.eval()


def _models() -> dict[str, torch.nn.Module]:
    return {"warp": _perturbed(WARP(D, width=8, depth=1, transition="lowrank", rank=2, prev_obs_input=True,
                                   output_clip=3.0)),  # the clamp keeps an untrained WARP finite
            "gru": _perturbed(baselines.get("gru", D, hidden=8, layers=1)),
            "lstm": _perturbed(baselines.get("lstm", D, hidden=8, layers=1)),
            "transformer": _perturbed(baselines.get("transformer", D, hidden=8, heads=2, layers=1))}


MODELS = _models()


def _data(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.cumsum(0.3 * rng.standard_normal((N, T, D)), axis=1).astype(np.float32)
    mask = np.ones((N, T), bool)
    mask[:, 8:14] = False  # a gap
    mask[:, 19:] = False   # and an open end
    mask[2, 3:5] = False   # trajectories may have different masks
    return x, mask


@pytest.mark.parametrize("name", list(MODELS))
def test_observed_steps_untouched_and_gaps_filled(name: str) -> None:
    x, mask = _data()
    obs = np.where(mask[..., None], x, np.nan)  # NaN at unobserved entries is allowed
    out = complete(MODELS[name], obs, mask)
    assert isinstance(out, np.ndarray) and out.shape == obs.shape and out.dtype == obs.dtype
    assert np.array_equal(out[mask], obs[mask])  # bit for bit
    assert np.isfinite(out).all()
    # the fill is the model's prediction, not the truth (would be a leak) nor a hold of the last value
    assert not np.allclose(out[~mask], x[~mask], atol=1e-3)


@pytest.mark.parametrize("name", list(MODELS))
def test_causal(name: str) -> None:
    x, mask = _data()
    before = complete(MODELS[name], x, mask)
    y = x.copy()
    y[:, 16] += 5.0  # a later observed step (16 is observed in every trajectory)
    after = complete(MODELS[name], y, mask)
    assert np.array_equal(before[:, :16], after[:, :16])  # earlier steps identical (exactly)
    assert np.array_equal(after[:, 16], y[:, 16])
    assert not np.allclose(before[:, 17:], after[:, 17:])  # and the perturbation is read afterwards


@pytest.mark.parametrize("name", ["warp", "gru", "transformer"])
def test_prefix_mask_equals_forecast(name: str) -> None:
    model = MODELS[name]
    x, _ = _data()
    n = 9
    mask = np.zeros((N, T), bool)
    mask[:, :n] = True
    out = complete(model, torch.from_numpy(x), mask, TAU)
    fc = model.forecast(torch.from_numpy(x[:, :n]), TAU).mean
    torch.testing.assert_close(out[:, n:], fc[:, n:], atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", ["warp", "gru", "lstm"])
def test_gap_then_truth_resumes(name: str) -> None:
    """After a gap the observations are fed again: the prediction of each step after the gap
    equals the teacher-forced one-step prediction on the completed sequence."""
    model = MODELS[name]
    x, mask = _data()
    out = complete(model, torch.from_numpy(x), mask)
    with torch.no_grad():
        tf = model(out, TAU).mean  # teacher forced on [observed, completion]
    # the filled steps are exactly the one-step predictions from what was fed before them
    torch.testing.assert_close(out[~torch.from_numpy(mask)], tf[~torch.from_numpy(mask)], atol=ATOL, rtol=0)
    # and the completion did change after observations resumed vs an open-ended rollout from step 8
    open_mask = mask.copy()
    open_mask[:, 8:] = False
    free = complete(model, x, open_mask)
    assert not np.allclose(out.numpy()[:, 19:], free[:, 19:], atol=1e-3)


def test_d1_two_dim_round_trip_and_types() -> None:
    model = _perturbed(WARP(1, width=8, depth=1))
    x = np.linspace(0, 1, 3 * T).reshape(3, T)
    mask = np.zeros((3, T), bool)
    mask[:, :10] = True
    out_np = complete(model, x, mask, batch_size=2)  # float64 in, float64 out, (N, T) shape kept
    assert out_np.shape == (3, T) and out_np.dtype == np.float64
    assert np.array_equal(out_np[:, :10], x[:, :10])
    out_t = complete(model, torch.from_numpy(x), torch.from_numpy(mask), batch_size=2)
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float64 and out_t.shape == (3, T)
    np.testing.assert_array_equal(out_t.numpy(), out_np)  # numpy and torch paths agree exactly
    x3 = complete(model, x[..., None], mask, batch_size=2)
    np.testing.assert_array_equal(x3[..., 0], out_np)
    assert model.training is False
    model.train()
    complete(model, x, mask)
    assert model.training is True  # mode restored


def test_scaler_physical_units() -> None:
    model = MODELS["gru"]
    x, mask = _data()
    sc = Scaler(torch.tensor([10.0, -3.0]), torch.tensor([2.0, 0.5]))
    phys = x.astype(np.float64) * np.array([2.0, 0.5]) + np.array([10.0, -3.0])
    out = complete(model, phys, mask, scaler=sc)
    ref = complete(model, x.astype(np.float64), mask)
    assert np.array_equal(out[mask], phys[mask])
    # (phys - loc) / scale differs from x by float rounding: 1e-5 relative in the model's units
    expected = ref * np.array([2.0, 0.5]) + np.array([10.0, -3.0])
    np.testing.assert_allclose(out[~mask], expected[~mask], atol=1e-4, rtol=0)


def test_bad_inputs() -> None:
    model = MODELS["warp"]
    x, mask = _data()
    bad = x.copy()
    bad[0, 2, 1] = np.nan  # an observed step
    with pytest.raises(InputError, match="observed step"):
        complete(model, bad, mask)
    with pytest.raises(InputError, match="mask must have shape"):
        complete(model, x, mask[:, :-1])
    with pytest.raises(InputError, match="boolean"):
        complete(model, x, mask.astype(int))
    first_missing = mask.copy()
    first_missing[3, 0] = False
    with pytest.raises(InputError, match=r"mask\[:, 0\]"):
        complete(model, x, first_missing)
    with pytest.raises(InputError, match="shape"):
        complete(model, x[..., :1], mask)  # wrong number of variables
    with pytest.raises(InputError, match="tau"):
        complete(model, x, mask, tau=np.zeros(T))
    with pytest.raises(InputError, match="rollout"):
        complete(torch.nn.Linear(2, 2), x, mask)


def test_baseline_rollout_matches_forward_loop() -> None:
    """`Baseline.rollout` with the coin flips of forward(p_force < 1) gives forward's numbers."""
    model = MODELS["gru"]
    x = torch.from_numpy(_data()[0])
    gen = torch.Generator().manual_seed(3)
    fwd = model(x, TAU, p_force=0.5, generator=gen).mean
    keep = torch.rand(N, T, generator=torch.Generator().manual_seed(3)) < 0.5
    assert torch.equal(model.rollout(x, TAU, keep).mean, fwd)
    with pytest.raises(ValueError, match="force"):
        model.rollout(x, TAU, keep.float())


@pytest.mark.parametrize("name", ["gru", "lstm", "transformer"])
def test_with_context_forecast_is_the_differentiable_forecast(name: str) -> None:
    """A baseline gets ``context_forecast`` = its rollout from the context: the same numbers as
    its (no-gradient) ``forecast``, with gradients for the Trainer's forecast loss."""
    model = with_context_forecast(baselines.get(name, D, hidden=8, layers=1, **({"heads": 2} if name == "transformer"
                                                                                  else {})))
    x, _ = _data()
    ctx = torch.from_numpy(x[:, :10])
    pred = model.context_forecast(ctx, TAU)
    torch.testing.assert_close(pred.mean[:, 10:], model.forecast(ctx, TAU).mean[:, 10:], atol=ATOL, rtol=0)
    ((pred.mean[:, 10:] - torch.from_numpy(x[:, 10:])) ** 2).mean().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and sum(float(g.abs().sum()) for g in grads) > 0


def test_context_rollout_of_warp_is_its_context_forecast() -> None:
    model = MODELS["warp"]
    ctx = torch.from_numpy(_data()[0][:, :10])
    torch.testing.assert_close(context_rollout(model, ctx, TAU).mean, model.context_forecast(ctx, TAU).mean)
    assert with_context_forecast(model).context_forecast.__func__ is WARP.context_forecast
    with pytest.raises(InputError, match="rollout"):
        with_context_forecast(torch.nn.Linear(2, 2))


# ------------------------------------------------------------------ known input channels
def _known_model(name: str) -> "KnownInputs":
    """A model of D + 2 channels whose last two (a phase: sin, cos) are known inputs."""
    from warp_phys.known_inputs import KnownInputs

    inner = {"warp": lambda: WARP(D + 2, width=8, depth=1, transition="lowrank", rank=2, prev_obs_input=True,
                                  output_clip=3.0),
             "gru": lambda: baselines.get("gru", D + 2, hidden=8, layers=1)}[name]()
    return KnownInputs(_perturbed(inner), 2)


def _with_phase(x: np.ndarray, period: float = 5.0) -> np.ndarray:
    i = np.arange(x.shape[1])
    phase = np.stack([np.sin(2 * np.pi * i / period), np.cos(2 * np.pi * i / period)], -1).astype(x.dtype)
    return np.concatenate([x, np.broadcast_to(phase, (x.shape[0], *phase.shape))], axis=-1)


@pytest.mark.parametrize("name", ["warp", "gru"])
def test_known_inputs_read_at_every_step(name: str) -> None:
    """Known channels are returned as given and read in the gaps too: the completion equals the
    model's forecast_known from a prefix mask, and changing a known input inside a gap changes
    the completion after it (but not before it: causal)."""
    model = _known_model(name)
    x, mask = _data()
    xk = _with_phase(x)
    obs = xk.copy()
    obs[..., :D] = np.where(mask[..., None], x, np.nan)  # targets hidden in the gaps, known inputs given
    out = complete(model, obs, mask)
    assert np.array_equal(out[..., D:], xk[..., D:])  # the known inputs, bit for bit
    assert np.array_equal(out[..., :D][mask], x[mask]) and np.isfinite(out).all()
    n = 9
    prefix = np.zeros((N, T), bool)
    prefix[:, :n] = True
    fc = complete(model, torch.from_numpy(xk), prefix)
    with torch.no_grad():
        ref = model.forecast_known(torch.from_numpy(xk), TAU, n).mean
    torch.testing.assert_close(fc[:, n:, :D], ref[:, n:, :D], atol=ATOL, rtol=0)
    moved = obs.copy()
    moved[:, 10, D:] += 1.0  # a known input inside the gap 8..13
    after = complete(model, moved, mask)
    assert np.array_equal(after[:, :11, :D], out[:, :11, :D])  # step 10's input acts from step 11 on
    assert not np.allclose(after[:, 11:14, :D], out[:, 11:14, :D], atol=1e-4)


def test_known_inputs_must_be_given_on_every_step() -> None:
    model = _known_model("gru")
    x, mask = _data()
    obs = _with_phase(x)
    obs[1, 10, D] = np.nan  # a gap step (10 is unobserved), but a known input
    with pytest.raises(InputError, match="known inputs at every step.*trajectory 1, step 10"):
        complete(model, obs, mask)
