"""Tests of warp_phys.priors: registry, hard constraints, analytic forms, grey-box RK4 accuracy on
every ODE system of the library, the ODE-residual penalty and the hybrid prior."""
from __future__ import annotations

import json
import math

import pytest
import torch

from warp_phys import priors, systems
from warp_phys.priors import BindContext, rk4_step
from warp_phys.scaling import Scaler
from warp_phys.systems import Parameter, System, Variable

F64 = torch.float64
ODE_SYSTEMS = [n for n in systems.available() if systems.system_classes()[n].kind == "ode"]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def scaler(d: int, seed: int = 0) -> Scaler:
    g = gen(seed)
    return Scaler(torch.randn(d, generator=g, dtype=F64), 0.5 + torch.rand(d, generator=g, dtype=F64))


def ctx(d: int, system=None, dt: float = 0.01, duration: float = 1.0, seed: int = 0) -> BindContext:
    return BindContext(n_variables=d, dt=dt, duration=duration, scaler=scaler(d, seed), system=system)


def bound(name: str, c: BindContext, **options):
    p = priors.get(name, **options)
    p.bind(c)
    return p


class FakeField(System):
    """A minimal field-kind system: priors that need an ODE must refuse it."""

    name = "fake_field"
    kind = "field"
    variables = (Variable("w", "1", "vorticity"),)
    parameters = (Parameter("nu", 1e-3, (1e-3, 2e-3), (1e-3, 3e-3), "1", "viscosity", minimum=0.0),)


# ---- registry ---------------------------------------------------------------------------------
def test_registry_lists_every_prior_and_rejects_unknown_names_and_options():
    names = priors.available()
    for n in ("none", "damped_oscillator", "sinusoid", "grey_box", "positive", "bounded", "residual", "hybrid"):
        assert n in names
    assert isinstance(priors.get("none"), priors.Identity)
    with pytest.raises(ValueError, match="unknown prior 'nope'.*grey_box"):
        priors.get("nope")
    with pytest.raises(ValueError,
                       match=r"unknown option\(s\) \['substep'\].*'substeps'\?\); valid options: .*substeps"):
        priors.get("grey_box", substep=2)
    with pytest.raises(ValueError, match=r"unknown option.*'margin'.*valid options: none"):
        priors.get("none", margin=0.1)
    with pytest.raises(ValueError, match="Did you mean 'grey_box'"):
        priors.get("gray_box")
    assert isinstance(priors.get("Grey-Box"), priors.GreyBox) and isinstance(priors.get(None), priors.Identity)
    with pytest.raises(ValueError, match="bounds"):
        priors.get("bounded")  # bounds is required


@pytest.mark.parametrize("name,options", [
    ("none", {}), ("damped_oscillator", {"omega_scale": 3.0, "offset": True}),
    ("sinusoid", {"frequency": 1.0}), ("grey_box", {"fixed": {"m": 0.03}, "substeps": 2}),
    ("positive", {"floor": [0.0, 0.1]}), ("bounded", {"bounds": {"x": (-2, 2), "1": [0, 1]}}),
    ("residual", {"weight": 0.5, "params": {"k": 9.0}}), ("hybrid", {"hidden": 8, "margin": 0.2}),
])
def test_options_are_json_and_rebuild_the_same_prior(name, options):
    msd = systems.get("mass_spring_damper")
    p = priors.get(name, **options)
    text = json.dumps(p.options)  # JSON-able
    q = priors.get(name, **json.loads(text))
    assert q.options == p.options
    c = ctx(2, msd)
    p.bind(c)
    q.bind(c)
    raw = torch.randn(5, 7, p.n_outputs, generator=gen(1), dtype=F64)
    tau = torch.rand(5, 7, 1, generator=gen(2), dtype=F64)
    z = torch.randn(5, 7, 2, generator=gen(3), dtype=F64)
    assert torch.equal(p.decode(raw, tau, z), q.decode(raw, tau, z))


def test_unbound_prior_says_bind_first():
    with pytest.raises(RuntimeError, match="bind"):
        priors.get("grey_box").n_outputs


