"""Baselines (warp_phys.baselines): training, causality, O(T) forecast == step-by-step
rollout, autoregressive mode, persistence numbers, std floor, registry and input errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from warp_phys import baselines
from warp_phys.sequence import SequenceModel

LEARNED = ["gru", "lstm", "transformer", "node"]
SMALL = dict(hidden=16, layers=1)
T = 24


def oscillations(n: int = 16, T: int = T, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Damped oscillations x = e^{-zeta w t} cos(w_d t + phi) and x'/w on tau in [0, 1]: (n, T, 2)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, T)[None, :]
    w, zeta, phi = rng.uniform(6, 10, (n, 1)), rng.uniform(0.05, 0.2, (n, 1)), rng.uniform(-np.pi, np.pi, (n, 1))
    wd, env = w * np.sqrt(1 - zeta**2), np.exp(-zeta * w * t)
    x = env * np.cos(wd * t + phi)
    v = env * (-zeta * w * np.cos(wd * t + phi) - wd * np.sin(wd * t + phi)) / w
    return torch.tensor(np.stack([x, v], -1), dtype=torch.float32), torch.tensor(t[0], dtype=torch.float32)


def mse(model, x, tau) -> torch.Tensor:
    return ((model(x, tau).mean[:, 1:] - x[:, 1:]) ** 2).mean()


def fit(model, x, tau, steps: int, lr: float) -> tuple[float, float]:
    """A few full-batch Adam steps on the teacher-forced MSE (t >= 1); returns (initial, final) loss."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    with torch.no_grad():
        initial = mse(model, x, tau).item()
    for _ in range(steps):
        opt.zero_grad()
        mse(model, x, tau).backward()
        opt.step()
    with torch.no_grad():
        return initial, mse(model, x, tau).item()


def randomised(name: str, dtype=torch.float64, **options) -> SequenceModel:
    """A model whose zero-initialised heads are perturbed, so that it is not persistence."""
    model = baselines.get(name, 2, **{**SMALL, **options}).to(dtype)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model.eval()


@pytest.mark.parametrize("name", LEARNED)
def test_training_decreases_loss(name):
    # Untrained RNN/transformer heads are zero, i.e. persistence; 60 Adam steps must cut the
    # loss to a quarter, a bound with a margin over what every baseline reaches here. The node
    # starts from a random f.
    torch.manual_seed(0)  # nothing below may depend on it: the model is seeded by its own seed
    x, tau = oscillations()
    initial, final = fit(baselines.get(name, 2, **SMALL), x, tau, steps=60, lr=1e-2)
    assert np.isfinite(final) and final < 0.25 * initial, (initial, final)


@pytest.mark.parametrize("name", LEARNED + ["persistence"])
def test_causality(name):
    options = {} if name == "persistence" else {"output": "gaussian"}
    model = randomised(name, **options)
    x, tau = oscillations(n=3)
    x = x.double()
    tau = tau.double()
    base = model(x, tau)
    for k in (1, 7, T - 2):
        xp = x.clone()
        xp[:, k] += 0.5
        pert = model(xp, tau)
        for a, b in [(base.mean, pert.mean)] + ([(base.std, pert.std)] if base.std is not None else []):
            torch.testing.assert_close(a[:, : k + 1], b[:, : k + 1], rtol=0, atol=1e-12)
        assert (base.mean[:, k + 1] - pert.mean[:, k + 1]).abs().max() > 1e-3  # x_k is used for t = k + 1


@pytest.mark.parametrize("name", LEARNED + ["persistence", "node-substeps"])
@pytest.mark.parametrize("n_ctx", [1, 5, T])
def test_forecast_matches_step_by_step_rollout(name, n_ctx):
    options = {} if name == "persistence" else {"output": "gaussian"}
    if name == "node-substeps":  # forecast's single odeint call subdivides each interval too
        name, options = "node", {**options, "substeps": 3}
    model = randomised(name, **options)
    x, tau = oscillations(n=3)
    x_ctx, tau = x[:, :n_ctx].double(), tau.double()
    fast, slow = model.forecast(x_ctx, tau), SequenceModel.forecast(model, x_ctx, tau)
    assert fast.mean.shape == (3, T, 2)
    torch.testing.assert_close(fast.mean, slow.mean, rtol=0, atol=1e-5)
    if fast.std is not None:
        torch.testing.assert_close(fast.std, slow.std, rtol=0, atol=1e-5)
    torch.testing.assert_close(fast.mean[:, :n_ctx], model(x_ctx, tau[:n_ctx]).mean)  # context = teacher forced


