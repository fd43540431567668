"""The ``quadratic`` prior: a quadratic vector field with free coefficients, one RK4 step."""
import json

import numpy as np
import pytest
import torch
import xarray as xr

import warp_phys
from warp_phys import data as D
from warp_phys import priors
from warp_phys import systems as S
from warp_phys.checkpoint import load_model, save_model
from warp_phys.model import WARP
from warp_phys.priors import BindContext, QuadraticField, rk4_step
from warp_phys.priors.parameter_fit import _cost, fit_raw
from warp_phys.scaling import Scaler
from warp_phys.transition_inputs import library

F64 = torch.float64
DT = 0.01


def true_raw(system, scaler: Scaler, prior: QuadraticField) -> torch.Tensor:
    """The raw outputs (L d,) whose field is ``system``'s in normalised units: dz/dt =
    f(loc + scale z) / scale is quadratic in z when f is quadratic in x, so least squares on
    random points recovers it exactly (to round-off)."""
    z = torch.randn(200, system.n_variables, generator=torch.Generator().manual_seed(0), dtype=F64)
    x = scaler.denormalise(z)
    dz = system.rhs(0.0, x, system.parameter_vector()) / scaler.scale
    W = torch.linalg.lstsq(library(z), dz).solution  # (L, d)
    return (W * prior.ctx.dt / prior.gain).flatten()


@pytest.fixture(scope="module")
def lorenz():
    system = S.get("lorenz63")
    ds = system.simulate(4, (0.0, 200 * DT), 201, params="train", seed=2, device="cpu")
    x = S.trajectories_to_tensor(ds, dtype=F64)[0]
    sc = Scaler(x.reshape(-1, 3).mean(0), x.reshape(-1, 3).std(0))
    prior = priors.get("quadratic")
    prior.bind(BindContext(3, DT, 200 * DT, sc, None))  # no system: the prior never reads one
    return system, ds, sc, sc.normalise(x), prior


def test_true_coefficients_give_the_systems_own_rk4_step(lorenz):
    system, _, sc, z, prior = lorenz
    # the truth is found per trajectory: the sampled parameters differ, so use the defaults here
    raw = true_raw(system, sc, prior)
    step = prior.decode(raw.expand(5, -1), torch.zeros(5, 1, dtype=F64), z[0, :5])
    f = lambda t, x: system.rhs(t, x, system.parameter_vector())  # noqa: E731
    ref = sc.normalise(rk4_step(f, 0.0, sc.denormalise(z[0, :5]), DT))
    torch.testing.assert_close(step, ref, rtol=0, atol=1e-12)


def test_zero_raw_holds_the_state_and_shapes_broadcast(lorenz):
    *_, z, prior = lorenz
    raw = torch.zeros(4, 7, prior.n_outputs, dtype=F64)
    assert prior.n_outputs == 30  # L = 1 + 3 + 6 terms, d = 3
    torch.testing.assert_close(prior.decode(raw, torch.zeros(4, 7, 1, dtype=F64), z[:, :7]), z[:, :7],
                               rtol=0, atol=0)
    # the constant term alone is a constant velocity: RK4 is exact, z moves by gain * raw
    raw[..., :3] = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    moved = prior.decode(raw, torch.zeros(4, 7, 1, dtype=F64), z[:, :7]) - z[:, :7]
    torch.testing.assert_close(moved, prior.gain * raw[..., :3], rtol=0, atol=1e-14)


def test_the_closed_form_start_reads_each_trajectorys_field_and_the_fit_improves_it(lorenz):
    system, ds, sc, z, prior = lorenz
    tau = D.normalised_time(ds["time"].values).to(F64)
    start = prior.initial_raw(z[:, :101], tau[:101])
    fitted = fit_raw(prior, z[:, :101], tau[:101])
    names = list(system.parameter_names)
    for i in range(z.shape[0]):
        pars = {n: float(ds[n].values[i]) for n in names}
        truth = true_raw(S.get("lorenz63", **pars), sc, prior)
        scale = truth.abs().max()
        # Simpson's rule over 100 steps of dt = 0.01: O(dt^4) error; the one-step RK4 fit then
        # matches RK4 with the true field to its own O(dt^4) bias, well below 1 % of the largest term
        assert (start[i] - truth).abs().max() < 1e-2 * scale
        assert (fitted[i] - truth).abs().max() < 1e-2 * scale
    # fit_iterations=0 keeps the closed-form start exactly
    closed = priors.get("quadratic", fit_iterations=0)
    closed.bind(prior.ctx)
    torch.testing.assert_close(fit_raw(closed, z[:, :101], tau[:101]), start, rtol=0, atol=0)
    cost_start = _cost(prior, start, z[:, :101], tau[:101])[1]
    cost_fit = _cost(prior, fitted, z[:, :101], tau[:101])[1]
    assert bool((cost_fit <= cost_start).all()) and bool((cost_fit < 0.5 * cost_start).any())


def test_interpret_names_every_coefficient_in_time_units(lorenz):
    system, _, sc, _, prior = lorenz
    raw = true_raw(system, sc, prior)
    named = prior.interpret(raw)
    assert len(named) == 30 and "dz0dt_z1" in named and "dz2dt_z0z1" in named
    # dx/dt = sigma (y - x): in normalised units dz0/dt = sigma (s_y z1 - s_x z0 + ...) / s_x
    sigma = float(system.params["sigma"])
    assert float(named["dz0dt_z1"]) == pytest.approx(sigma * float(sc.scale[1] / sc.scale[0]), rel=1e-10)
    assert float(named["dz0dt_z0"]) == pytest.approx(-sigma, rel=1e-10)


