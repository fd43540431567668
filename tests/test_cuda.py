"""The same numbers on CUDA as on CPU (skipped cleanly on machines without CUDA)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import warp_phys
from warp_phys import systems

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_batched_ode_solve_on_cuda_matches_cpu():
    lorenz = systems.get("lorenz")
    kw = dict(t_span=(0.0, 1.0), n_steps=101, seed=0, rtol=1e-10, atol=1e-10)
    cpu = lorenz.simulate(32, device="cpu", **kw)["state"].values
    gpu = lorenz.simulate(32, device="cuda", **kw)["state"].values
    # float64 adaptive solves; reductions differ in order only: 1e-8 relative over one time unit
    np.testing.assert_allclose(gpu, cpu, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("transition", ["identity", "lowrank", "subspace", "diagonal"])
def test_warp_forward_and_forecast_on_cuda_match_cpu(transition):
    torch.manual_seed(0)
    x = torch.randn(4, 32, 2, dtype=torch.float64)
    tau = torch.linspace(0, 1, 32, dtype=torch.float64)
    model = warp_phys.WARP(2, width=16, depth=2, transition=transition, rank=2, seed=0).double()
    with torch.no_grad():  # give B and the transition non-trivial values
        for p in model.transition.parameters():
            p.add_(0.01 * torch.randn_like(p))
    ref = model(x, tau).mean
    ref_fc = model.forecast(x[:, :8], tau).mean
    model_gpu = model.to("cuda")
    out = model_gpu(x.cuda(), tau.cuda()).mean.cpu()
    out_fc = model_gpu.forecast(x[:, :8].cuda(), tau.cuda()).mean.cpu()
    torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(out_fc, ref_fc, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("kind", ["moments", "lstsq"])
def test_transition_inputs_on_cuda_match_cpu(kind):
    """The moments and the running least-squares fit read the same on CUDA (float64; the lstsq
    solve's round-off is amplified while a path has fewer steps than library terms)."""
    torch.manual_seed(1)
    x = torch.cumsum(0.3 * torch.randn(4, 32, 3, dtype=torch.float64), dim=1)
    tau = torch.linspace(0, 1, 32, dtype=torch.float64)
    model = warp_phys.WARP(3, width=16, depth=2, transition="subspace", rank=4, transition_input=kind,
                           prev_obs_input=True, output_clip=5.0, seed=0).double()
    with torch.no_grad():
        model.transition.B.add_(0.1 * torch.randn_like(model.transition.B))
    ref, ref_fc = model(x, tau).mean, model.forecast(x[:, :8], tau).mean
    model_gpu = model.to("cuda")
    tol = dict(rtol=1e-6, atol=1e-8) if kind == "lstsq" else dict(rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(model_gpu(x.cuda(), tau.cuda()).mean.cpu(), ref, **tol)
    torch.testing.assert_close(model_gpu.forecast(x[:, :8].cuda(), tau.cuda()).mean.cpu(), ref_fc, **tol)


def test_quadratic_prior_with_its_fit_on_cuda_matches_cpu():
    """The quadratic prior's RK4 step, its closed-form start and Levenberg-Marquardt fit, and the
    held forecast read the same on CUDA (float64)."""
    from warp_phys import priors
    from warp_phys.priors import BindContext
    from warp_phys.scaling import Scaler

    ds = systems.get("lorenz").simulate(4, (0.0, 1.0), 51, seed=0, device="cpu")
    x = torch.from_numpy(ds["state"].transpose("trajectory", "time", "variable").values)
    sc = Scaler(x.reshape(-1, 3).mean(0), x.reshape(-1, 3).std(0))
    z, tau = sc.normalise(x), torch.linspace(0, 1, 51, dtype=torch.float64)

    def build() -> warp_phys.WARP:  # a fresh fit cache each: the GPU run fits on the GPU
        return warp_phys.WARP(3, width=16, depth=2, prior=priors.get("quadratic"), transition_input="lstsq",
                              bind_context=BindContext(3, 0.02, 1.0, sc, None), parameter_fit=True,
                              output_clip=5.0, seed=0).double()

    ref = build().forecast(z[:, :30], tau).mean
    gpu = build().to("cuda").forecast(z[:, :30].cuda(), tau.cuda()).mean.cpu()
    torch.testing.assert_close(gpu, ref, rtol=1e-6, atol=1e-8)


def test_taylor_green_on_cuda_matches_cpu():
    ns = systems.get("navier_stokes_2d", forcing="taylor_green")
    kw = dict(t_span=(0.0, 1.0), n_steps=5, grid=32, seed=0, params=None)
    cpu = ns.simulate(2, device="cpu", **kw)["vorticity"].values
    gpu = ns.simulate(2, device="cuda", **kw)["vorticity"].values
    np.testing.assert_allclose(gpu, cpu, rtol=1e-10, atol=1e-10)


def test_solver_step_budget_on_cuda_matches_cpu():
    """The torch solver counts its steps on CUDA as on CPU: the same budget runs out at the same place."""
    from warp_phys.systems import SolverBudgetError

    kw = dict(params=None, n_steps=100, ic=[1.0, 0.0], backend="torch", max_steps=150)
    errors = {}
    for device in ("cpu", "cuda"):
        with pytest.raises(SolverBudgetError) as info:
            systems.get("vdp", mu=1e4).simulate(2, device=device, **kw)
        errors[device] = info.value
    # float64 on both; reductions may differ in order, so the adaptive steps may differ in the last digits
    assert abs(errors["cuda"].steps - errors["cpu"].steps) <= 1
    assert errors["cuda"].time == pytest.approx(errors["cpu"].time, rel=1e-2)


def test_model_file_written_on_cuda_loads_bit_identically(tmp_path):
    """A CUDA model saved with its checksum loads on CUDA with identical predictions."""
    model = warp_phys.WARP(2, width=16, depth=2, transition="lowrank", rank=2, seed=0).to("cuda")
    x, tau = torch.randn(3, 16, 2, device="cuda"), torch.linspace(0, 1, 16, device="cuda")
    warp_phys.save_model(model, tmp_path / "m.pt")
    loaded = warp_phys.load_model(tmp_path / "m.pt", device="cuda")
    with torch.no_grad():
        torch.testing.assert_close(loaded.forecast(x[:, :4], tau).mean, model.eval().forecast(x[:, :4], tau).mean,
                                   rtol=0, atol=0)


def test_classifier_and_completion_on_cuda_match_cpu(tmp_path):
    """A SequenceClassifier trained on CPU predicts the same on CUDA (loaded there), and
    `complete` with a CUDA model fills the same values as on CPU."""
    from warp_phys.classification import SequenceClassifier, load_classifier, save_classifier
    from warp_phys.completion import complete

    rng = np.random.default_rng(0)
    t = np.arange(16)[None]
    w = np.where(np.arange(32) % 2 == 1, 0.3, -0.3)[:, None]
    x = np.stack([np.cos(w * t), np.sin(w * t)], -1) + 0.05 * rng.standard_normal((32, 16, 2))
    y = np.arange(32) % 2
    clf = SequenceClassifier("warp", width=12, depth=1, epochs=2, device="cpu").fit(x, y)
    save_classifier(clf, tmp_path / "c.pt")
    gpu = load_classifier(tmp_path / "c.pt", device="cuda")
    # float32 on both; the reductions differ in order only
    np.testing.assert_allclose(gpu.predict_proba(x), clf.predict_proba(x), rtol=1e-4, atol=1e-5)

    model = warp_phys.WARP(2, width=16, depth=2, transition="lowrank", rank=2, seed=0).double()
    obs = torch.as_tensor(x, dtype=torch.float64)
    mask = torch.ones(32, 16, dtype=torch.bool)
    mask[:, 6:11] = False
    ref = complete(model, obs, mask)
    out = complete(model.to("cuda"), obs.cuda(), mask.cuda()).cpu()
    torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-9)