@pytest.mark.parametrize("name", LEARNED + ["persistence"])
def test_autoregressive_mode(name):
    model = randomised(name)
    x, tau = oscillations(n=4)
    x, tau = x.double(), tau.double()
    # p_force = 0: the model feeds on its own predictions from x_0, i.e. a forecast from one point.
    torch.testing.assert_close(model(x, tau, p_force=0.0).mean, model.forecast(x[:, :1], tau).mean,
                               rtol=0, atol=1e-10)
    run = lambda seed: model(x, tau, p_force=0.5, generator=torch.Generator().manual_seed(seed)).mean
    torch.testing.assert_close(run(3), run(3), rtol=0, atol=0)  # same generator, same coin flips
    if name != "persistence":
        mixed, tf = run(3), model(x, tau).mean
        assert (mixed - tf).abs().max() > 1e-3  # some inputs were the model's own predictions
        assert (mixed - model(x, tau, p_force=0.0).mean).abs().max() > 1e-3  # ... and some the truth


def test_autoregressive_gradients_flow_through_predictions():
    model = baselines.get("gru", 2, **SMALL)
    x, tau = oscillations(n=2)
    model(x, tau, p_force=0.0, generator=torch.Generator().manual_seed(0)).mean[:, -1].sum().backward()
    assert model.head.weight.grad.abs().sum() > 0


def test_node_integrates_a_linear_ode_to_rk4_accuracy():
    # layers=0 makes f(x) = W x + b: set a rotation at angular frequency w (2 turns over tau in [0, 1]).
    # RK4 with h = dt/4: local error ~ (w h)^5 / 120 ~ 3e-7, over 92 steps ~ 3e-5 at most -> 1e-4.
    w, n = 4 * np.pi, 4
    model = baselines.get("node", 2, layers=0, substeps=n).double()
    with torch.no_grad():
        model.f[0].weight.copy_(torch.tensor([[0.0, w], [-w, 0.0]]))
        model.f[0].bias.zero_()
    tau = torch.linspace(0, 1, T, dtype=torch.float64)
    exact = torch.stack([torch.cos(w * tau), -torch.sin(w * tau)], -1)[None]  # from (1, 0)
    torch.testing.assert_close(model(exact, tau).mean, exact, rtol=0, atol=1e-5)  # one step
    torch.testing.assert_close(model.forecast(exact[:, :1], tau).mean, exact, rtol=0, atol=1e-4)
    coarse = baselines.get("node", 2, layers=0, substeps=1).double()
    coarse.load_state_dict(model.state_dict())
    assert (coarse.forecast(exact[:, :1], tau).mean - exact).abs().max() > 1e-4  # the test can tell


def test_persistence_exact():
    x = torch.arange(2 * 5 * 3, dtype=torch.float32).reshape(2, 5, 3)
    tau = torch.linspace(0, 1, 5)
    model = baselines.get("persistence", 3)
    assert sum(p.numel() for p in model.parameters()) == 0
    pred = model(x, tau)
    assert pred.std is None
    assert torch.equal(pred.mean[:, 0], x[:, 0]) and torch.equal(pred.mean[:, 1:], x[:, :-1])
    fc = model.forecast(x[:, :2], tau).mean
    assert torch.equal(fc[:, :2], pred.mean[:, :2]) and torch.equal(fc[:, 2:], x[:, 1:2].expand(2, 3, 3))
    assert torch.equal(model(x, tau, p_force=0.0).mean, x[:, :1].expand(2, 5, 3))
    with pytest.raises(ValueError, match="output='mean'"):
        baselines.get("persistence", 3, output="gaussian")


@pytest.mark.parametrize("name", LEARNED)
def test_gaussian_std_positive_and_floored(name):
    model = randomised(name, output="gaussian", std_floor=1e-3, dtype=torch.float32)
    x, tau = oscillations(n=3)
    std = model(x, tau).std
    assert std.shape == x.shape and bool((std >= 1e-3).all())
    with torch.no_grad():  # drive every raw std output very negative: std must sit at the floor, > 0
        for p in model.parameters():
            p.mul_(0.0)
        model.std0.fill_(-200.0)
        head = model.std_head if name == "node" else model.head
        head.bias[-2:] = -200.0
    std = model(x, tau).std
    torch.testing.assert_close(std, torch.full_like(std, 1e-3))
    assert model(x, tau).mean.shape == x.shape and baselines.get(name, 2).config["output"] == "mean"


