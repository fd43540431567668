"""benchmarks/paper_table.py end to end at the tests' tiny scale: the data are simulated once
per (dataset, seed) and shared by the models, and an interrupted run resumes from its
JSON-lines file without running the finished models again."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import paper_table as PT  # noqa: E402

ARGS = ["--scale", "tiny", "--datasets", "msd", "--models", "warp", "gru", "--seeds", "0", "--device", "cpu"]


@pytest.mark.slow
def test_tiny_run_resumes_without_rerunning(tmp_path, monkeypatch, capsys):
    resume = tmp_path / "runs.jsonl"
    first = PT.main([*ARGS, "--resume", str(resume)])
    lines = resume.read_text().splitlines()
    assert [json.loads(x)["model"] for x in lines] == ["warp", "gru"]
    assert "Estimated run time: 2 runs to do (0 already finished)" in capsys.readouterr().out

    # a torn last line (killed while writing) is ignored; finished runs are not run again
    resume.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])
    calls = []
    real = PT.run_one
    monkeypatch.setattr(PT, "run_one", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    second = PT.main([*ARGS, "--resume", str(resume)])
    assert calls == ["gru"]
    assert "Estimated run time: 1 runs to do (1 already finished)" in capsys.readouterr().out
    by_model = {r["model"]: r for r in second["rows"]}
    assert by_model["warp"]["mse"] == first["rows"][0]["mse"]
    # same seed, same data, same numbers: the rerun gru matches the first run's
    assert by_model["gru"]["mse"] == pytest.approx(first["rows"][1]["mse"], rel=1e-6)


def test_shared_splits_are_what_reconstruct_simulates():
    import warp_phys

    splits = PT.simulate_dataset("msd", 3, "tiny")
    rec = warp_phys.reconstruct(system="mass_spring_damper", protocol="paper", context=100, model="persistence",
                                seed=3, progress=False, device="cpu", **PT.SIZES["tiny"]["msd"])
    assert set(splits.tests) == set(rec.datasets)
    for name, ds in splits.tests.items():
        assert (ds["state"].values == rec.datasets[name]["state"].values).all()
