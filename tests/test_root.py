"""Root network: layout of theta, plain evaluation, factored evaluation."""
import pytest
import torch
from torch.nn import functional as F

from warp_phys.root import RootNetwork


def test_layout_size_and_plain_matches_reference_mlp():
    root = RootNetwork(n_in=3, n_out=2, width=5, depth=2, activation="tanh")
    assert root.size == (3 * 5 + 5) + (5 * 5 + 5) + (5 * 2 + 2)
    g = torch.Generator().manual_seed(0)
    theta = torch.randn(root.size, generator=g, dtype=torch.float64)
    x = torch.randn(7, 3, generator=g, dtype=torch.float64)
    # reference: unpack by hand in the documented layout (W row-major, then b, per layer)
    h, off = x, 0
    for i, (fi, fo) in enumerate([(3, 5), (5, 5), (5, 2)]):
        W = theta[off : off + fi * fo].view(fo, fi)
        b = theta[off + fi * fo : off + fi * fo + fo]
        off += fi * fo + fo
        h = F.linear(h, W, b)
        if i < 2:
            h = torch.tanh(h)
    out = root.evaluate(theta.expand(7, -1), x)
    torch.testing.assert_close(out, h, rtol=0, atol=1e-12)


@pytest.mark.parametrize("form", ["auto", "expand", "contract"])
@pytest.mark.parametrize("n_in", [1, 3])
def test_factored_equals_plain(n_in, form):
    root = RootNetwork(n_in=n_in, n_out=4, width=16, depth=3, activation="swish", factored_form=form)
    g = torch.Generator().manual_seed(1)
    B, T, K = 3, 11, 5
    theta0 = root.init_theta(g).double().expand(B, -1) + 0.1 * torch.randn(B, root.size, generator=g, dtype=torch.float64)
    basis = 0.1 * torch.randn(K, root.size, generator=g, dtype=torch.float64)
    coeff = torch.randn(B, T, K, generator=g, dtype=torch.float64)
    inputs = torch.randn(B, T, n_in, generator=g, dtype=torch.float64)
    plain = root.evaluate(theta0.unsqueeze(1) + coeff @ basis, inputs)
    fact = root.evaluate_factored(theta0, basis, coeff, inputs)
    torch.testing.assert_close(fact, plain, rtol=0, atol=1e-12)
    # float32: agreement to 1e-5
    fact32 = root.evaluate_factored(theta0.float(), basis.float(), coeff.float(), inputs.float())
    assert (fact32.double() - plain).abs().max() < 1e-5


@pytest.mark.parametrize("form", ["auto", "expand", "contract"])
def test_factored_without_autograd_equals_factored(form):
    """The training's passes without autograd (buffers reused, in-place sums) give the outputs
    of evaluate_factored, in every form, twice in a row with the same buffers."""
    from warp_phys.rollout import _factored_no_grad

    root = RootNetwork(n_in=3, n_out=2, width=16, depth=2, activation="swish", factored_form=form)
    g = torch.Generator().manual_seed(2)
    B, T, K = 4, 9, 6
    theta0 = root.init_theta(g).double().expand(B, -1) + 0.1 * torch.randn(B, root.size, generator=g, dtype=torch.float64)
    basis = 0.1 * torch.randn(K, root.size, generator=g, dtype=torch.float64)
    layers = root.factored_layers(theta0, basis)
    work = {}
    for _ in range(2):
        coeff = torch.randn(B, T, K, generator=g, dtype=torch.float64)
        inputs = torch.randn(B, T, 3, generator=g, dtype=torch.float64)
        want = root.evaluate(theta0.unsqueeze(1) + coeff @ basis, inputs)
        torch.testing.assert_close(_factored_no_grad(root, layers, coeff, inputs, work), want, rtol=0, atol=1e-12)


def test_bad_arguments():
    with pytest.raises(ValueError, match="factored_form"):
        RootNetwork(1, 1, factored_form="fast")
    with pytest.raises(ValueError, match="activation"):
        RootNetwork(1, 1, activation="nope")
    root = RootNetwork(1, 1, width=4, depth=1)
    with pytest.raises(ValueError, match="D="):
        root.evaluate(torch.zeros(2, root.size + 1), torch.zeros(2, 1))