# ---- hard constraints ------------------------------------------------------------------------
def extreme_raw(shape, seed=0):
    """Random raw outputs including saturating values (+-60)."""
    r = 20 * torch.randn(*shape, generator=gen(seed), dtype=torch.float32)
    r[..., 0, :] = 60.0
    r[..., 1, :] = -60.0
    return r


def test_positive_holds_exactly_and_decodes_consistently():
    c = ctx(3)
    p = bound("positive", c, floor=[0.0, 0.5, -1.0])
    raw = extreme_raw((16, 3))
    x = p.physical(raw)
    floors = torch.tensor([0.0, 0.5, -1.0])
    assert bool((x >= floors).all())
    moderate = raw.abs() < 8  # strictly above the floor where softplus does not underflow
    assert bool((x > floors)[moderate].all())
    z = p.decode(raw, torch.zeros(16, 1), torch.zeros(16, 3))
    torch.testing.assert_close(z, c.scaler.normalise(x).float())
    # a subset of variables: the others pass through unchanged (normalised units)
    q = bound("positive", c, variables=[1])
    zq = q.decode(raw, torch.zeros(16, 1), torch.zeros(16, 3))
    assert torch.equal(zq[:, [0, 2]], raw[:, [0, 2]])
    assert bool((q.physical(raw)[:, 1] >= 0).all())
    with pytest.raises(ValueError, match="floors"):
        bound("positive", c, floor=[0.0, 1.0])


def test_bounded_holds_exactly_list_and_dict_forms():
    lv = systems.get("lotka_volterra")
    c = ctx(2, lv)
    for opts in ({"bounds": [(-0.1, 0.3), (2.0, 5.0)]}, {"bounds": {"x": (-0.1, 0.3), "y": (2.0, 5.0)}}):
        p = bound("bounded", c, **opts)
        x = p.physical(extreme_raw((32, 2), seed=4))
        lo, hi = torch.tensor([-0.1, 2.0]), torch.tensor([0.3, 5.0])
        assert bool(((x >= lo) & (x <= hi)).all())
    p = bound("bounded", c, bounds=[None, (0.0, 1.0)])
    raw = extreme_raw((8, 2))
    assert torch.equal(p.decode(raw, torch.zeros(8, 1), raw)[:, 0], raw[:, 0])
    with pytest.raises(ValueError, match="2 variables"):
        bound("bounded", c, bounds=[(0, 1)])
    with pytest.raises(ValueError, match="unknown variable 'q'"):
        bound("bounded", c, bounds={"q": (0, 1)})
    with pytest.raises(ValueError, match="lo < hi"):
        priors.get("bounded", bounds=[(1, 0), None])


# ---- analytic forms --------------------------------------------------------------------------
def test_damped_oscillator_equals_closed_form_and_its_derivative():
    c = ctx(2, duration=2.5)
    p = bound("damped_oscillator", c, omega_scale=4.0)
    raw = torch.randn(64, 4, generator=gen(5), dtype=F64)
    tau = torch.rand(64, 1, generator=gen(6), dtype=F64)
    q = p.interpret(raw)
    assert bool((q["damping_ratio"] >= 0).all() and (q["damping_ratio"] < 1).all() and (q["omega"] > 0).all())
    a, zeta, w, phi = (raw[:, 0] * c.scaler.scale[0], torch.sigmoid(raw[:, 1]),
                       4.0 * torch.nn.functional.softplus(raw[:, 2]) / math.log(2), raw[:, 3])
    t = tau[:, 0] * 2.5
    x_expected = a * torch.exp(-zeta * w * t) * torch.cos(w * torch.sqrt(1 - zeta**2) * t + phi)
    x = c.scaler.denormalise(p.decode(raw, tau, torch.zeros(64, 2, dtype=F64)))
    torch.testing.assert_close(x[:, 0], x_expected, rtol=1e-12, atol=1e-12)
    # the velocity is the exact time derivative of the position
    tau_g = tau.clone().requires_grad_(True)
    pos = p.physical(raw, tau_g)[:, 0]
    (dpos,) = torch.autograd.grad(pos.sum(), tau_g)
    torch.testing.assert_close(x[:, 1], dpos[:, 0] / 2.5, rtol=1e-10, atol=1e-10)


