"""The clamp of predictions to a band (output_clip) and its gradient outside the band."""
import pytest
import torch

from warp_phys import priors
from warp_phys.checkpoint import model_from_config
from warp_phys.model import WARP
from warp_phys.output_clip import check_output_clip, clip_output

BOUND = 1.0


@pytest.mark.parametrize("gradient", ["zero", "inward"])
def test_the_forward_pass_is_the_clamp(gradient):
    x = torch.linspace(-3, 3, 13, dtype=torch.float64)
    torch.testing.assert_close(clip_output(x, BOUND, gradient), x.clamp(-BOUND, BOUND), rtol=0, atol=0)


def test_inward_gradient_passes_only_towards_the_band():
    # entries: inside, above (twice), below (twice); upstream gradients of both signs
    x = torch.tensor([0.5, 2.0, 2.0, -2.0, -2.0], dtype=torch.float64, requires_grad=True)
    g = torch.tensor([0.7, 0.3, -0.3, 0.4, -0.4], dtype=torch.float64)
    clip_output(x, BOUND, "inward").backward(g)
    # a descent step x -= lr * grad moves x inwards when grad > 0 above the band, grad < 0 below it
    torch.testing.assert_close(x.grad, torch.tensor([0.7, 0.3, 0.0, 0.0, -0.4], dtype=torch.float64))
    x.grad = None
    clip_output(x, BOUND, "zero").backward(g)
    torch.testing.assert_close(x.grad, torch.tensor([0.7, 0.0, 0.0, 0.0, 0.0], dtype=torch.float64))


def _saturated_grad_norm(gradient):
    """Gradient norm of the parameters when every prediction sits on the clamp: increment decoding
    (x_t = x_{t-1} + 0.1 raw) of inputs at 3.0 against a band of half-width 0.05."""
    m = WARP(1, width=8, depth=1, prior=priors.get("increment"), output_clip=0.05, clip_gradient=gradient,
             seed=0).double()
    x = torch.full((4, 10, 1), 3.0, dtype=torch.float64)
    tau = torch.linspace(0, 1, 10, dtype=torch.float64)
    pred = m(x, tau).mean
    assert bool((pred == 0.05).all())  # every step clamped
    loss = (pred ** 2).mean()  # a target inside the band: the gradient points inwards
    grads = torch.autograd.grad(loss, [p for p in m.parameters() if p.requires_grad], allow_unused=True)
    return sum(float(g.norm()) for g in grads if g is not None)


def test_a_saturated_rollout_trains_back_only_with_the_inward_gradient():
    assert _saturated_grad_norm("zero") == 0.0
    assert _saturated_grad_norm("inward") > 1e-3


def test_clip_gradient_is_checked_and_kept_in_the_config():
    with pytest.raises(ValueError, match="clip_gradient"):
        WARP(1, width=8, depth=1, output_clip=1.0, clip_gradient="straight")
    with pytest.raises(ValueError, match="output_clip"):
        check_output_clip(True, "zero")
    m = WARP(1, width=8, depth=1, output_clip=2.0, clip_gradient="inward")
    assert model_from_config("warp_phys.model:WARP", m.config).clip_gradient == "inward"
    assert WARP(1, width=8, depth=1).clip_gradient == "zero"  # the default


def test_reconstruct_passes_clip_gradient_to_warp():
    import numpy as np

    import warp_phys
    from warp_phys.context_scaling import innermost

    t = np.linspace(0, 10, 40)
    X = np.sin(t[None, :] + np.linspace(0, 6, 12)[:, None])[..., None]
    rec = warp_phys.reconstruct(data=X, time=t, context=20, epochs=1, progress=False, output_clip=5.0,
                                clip_gradient="inward")
    assert innermost(rec.model)[0].clip_gradient == "inward"
