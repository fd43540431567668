"""benchmarks/complete.py's linear reference: a ridge regression of the unobserved part on the
observed part, the ridge chosen on validation."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import complete as CO  # noqa: E402


def test_linear_completion_recovers_a_linear_map_and_chooses_the_ridge_on_validation():
    rng = np.random.default_rng(0)
    M, b = rng.normal(size=(6, 4)), rng.normal(size=4)

    def images(n: int, noise: float) -> np.ndarray:
        top = rng.normal(size=(n, 6))
        return np.concatenate([top, top @ M + b + noise * rng.normal(size=(n, 4))], axis=1)

    train, val, test = images(200, 0.0), images(50, 0.0), images(50, 0.0)
    pred, ridge, val_mse = CO.linear_completion(train, val, test, observed=6)
    # noiseless: the least ridge wins and its bias is O(ridge / n) relative
    assert ridge == min(CO.RIDGES) and val_mse < 1e-6
    np.testing.assert_allclose(pred, test[:, 6:], atol=1e-3)
    # a few noisy training images with many inputs: a larger ridge generalises better on validation
    wide_M = rng.normal(size=(40, 4))
    top = rng.normal(size=(45, 40))
    noisy = np.concatenate([top, top @ wide_M + 3.0 * rng.normal(size=(45, 4))], axis=1)
    top_v = rng.normal(size=(200, 40))
    clean_v = np.concatenate([top_v, top_v @ wide_M], axis=1)
    _, ridge_noisy, _ = CO.linear_completion(noisy, clean_v, clean_v, observed=40)
    assert ridge_noisy > min(CO.RIDGES)