def test_damped_oscillator_matches_the_spring_systems_own_solution():
    """Physical meaning: with zeta = c / (2 sqrt(mk)), omega = sqrt(k/m) it reproduces MSD.analytic."""
    msd = systems.get("mass_spring_damper")
    m, k, cc, x0, v0 = 0.03, 10.0, 0.1, 1.0, 0.3
    c = BindContext(2, 1 / 255, 1.0, Scaler(torch.zeros(2, dtype=F64), torch.ones(2, dtype=F64)), msd)
    p = bound("damped_oscillator", c)
    w0, zeta = math.sqrt(k / m), cc / (2 * math.sqrt(m * k))
    wd = w0 * math.sqrt(1 - zeta**2)
    A, B = x0, (v0 + zeta * w0 * x0) / wd
    raw = torch.tensor([math.hypot(A, B), math.log(zeta / (1 - zeta)),
                        math.log(math.expm1(w0 / p.omega_scale * math.log(2))), math.atan2(-B, A)], dtype=F64)
    tau = torch.linspace(0, 1, 50, dtype=F64)[:, None]
    out = p.decode(raw.expand(50, 4), tau, torch.zeros(50, 2, dtype=F64))
    torch.testing.assert_close(out, msd.analytic(tau[:, 0], x0, v0, m, k, cc), rtol=1e-9, atol=1e-9)


def test_damped_oscillator_rejects_other_dimensions():
    with pytest.raises(ValueError, match="d=3"):
        bound("damped_oscillator", ctx(3))


def test_sinusoid_equals_closed_form_free_and_fixed_frequency():
    c = ctx(2)
    p = bound("sinusoid", c)
    assert p.n_outputs == 6
    raw = torch.randn(40, 6, generator=gen(7), dtype=F64)
    tau = torch.rand(40, 1, generator=gen(8), dtype=F64)
    A, phi, f = raw[:, :2] * c.scaler.scale, raw[:, 2:4], torch.nn.functional.softplus(raw[:, 4:]) / math.log(2)
    x = c.scaler.denormalise(p.decode(raw, tau, torch.zeros(40, 2, dtype=F64)))
    torch.testing.assert_close(x, A * torch.sin(2 * math.pi * f * tau + phi), rtol=1e-12, atol=1e-12)
    q = bound("sinusoid", ctx(1), frequency=1.0)
    assert q.n_outputs == 2
    raw1 = torch.randn(40, 2, generator=gen(9), dtype=F64)
    x1 = q.physical(raw1, tau)
    expected = raw1[:, :1] * q.ctx.scaler.scale * torch.sin(2 * math.pi * tau + raw1[:, 1:])
    torch.testing.assert_close(x1, expected, rtol=1e-12, atol=1e-12)


# ---- grey box ---------------------------------------------------------------------------------
def test_grey_box_parameters_within_bounds_and_interpretable():
    msd = systems.get("mass_spring_damper")
    p = bound("grey_box", ctx(2, msd), margin=0.1)
    assert p.n_outputs == 3
    b = p.bounds_of
    # union of train and test ranges widened by 10 % of the width; c is clipped at its minimum 0
    assert b["m"] == pytest.approx((0.01 - 0.004, 0.05 + 0.004))
    assert b["k"] == pytest.approx((2.0 - 1.6, 18.0 + 1.6))
    assert b["c"] == pytest.approx((0.0, 0.3 + 0.029))
    raw = extreme_raw((64, 3), seed=10)
    q = p.interpret(raw)
    for name, (lo, hi) in b.items():
        assert bool(((q[name] >= lo) & (q[name] <= hi)).all()), name
    assert bool((q["m"] > 0).all())
    # encode is the inverse of the clamp
    vals = {"m": torch.tensor([0.02, 0.045], dtype=F64), "k": torch.tensor([3.0, 17.0], dtype=F64),
            "c": torch.tensor([0.05, 0.25], dtype=F64)}
    back = p.interpret(p.encode(vals))
    for n in vals:
        torch.testing.assert_close(back[n], vals[n], rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="outside"):
        p.encode({"m": 10.0, "k": 5.0, "c": 0.1})


