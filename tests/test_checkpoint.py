"""save_model / load_model: bit-identical predictions, atomic writes, clear errors."""
import json

import pytest
import torch

from warp_phys.atomic import UnverifiedFileWarning
from warp_phys.checkpoint import atomic_save, load_model, save_model
from warp_phys.model import WARP
from warp_phys.priors.base import BindContext
from warp_phys.scaling import Scaler


def _trained_like(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model


@pytest.mark.parametrize("kw", [
    {"transition": "identity", "output": "gaussian"},
    {"transition": "lowrank", "rank": 3, "prev_obs_input": True, "init_state": "free"},
    {"transition": "diagonal", "activation": "tanh"},
    {"transition": "dense", "width": 6, "depth": 1},
])
def test_save_load_bit_identical(tmp_path, kw):
    ctx = BindContext(n_variables=3, dt=0.01, duration=2.55,
                      scaler=Scaler(torch.tensor([0.5, -1.0, 2.0]), torch.tensor([1.5, 2.0, 0.25])))
    model = _trained_like(WARP(3, **{"width": 10, "depth": 2, **kw}, bind_context=ctx, seed=4))
    path = tmp_path / "sub" / "model.pt"
    save_model(model, path)
    loaded = load_model(path, device="cpu")
    assert type(loaded) is WARP and loaded.config == model.config
    assert json.dumps(loaded.config)  # JSON-able
    assert torch.equal(loaded.bind_context.scaler.scale, ctx.scaler.scale)
    x = torch.randn(2, 20, 3, generator=torch.Generator().manual_seed(1))
    tau = torch.linspace(0, 1, 20)
    a, b = model(x, tau), loaded(x, tau)
    assert torch.equal(a.mean, b.mean)
    assert (a.std is None and b.std is None) or torch.equal(a.std, b.std)
    assert torch.equal(model.forecast(x[:, :5], tau).mean, loaded.forecast(x[:, :5], tau).mean)
    assert not list(path.parent.glob(".*.tmp"))


def test_atomic_save_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "m.pt"
    save_model(WARP(2, width=4, depth=1), path)
    before = path.read_bytes()
    with pytest.raises(Exception):
        atomic_save({"bad": lambda: 0}, path)  # lambdas cannot be pickled
    assert path.read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_load_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_model(tmp_path / "missing.pt")
    torch.save({"hello": 1}, tmp_path / "other.pt")  # a plain torch file: no checksum, so a warning first
    with pytest.warns(UnverifiedFileWarning, match="no checksum"):
        with pytest.raises(ValueError, match="not a warp_phys model"):
            load_model(tmp_path / "other.pt")
    with pytest.raises(ValueError, match="config"):
        save_model(torch.nn.Linear(2, 2), tmp_path / "lin.pt")


def test_prior_and_system_round_trip(tmp_path):
    """A grey-box prior bound to a system (with a structural option) is rebuilt by name."""
    from warp_phys import priors, systems

    system = systems.get("lorenz96", N=5, F=10.0)
    ctx = BindContext(n_variables=5, dt=0.01, duration=1.0, scaler=Scaler.identity(5), system=system)
    model = _trained_like(WARP(5, width=8, depth=1, prior=priors.get("grey_box"), bind_context=ctx,
                               prev_obs_input=True))
    save_model(model, tmp_path / "gb.pt")
    loaded = load_model(tmp_path / "gb.pt", device="cpu")
    assert loaded.prior.name == "grey_box" and loaded.bind_context.system.params == system.params
    assert loaded.bind_context.system.n_variables == 5
    x = 0.1 * torch.randn(2, 12, 5, generator=torch.Generator().manual_seed(2))
    tau = torch.linspace(0, 1, 12)
    assert torch.equal(model(x, tau).mean, loaded(x, tau).mean)
