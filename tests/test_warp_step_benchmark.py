"""benchmarks/warp_step.py --only forms: every configuration and mode is timed in both forms, the
worker builds the configuration it is given, and the table's ratio is expand time / default time."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import warp_step as WS  # noqa: E402


def test_form_cases_pair_every_configuration_and_mode():
    cases = WS.form_cases({"threads": 1, "device": "cpu", "steps": 1})
    keys = {(c["name"], c["p_force"]) for c in cases}
    assert len(keys) == 4 and len(cases) == 8
    for key in keys:
        assert sorted(c["form"] for c in cases if (c["name"], c["p_force"]) == key) == ["auto", "expand"]
    fed = [c for c in cases if c["p_force"] < 1]
    assert all(c["forward"] == {"feedback_passes": 1, "detach_feedback": True} for c in fed)


def test_forms_table_ratio():
    base = {"batch": 16, "p_force": 1.0}
    rows = [dict(base, name="A", form="expand", time_s=0.30), dict(base, name="A", form="auto", time_s=0.12),
            dict(base, name="B", form="expand", time_s=0.05), dict(base, name="B", form="auto", time_s=0.10)]
    lines = WS.forms_table(rows).splitlines()[2:]
    assert lines[0].endswith("| 0.3000 | 0.1200 | 2.50x |") and lines[1].endswith("| 0.0500 | 0.1000 | 0.50x |")


@pytest.mark.parametrize("form", ["expand", "auto"])
def test_worker_builds_the_medium_black_box(form):
    case = next(c for c in WS.form_cases({"threads": 1, "device": "cpu", "steps": 1})
                if c["name"] == "MSD medium black box" and c["form"] == form and c["p_force"] < 1)
    out = WS.run_case(dict(case, T=32))
    from warp_phys.model import WARP
    ref = WARP(2, width=32, depth=2, transition="subspace", seed=0, **WS.MEDIUM_BLACK_BOX["warp_options"])
    assert out["n_params"] == sum(p.numel() for p in ref.parameters()) and out["time_s"] > 0