def test_grey_box_user_bounds_fixed_and_constant_parameters():
    msd = systems.get("mass_spring_damper")
    p = bound("grey_box", ctx(2, msd), fixed={"m": 0.03}, bounds={"k": (5.0, 6.0)})
    assert p.n_outputs == 2 and p.free_names == ["k", "c"]
    q = p.interpret(torch.zeros(4, 2))
    assert torch.equal(q["m"], torch.full((4,), 0.03))
    torch.testing.assert_close(q["k"], torch.full((4,), 5.5))
    pend = systems.get("pendulum", gamma=0.2)  # damping and drive are never sampled: held fixed
    g = bound("grey_box", ctx(2, pend))
    assert g.free_names == ["g", "L"] and g.fixed["gamma"] == 0.2
    g2 = bound("grey_box", ctx(2, pend), bounds={"gamma": (0.0, 1.0)})
    assert g2.free_names == ["g", "L", "gamma"]


def test_grey_box_bind_errors():
    msd = systems.get("mass_spring_damper")
    with pytest.raises(ValueError, match="no system"):
        bound("grey_box", ctx(2))
    with pytest.raises(ValueError, match="2 variables.*data has 3"):
        bound("grey_box", ctx(3, msd))
    with pytest.raises(ValueError, match="ODE systems only.*field"):
        bound("grey_box", ctx(1, FakeField()))
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['q'\].*valid"):
        bound("grey_box", ctx(2, msd), fixed={"q": 1.0})
    with pytest.raises(ValueError, match="both fixed and bounded"):
        priors.get("grey_box", fixed={"m": 1.0}, bounds={"m": (0, 2)})
    for name in ("residual", "hybrid"):
        with pytest.raises(ValueError, match="no system"):
            bound(name, ctx(2))


def _one_step_errors(name: str):
    """Max one-step error (relative to the per-variable std) of grey_box with the TRUE
    parameters against a tight reference solve, for steps h and 2h from the same states."""
    system = systems.get(name)
    proto = system.protocol("default")
    h = (proto.t_span[1] - proto.t_span[0]) / (proto.n_steps - 1)
    n = 41
    ds = system.simulate(2, (0.0, (n - 1) * h), n, params="train", seed=3, rtol=1e-12, atol=1e-13)
    x, t = systems.trajectories_to_tensor(ds)
    pv = systems.ds_params_tensor(ds, system)  # (N, P)
    flat = x.reshape(-1, x.shape[-1])
    sc = Scaler(flat.mean(0), flat.std(0) + 1e-3 * flat.abs().max())
    errs = {}
    for stride in (1, 2):
        c = BindContext(system.n_variables, stride * h, float(t[-1] - t[0]), sc, system)
        prior = priors.get("grey_box")
        prior.bind(c)
        starts = torch.arange(0, n - 2, 2)  # the same start states for both strides
        values = {nm: pv[:, j, None].expand(-1, len(starts)) for j, nm in enumerate(system.parameter_names)
                  if nm in prior.free_names}
        raw = prior.encode(values)
        tau = (t[starts + stride] / t[-1])[None, :, None].expand(x.shape[0], -1, 1)
        z = prior.decode(raw, tau, sc.normalise(x[:, starts]))
        errs[stride] = ((sc.denormalise(z) - x[:, starts + stride]).abs() / sc.scale).max().item()
        if stride == 1:
            wrong = {}  # each parameter moved by 3 % of its range, staying inside it
            for k, v in values.items():
                lo, hi = prior.bounds_of[k]
                shift = 0.03 * (hi - lo)
                wrong[k] = torch.where(v + shift < hi, v + shift, v - shift)
            zw = prior.decode(prior.encode(wrong), tau, sc.normalise(x[:, starts]))
            errs["wrong"] = ((sc.denormalise(zw) - x[:, starts + stride]).abs() / sc.scale).max().item()
    return errs


