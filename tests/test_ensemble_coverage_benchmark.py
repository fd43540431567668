"""benchmarks/ensemble_coverage.py: its rows follow from the runs (ratios, Jensen's bound, bands)."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import ensemble_coverage as EC  # noqa: E402


def test_quick_run_rows_are_consistent():
    out = EC.main(["--quick", "--systems", "mass_spring_damper", "--variants", "warp", "warp gaussian"])
    rows = out["rows"]
    assert [(r["variant"], r["split"]) for r in rows] == [
        ("warp", "test"), ("warp", "test_id"), ("warp gaussian", "test"), ("warp gaussian", "test_id")]
    for r in rows:
        assert r["ensemble_over_single"] == r["ensemble_mse"] / np.mean(r["single_mse_each"])
        # the MSE of the members' mean is at most the mean of their MSEs (convexity), to rounding
        assert r["ensemble_mse"] <= np.mean(r["single_mse_each"]) * (1 + 1e-9)
        assert 0.0 <= r["coverage_raw"] <= 1.0 and 0.0 <= r["coverage_calibrated"] <= 1.0 and r["std_scale"] > 0
    point, gaussian = rows[0], rows[2]
    assert np.isnan(point["single_coverage"]) and np.isnan(point["single_coverage_calibrated"])
    assert 0.0 <= gaussian["single_coverage"] <= 1.0 and 0.0 <= gaussian["single_coverage_calibrated"] <= 1.0