def test_registry_and_config():
    assert baselines.available() == ["gru", "lstm", "node", "persistence", "transformer"]
    with pytest.raises(ValueError, match="unknown baseline 'rnn'.*gru.*transformer"):
        baselines.get("rnn", 2)
    with pytest.raises(ValueError, match="Did you mean 'transformer'"):
        baselines.get("transfomer", 2)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['hiden'\].*'hidden'\?\); valid options"):
        baselines.get("gru", 2, hiden=8)
    with pytest.raises(ValueError, match="cell"):
        baselines.get("gru", 2, cell="lstm")
    with pytest.raises(ValueError, match="output"):
        baselines.get("gru", 2, output="laplace")
    with pytest.raises(ValueError, match="positional"):
        baselines.get("transformer", 2, positional="rotary")
    with pytest.raises(ValueError, match="n_variables"):
        baselines.get("node", 0)
    x, tau = oscillations(n=2)
    state = torch.get_rng_state()
    for name in baselines.available():
        model = baselines.get(name, 2, seed=5, **({} if name == "persistence" else SMALL))
        assert model.n_variables == 2 and model.config["n_variables"] == 2 and model.config["seed"] == 5
        clone = type(model)(**model.config)  # config is exactly the constructor's kwargs
        torch.testing.assert_close(clone(x, tau).mean, model(x, tau).mean, rtol=0, atol=0)
    assert torch.equal(state, torch.get_rng_state())  # seeding never touches the global RNG
    a, b = (baselines.get("lstm", 2, seed=s, **SMALL) for s in (0, 1))
    assert not torch.equal(a.rnn.weight_ih_l0, b.rnn.weight_ih_l0)
    assert baselines.get("lstm", 2).name == "lstm" and baselines.get("transformer", 2, positional="learned")


@pytest.mark.parametrize("name", LEARNED + ["persistence"])
def test_bad_shapes_raise(name):
    model = baselines.get(name, 2)
    x, tau = oscillations(n=2)
    with pytest.raises(ValueError, match="3-D"):
        model(x[0], tau)
    with pytest.raises(ValueError, match="n_variables=2"):
        model(torch.zeros(2, T, 3), tau)
    with pytest.raises(ValueError, match="length T=24"):
        model(x, tau[:-1])
    with pytest.raises(ValueError, match="strictly increasing"):
        model(x, tau.flip(0))
    with pytest.raises(ValueError, match="context length"):
        model.forecast(torch.zeros(2, T + 1, 2), tau)
    with pytest.raises(ValueError, match="p_force"):
        model(x, tau, p_force=1.5)


@pytest.mark.parametrize("name", LEARNED + ["persistence"])
def test_trainer_and_checkpoint_round_trip(name, tmp_path):
    """The baselines need only the SequenceModel interface: the package Trainer (Gaussian NLL,
    autoregressive p_force=0.5, forecast-MSE validation) improves them, and save/load is exact."""
    from warp_phys.checkpoint import load_model, save_model
    from warp_phys.training import Trainer

    x, tau = oscillations(n=48)
    gaussian = name != "persistence"
    model = baselines.get(name, 2, **SMALL, output="gaussian" if gaussian else "mean")
    # Untrained, every model forecasts like persistence; 15 epochs must cut the forecast error
    # below 0.4x, a bound with a margin over what every baseline reaches here (the node needs
    # lr 3e-2 because f must grow to the oscillation's angular frequency in tau units).
    trainer = Trainer(epochs=15, batch_size=16, lr=3e-2 if name == "node" else 1e-2, loss="nll" if gaussian else "mse", p_force=0.5,
                      val_n_ctx=4, seed=0, device="cpu", progress=False)
    before = trainer.evaluate(model, x[32:], tau)
    history = trainer.fit(model, x[:32], tau, x_val=x[32:])
    if gaussian:
        assert history.best_score < 0.4 * before, (before, history.best_score)
    else:
        assert history.stop_reason == "no_parameters" and history.best_score == pytest.approx(before)
    save_model(model, tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt", device="cpu")
    assert type(loaded) is type(model) and loaded.config == model.config
    a, b = model.eval().forecast(x[:4, :4], tau), loaded.forecast(x[:4, :4], tau)
    assert torch.equal(a.mean, b.mean) and (a.std is None or torch.equal(a.std, b.std))


def test_transformer_block_matches_torch_multihead_attention():
    """The block computes attention itself (to cache keys and values); it must equal the
    reference: nn.MultiheadAttention on the layer-normed inputs of all tokens, causal mask."""
    from warp_phys.baselines.transformer import _Block

    torch.manual_seed(0)
    block = _Block(16, 4, 0.0).double().eval()
    h = torch.randn(3, 9, 16, dtype=torch.float64)
    mask = torch.ones(9, 9, dtype=torch.bool).triu(1)  # True: masked (j > i)
    z = block.ln1(h)
    ref = h + block.attn(z, z, z, attn_mask=mask, need_weights=False)[0]
    ref = ref + block.mlp(block.ln2(ref))
    whole, _ = block(h, None)
    torch.testing.assert_close(whole, ref, rtol=1e-12, atol=1e-12)
    # token by token with the cache gives the same as all at once
    out, cache = [], None
    for t in range(9):
        y, cache = block(h[:, t:t + 1], cache)
        out.append(y)
    torch.testing.assert_close(torch.cat(out, 1), ref, rtol=1e-12, atol=1e-12)