@pytest.mark.parametrize("name", ODE_SYSTEMS)
def test_grey_box_with_true_parameters_reproduces_every_ode_system(name):
    """RK4's local error is O(dt^5): doubling the step multiplies it by ~32 (we require >= 16,
    i.e. at least 4th order), unless both are at the reference solver's floor (1e-9)."""
    e = _one_step_errors(name)
    floor = 1e-9
    assert e[1] < 1e-3, e  # at the system's own sampling interval
    assert e[2] >= 16 * e[1] or e[2] < floor, e
    # parameters off by 3 % of their range are clearly worse than the truth
    assert e["wrong"] > 10 * e[1], e


def test_grey_box_substeps_converge_at_fourth_order():
    lorenz = systems.get("lorenz63")
    x0 = torch.tensor([[1.0, 2.0, 20.0]], dtype=F64)
    p = lorenz.parameter_vector()
    f = lambda t, x: lorenz.rhs(t, x, p)  # noqa: E731
    ref = rk4_step(f, 0.0, x0, 0.02, substeps=64)
    e1 = (rk4_step(f, 0.0, x0, 0.02, 1) - ref).abs().max().item()
    e2 = (rk4_step(f, 0.0, x0, 0.02, 2) - ref).abs().max().item()
    assert 13 < e1 / e2 < 19  # 2^4 = 16 for a fixed interval split into substeps
    sc = Scaler(torch.zeros(3, dtype=F64), torch.ones(3, dtype=F64))
    gb = bound("grey_box", BindContext(3, 0.04, 1.0, sc, lorenz), substeps=2)
    raw = gb.encode({n: float(v) for n, v in zip(lorenz.parameter_names, p)})
    out = gb.decode(raw[None], torch.tensor([[0.04]], dtype=F64), x0)
    torch.testing.assert_close(out, rk4_step(f, 0.0, x0, 0.04, 2), rtol=1e-10, atol=1e-10)


def test_grey_box_is_differentiable_in_raw():
    lv = systems.get("lotka_volterra")
    p = bound("grey_box", ctx(2, lv))
    raw = torch.zeros(3, 4, requires_grad=True)
    z = p.decode(raw, torch.full((3, 1), 0.5), torch.ones(3, 2))
    z.sum().backward()
    assert torch.isfinite(raw.grad).all() and raw.grad.abs().sum() > 0


# ---- residual -----------------------------------------------------------------------------------
def _msd_root_mean(sc: Scaler, k: float, x0s=(1.0, 0.5, -0.7)):
    def root_mean(tau: torch.Tensor) -> torch.Tensor:  # tau (T, 1) shared by a batch of 3
        t = tau[:, 0] * 1.0
        sol = torch.stack([systems.MassSpringDamper.analytic(t, x0, 0.0, 0.03, k, 0.1) for x0 in x0s])
        return sc.normalise(sol)  # (3, T, 2)

    return root_mean


def test_residual_penalty_vanishes_on_the_exact_solution_only():
    msd = systems.get("mass_spring_damper")
    sc = Scaler(torch.tensor([0.1, -0.2], dtype=F64), torch.tensor([0.6, 9.0], dtype=F64))
    p = bound("residual", BindContext(2, 1 / 255, 1.0, sc, msd), weight=1.0)
    assert p.n_outputs == 2
    tau = torch.linspace(0, 1, 64, dtype=F64)[:, None]
    exact = p.penalty(_msd_root_mean(sc, 10.0), tau)
    wrong = p.penalty(_msd_root_mean(sc, 12.0), tau)
    assert exact.item() < 1e-20
    assert wrong.item() > 1.0
    # params override the system's values: now the k = 12 solution is the exact one
    q = bound("residual", BindContext(2, 1 / 255, 1.0, sc, msd), params={"k": 12.0})
    assert q.penalty(_msd_root_mean(sc, 12.0), tau).item() < 1e-20


