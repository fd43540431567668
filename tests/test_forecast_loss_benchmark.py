"""benchmarks/forecast_loss.py: both paths give the same loss, and the table's ratio is full / steps."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import forecast_loss as FL  # noqa: E402


def test_quick_run_times_both_paths_on_the_same_loss():
    rows = FL.main(["--quick"])
    assert [r["name"] for r in rows] == ["WARP (tiny)", "GRU (tiny)"]
    for r in rows:
        assert r["loss_diff"] <= 1e-6 and r["full_s"] > 0 and r["steps_s"] > 0


def test_table_ratio():
    row = dict(name="A", B=2, T=8, n_ctx=4, full_s=0.30, steps_s=0.12, loss_diff=0.0)
    assert FL.table([row]).splitlines()[2] == "| A | 2 | 8 | 4 | 0.3000 | 0.1200 | 2.50x | 0.0e+00 |"
