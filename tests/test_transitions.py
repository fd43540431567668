"""Transitions A: parallel recurrences equal the step-by-step loop for every type."""
import pytest
import torch

from warp_phys import transitions
from warp_phys.transitions import linear_scan, make_transition

# the transitions whose state is theta alone (A acts on theta; `step` is defined)
TRANSITIONS = [name for name in transitions.available() if not transitions.get(name).has_memory]

D, d, B, T = 40, 3, 2, 13


def _randomise(tr, g):
    with torch.no_grad():
        for name, p in tr.named_parameters():
            if name == "a":
                p.copy_(1 + 0.05 * torch.randn(p.shape, generator=g, dtype=p.dtype))
            elif name == "A":
                p.copy_(torch.eye(D, dtype=p.dtype) + 0.05 * torch.randn(p.shape, generator=g, dtype=p.dtype))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))


def _data(g):
    theta0 = torch.randn(B, D, generator=g, dtype=torch.float64)
    x = torch.randn(B, T, d, generator=g, dtype=torch.float64)
    return theta0, x


@pytest.mark.parametrize("kind", TRANSITIONS)
def test_parallel_equals_step_loop(kind):
    g = torch.Generator().manual_seed(0)
    tr = make_transition(kind, D, d, rank=3, generator=g).double()
    _randomise(tr, g)
    theta0, x = _data(g)
    loop = [theta0]
    for t in range(1, T):
        # the definition: theta_t = A theta_{t-1} + B (x_t - x_{t-1})
        loop.append(tr.step(loop[-1], x[:, t] - x[:, t - 1]))
    loop = torch.stack(loop, 1)
    torch.testing.assert_close(tr.trajectory(theta0, x), loop, rtol=1e-10, atol=1e-10)
    if kind == "diagonal":
        for method in ("scan", "loop"):
            torch.testing.assert_close(tr.trajectory(theta0, x, method=method), loop, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", ["identity", "lowrank"])
def test_coefficient_steps_equal_parallel_coefficients(kind):
    g = torch.Generator().manual_seed(1)
    tr = make_transition(kind, D, d, rank=3, generator=g).double()
    _randomise(tr, g)
    theta0, x = _data(g)
    coeff = tr.coefficients(theta0, x)
    assert coeff.shape == (B, T, tr.n_coefficients)
    state = tr.init_coefficient_state(theta0, x[:, 0])
    assert coeff[:, 0].abs().max() == 0
    for t in range(1, T):
        state, c = tr.step_coefficients(state, x[:, t])
        torch.testing.assert_close(c, coeff[:, t], rtol=1e-10, atol=1e-10)


def test_steps_match_explicit_matrices():
    g = torch.Generator().manual_seed(2)
    theta, dx = torch.randn(B, D, generator=g, dtype=torch.float64), torch.randn(B, d, generator=g, dtype=torch.float64)
    for kind in TRANSITIONS:
        tr = make_transition(kind, D, d, rank=3, generator=g).double()
        _randomise(tr, g)
        A = {"identity": lambda: torch.eye(D, dtype=torch.float64),
             "lowrank": lambda: torch.eye(D, dtype=torch.float64) + tr.U @ tr.V.T,
             "diagonal": lambda: torch.diag(tr.a),
             "dense": lambda: tr.A}[kind]()
        torch.testing.assert_close(tr.step(theta, dx), theta @ A.T.detach() + dx @ tr.B.T.detach())


def test_lowrank_with_zero_U_equals_identity():
    g = torch.Generator().manual_seed(3)
    low = make_transition("lowrank", D, d, rank=4, generator=g).double()
    ide = make_transition("identity", D, d).double()
    with torch.no_grad():
        Bmat = torch.randn(D, d, generator=g, dtype=torch.float64)
        low.B.copy_(Bmat)
        ide.B.copy_(Bmat)
    assert low.U.abs().max() == 0  # the initialisation
    theta0, x = _data(g)
    torch.testing.assert_close(low.trajectory(theta0, x), ide.trajectory(theta0, x), rtol=0, atol=1e-12)


def test_initialisation_is_identity_and_zero_B():
    for kind in TRANSITIONS:
        tr = make_transition(kind, D, d)
        assert tr.B.abs().max() == 0
        theta = torch.randn(B, D)
        torch.testing.assert_close(tr.step(theta, torch.randn(B, d)), theta)


def test_linear_scan_matrix_and_diagonal():
    g = torch.Generator().manual_seed(4)
    for T_ in (1, 2, 7, 16, 33):
        M = torch.randn(4, 4, generator=g, dtype=torch.float64) * 0.4
        gg = torch.randn(3, T_, 4, generator=g, dtype=torch.float64)
        y = linear_scan(gg, M, lambda a, v: v @ a.T if v.dim() == 3 else a @ v)
        ref = [gg[:, 0]]
        for t in range(1, T_):
            ref.append(ref[-1] @ M.T + gg[:, t])
        torch.testing.assert_close(y, torch.stack(ref, 1))


def test_dense_over_limit_raises_with_alternatives():
    with pytest.raises(ValueError) as err:
        make_transition("dense", 5000, 2, max_dense_params=4096)
    for name in ("identity", "lowrank", "diagonal", "max_dense_params"):
        assert name in str(err.value)
    make_transition("dense", 100, 2, max_dense_params=100)  # at the limit is fine
    with pytest.raises(ValueError, match="unknown transition"):
        make_transition("fancy", 10, 2)
    with pytest.raises(ValueError, match="unknown transition 'lowrnak'. Did you mean 'lowrank'"):
        make_transition("lowrnak", 10, 2)
    assert isinstance(make_transition(" LowRank", 10, 2), transitions.LowRankTransition)  # spelling-insensitive


def test_one_registry_lists_every_transition():
    assert transitions.available() == ["dense", "diagonal", "identity", "lowrank", "subspace"]
    assert TRANSITIONS == ["dense", "diagonal", "identity", "lowrank"]
    assert [n for n in transitions.available() if transitions.get(n).factorable] == ["identity", "lowrank", "subspace"]
    for name in transitions.available():
        assert transitions.get(name).kind == name
        expected = ["input_scale", "max_decay", "max_period", "min_decay", "min_period"] if name == "subspace" else []
        assert transitions.option_names(name) == expected