def test_residual_penalty_gradient_reaches_network_weights():
    msd = systems.get("mass_spring_damper")
    c = ctx(2, msd)
    p = bound("residual", c, weight=2.0)
    net = torch.nn.Sequential(torch.nn.Linear(1, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2)).double()
    tau = torch.linspace(0, 1, 10, dtype=F64)[:, None]
    loss = p.penalty(lambda s: net(s).expand(4, -1, -1), tau)  # broadcast over a batch of 4
    loss.backward()
    assert loss.item() > 0 and all(torch.isfinite(w.grad).all() for w in net.parameters())
    assert net[0].weight.grad.abs().sum() > 0


def test_time_derivative_matches_finite_differences_under_broadcasting():
    w = torch.tensor([[1.0], [2.0], [3.0]], dtype=F64)  # (B, 1)

    def fn(tau):  # tau (T, 1) -> (B, T, 1)
        return torch.sin(w[:, None, :] * tau[None])

    tau = torch.linspace(0, 1, 7, dtype=F64)[:, None]
    _, dy = priors.time_derivative(fn, tau)
    torch.testing.assert_close(dy, w[:, None, :] * torch.cos(w[:, None, :] * tau[None]))


# ---- hybrid -------------------------------------------------------------------------------------
def test_hybrid_with_zero_correction_equals_grey_box_and_learns():
    duff = systems.get("duffing")  # time-dependent right-hand side
    c = ctx(2, duff, dt=0.05, duration=50.0)
    gb = bound("grey_box", c)
    hy = bound("hybrid", c, hidden=8, seed=1)
    assert hy.n_outputs == gb.n_outputs == 5
    raw = torch.randn(6, 5, generator=gen(11), dtype=F64)
    tau = torch.rand(6, 1, generator=gen(12), dtype=F64)
    z = torch.randn(6, 2, generator=gen(13), dtype=F64)
    assert torch.equal(hy.decode(raw, tau, z), gb.decode(raw, tau, z))
    for n in gb.free_names:
        assert torch.equal(hy.interpret(raw)[n], gb.interpret(raw)[n])
    # the correction is learnable: gradients reach its zero-initialised last layer, and a non-zero
    # correction changes the step
    params = list(hy.parameters())
    assert params and all(q.requires_grad for q in params)
    hy.decode(raw, tau, z).pow(2).sum().backward()
    assert hy.correction[-1].weight.grad.abs().sum() > 0
    with torch.no_grad():
        hy.correction[-1].bias.fill_(0.1)
    assert (hy.decode(raw, tau, z) - gb.decode(raw, tau, z)).abs().max() > 1e-6
    # same seed, same initial network; rebinding keeps the trained weights
    hy2 = bound("hybrid", c, hidden=8, seed=1)
    assert torch.equal(hy2.correction[0].weight, hy.correction[0].weight)
    hy.bind(c)
    assert hy.correction[-1].bias[0].item() == pytest.approx(0.1)


def test_grey_box_parameters_are_identifiable_by_gradient_descent_on_lorenz():
    """Fitting only the 3 raw outputs (constant in time) to a 100-step noiseless Lorenz-63 context
    recovers sigma, rho, beta to 1 %: the clamp and the RK4 step give a usable gradient path."""
    lorenz = systems.get("lorenz63")
    ds = lorenz.simulate(1, (0.0, 0.99), 100, params={"sigma": 10.5, "rho": 27.0, "beta": 2.5}, seed=0,
                         rtol=1e-10, atol=1e-12)
    x, t = systems.trajectories_to_tensor(ds)
    sc = Scaler(x[0].mean(0), x[0].std(0))
    prior = bound("grey_box", BindContext(3, 0.01, 0.99, sc, lorenz))
    raw = torch.zeros(3, dtype=F64, requires_grad=True)
    z = sc.normalise(x)
    tau = (t[1:] / t[-1])[None, :, None]
    opt = torch.optim.LBFGS([raw], lr=1.0, max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = (prior.decode(raw.expand(1, 99, 3), tau, z[:, :-1]) - z[:, 1:]).pow(2).mean()
        loss.backward()
        return loss

    opt.step(closure)
    est = prior.interpret(raw.detach())
    for name, true in (("sigma", 10.5), ("rho", 27.0), ("beta", 2.5)):
        assert abs(est[name].item() / true - 1) < 0.01, (name, est[name].item())
