"""warp_phys.sampled_forecast: ancestral sampling of a gaussian WARP model's forecast.

The reference is a Gaussian random walk: a WARP model with increment decoding
(x_t = x_{t-1} + 0.1 raw) whose parameters are all zero emits raw = 0, so its mean is the last
fed-back value and its std the constant softplus(0) + std_floor = ln 2 + 1e-3. Fed its own
draws, the k-th forecast step (k = 1, 2, ...) is x_{n_ctx - 1} + the sum of k independent
N(0, s^2) draws: mean x_{n_ctx - 1}, variance k s^2. The plain forecast reports s at every step.
With ``hold_after_context`` the held outputs are the same zeros: the same walk.
"""
from __future__ import annotations

import math

import pytest
import torch

from warp_phys import priors
from warp_phys.model import WARP
from warp_phys.sampled_forecast import sampled_forecast
from warp_phys.validation import InputError

S = math.log(2.0) + 1e-3
N_CTX, T = 5, 25


def random_walk(hold: bool) -> WARP:
    m = WARP(1, width=8, depth=1, prior=priors.get("increment"), output="gaussian", hold_after_context=hold,
             seed=0).double()
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
    return m


@pytest.mark.parametrize("hold", [False, True], ids=["rollout", "held outputs"])
def test_the_band_of_a_random_walk_grows_as_the_square_root_of_the_steps(hold):
    """Both forecast paths: the recurrence run on the sampled values, and the held outputs of a
    ``hold_after_context`` model advancing each sampled state."""
    model = random_walk(hold)
    x_ctx = torch.full((1, N_CTX, 1), 0.7, dtype=torch.float64)
    tau = torch.linspace(0, 1, T, dtype=torch.float64)
    samples = 4000
    pred = sampled_forecast(model, x_ctx, tau, samples=samples, generator=torch.Generator().manual_seed(0))
    k = torch.arange(1, T - N_CTX + 1, dtype=torch.float64)
    var = pred.std[0, N_CTX:, 0] ** 2
    # Monte Carlo: the sample variance of n draws has relative std sqrt(2 / n); 5 of those.
    torch.testing.assert_close(var / (k * S ** 2), torch.ones_like(k), rtol=0, atol=5 * math.sqrt(2 / samples))
    # the mean: 0.7 + a sum of k draws averaged over the paths, std sqrt(k / n) s
    assert float((pred.mean[0, N_CTX:, 0] - 0.7).abs().div(S * (k / samples).sqrt()).max()) < 5
    plain = model.forecast(x_ctx, tau)
    torch.testing.assert_close(plain.std[0, N_CTX:, 0], torch.full_like(k, S))
    # the context's one-step predictions are the same on every path: the mixture adds nothing there
    torch.testing.assert_close(pred.std[:, :N_CTX], plain.std[:, :N_CTX])
    torch.testing.assert_close(pred.mean[:, :N_CTX], plain.mean[:, :N_CTX])


def test_zero_noise_is_the_plain_forecast_and_a_seed_repeats():
    torch.manual_seed(0)
    # the root network reads the previous value: what is fed back matters
    model = WARP(2, width=8, depth=1, output="gaussian", prev_obs_input=True, seed=1).double()
    x_ctx = torch.randn(3, N_CTX, 2, dtype=torch.float64)
    tau = torch.linspace(0, 1, T, dtype=torch.float64)
    x = torch.cat([x_ctx, x_ctx.new_zeros(3, T - N_CTX, 2)], 1)
    force = (torch.arange(T) < N_CTX).expand(3, T)
    plain = model.forecast(x_ctx, tau)
    zero = model.rollout(x, tau, force, noise=torch.zeros_like(x), sample=True)
    assert bool(torch.isfinite(plain.mean).all())
    torch.testing.assert_close(zero.mean, plain.mean, rtol=0, atol=0)
    first = sampled_forecast(model, x_ctx, tau, samples=8, generator=torch.Generator().manual_seed(3))
    again = sampled_forecast(model, x_ctx, tau, samples=8, generator=torch.Generator().manual_seed(3))
    other = sampled_forecast(model, x_ctx, tau, samples=8, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(first.std, again.std, rtol=0, atol=0)
    assert not torch.equal(first.std, other.std)
    # the sampled paths spread: the mixture's std exceeds the plain one-step std late in the forecast
    assert bool((first.std[:, -1] > plain.std[:, -1]).all())


def test_bad_models_and_settings_raise():
    tau = torch.linspace(0, 1, T)
    x_ctx = torch.zeros(1, N_CTX, 1)
    with pytest.raises(InputError, match="output='gaussian'"):
        sampled_forecast(WARP(1, width=8, depth=1), x_ctx, tau)
    with pytest.raises(InputError, match="samples"):
        sampled_forecast(WARP(1, width=8, depth=1, output="gaussian"), x_ctx, tau, samples=0)
    x = torch.zeros(1, T, 1)
    with pytest.raises(ValueError, match="sample=True"):
        WARP(1, width=8, depth=1).rollout(x, tau, torch.zeros(1, T, dtype=torch.bool), noise=x, sample=True)