def test_options_rebuild_and_bad_settings_are_refused(lorenz):
    *_, prior = lorenz
    q = priors.get("quadratic", **json.loads(json.dumps(priors.get("quadratic", gain=0.5, substeps=2,
                                                                   fit_iterations=0).options)))
    assert q.options == {"gain": 0.5, "substeps": 2, "fit_iterations": 0} and q.fit_iterations == 0
    assert "quadratic" in priors.available()
    for bad in (dict(gain=0.0), dict(gain=float("nan")), dict(gain=True), dict(substeps=0), dict(substeps=1.5),
                dict(fit_iterations=-1), dict(fit_iterations=2.0)):
        with pytest.raises(ValueError, match="quadratic"):
            priors.get("quadratic", **bad)
    with pytest.raises(ValueError, match="30 raw outputs"):
        prior.decode(torch.zeros(1, 29, dtype=F64), torch.zeros(1, 1, dtype=F64), torch.zeros(1, 3, dtype=F64))
    with pytest.raises(RuntimeError, match="bind"):
        priors.get("quadratic").n_outputs


def test_warp_with_parameter_fit_forecasts_the_fitted_field(lorenz, tmp_path):
    """An untrained WARP (gate at zero) holds the fit: its forecast is the fitted field integrated
    by RK4 from the last context step, and it follows the true trajectory far longer than the same
    network without the fit."""
    system, ds, sc, z, prior = lorenz
    tau = D.normalised_time(ds["time"].values)
    ctx = BindContext(3, DT, 200 * DT, sc, None)
    model = WARP(3, width=16, depth=2, prior=priors.get("quadratic"), bind_context=ctx, transition_input="lstsq",
                 parameter_fit=True, seed=0)
    plain = WARP(3, width=16, depth=2, prior=priors.get("quadratic"), bind_context=ctx, transition_input="lstsq",
                 seed=0)
    assert model.hold_after_context and model.prior.time_invariant
    zf = z.float()
    with torch.no_grad():
        ours = model.forecast(zf[:, :101], tau).mean[:, 101:].double()
        theirs = plain.forecast(zf[:, :101], tau).mean[:, 101:].double()
    fitted = fit_raw(prior, z[:, :101], tau[:101].double())
    W = prior.coefficients(fitted)
    field = lambda t, x: (library(x).unsqueeze(-2) @ W).squeeze(-2)  # noqa: E731
    ref, out = z[:, 100], []
    for _ in range(100):
        ref = rk4_step(field, 0.0, ref, DT)
        out.append(ref)
    ref = torch.stack(out, 1)
    # float32 model arithmetic against float64: agreement to ~1e-4 over the first 20 steps
    torch.testing.assert_close(ours[:, :20], ref[:, :20], rtol=0, atol=1e-3)
    err_fit = ((ours - z[:, 101:]) ** 2).mean().item()
    err_plain = ((theirs - z[:, 101:]) ** 2).mean().item()
    # one Lyapunov time is ~110 steps here: the fitted field stays on the truth (normalised units);
    # the untrained network's own random field leaves it (or overflows: NaN is not below either)
    assert err_fit < 1e-6 and not err_plain < 100 * err_fit
    save_model(model, tmp_path / "quadratic.pt")  # rebuilt by name and options, the fit included
    with torch.no_grad():
        again = load_model(tmp_path / "quadratic.pt", device="cpu").forecast(zf[:, :101], tau).mean[:, 101:]
    torch.testing.assert_close(again.double(), ours, rtol=0, atol=0)


def test_user_data_run_holds_each_trajectorys_fitted_field_and_saves_its_coefficients(tmp_path):
    """Lotka-Volterra trajectories handed over as plain arrays (no system: the prior needs none),
    parameters differing per trajectory. With parameter_fit the forecast holds the field fitted
    to each test context, so it tracks each trajectory where holding the last value does not."""
    system = S.get("lotka_volterra")
    ds = system.simulate(16, params="train", seed=4, device="cpu")
    x = ds["state"].transpose("trajectory", "time", "variable").values
    t = ds["time"].values
    rec = warp_phys.reconstruct(data=x, time=t, context=len(t) // 2, prior="quadratic", transition_input="lstsq",
                                parameter_fit=True, epochs=1, batch_size=8, width=16, depth=1, progress=False,
                                device="cpu", seed=0)
    assert rec.system is None and rec.prior_name == "quadratic"
    m = rec.metrics
    # the fit's one-step bias is O(dt^4): over half the record the forecast stays within a
    # thousandth of the error of holding the last value and of the AR(p) least-squares baseline
    # (float32 model arithmetic included)
    assert m["mse"] < 1e-3 * min(m["mse_persistence"], m["ar_mse"]), m
    par = rec.parameters()
    assert "dz0dt_z0z1_held" in par and par["dz0dt_z0z1_held"].dims == ("trajectory",)
    # dx/dt = a x - b x y: in normalised units z = (x - loc) / scale the z0 z1 coefficient of
    # dz0/dt is -b scale_y; the fit reads each test trajectory's own b
    held = par["dz0dt_z0z1_held"].values
    expected = -ds["b"].values[par["trajectory"].values] * float(rec.scaler.scale[1])
    np.testing.assert_allclose(held, expected, rtol=1e-2)
    par.to_netcdf(tmp_path / "coefficients.nc")
    again = xr.open_dataset(tmp_path / "coefficients.nc")
    np.testing.assert_array_equal(again["dz0dt_z0z1_held"].values, held)
