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


@pytest.mark.slow
def test_parallel_jobs_give_the_sequential_rows_in_the_same_order(tmp_path):
    """--jobs 2 runs the (dataset, seed) groups in two processes; the table's rows and the
    resume file hold the same runs as one process gives (tiny scale: epoch-capped, seeded)."""
    args = [*ARGS[:-4], "--seeds", "0", "1", "--device", "cpu"]
    one = PT.main([*args, "--resume", str(tmp_path / "one.jsonl")])
    two = PT.main([*args, "--resume", str(tmp_path / "two.jsonl"), "--jobs", "2"])
    key = [(r["dataset"], r["seed"], r["model"]) for r in one["rows"]]
    assert key == [("msd", 0, "warp"), ("msd", 0, "gru"), ("msd", 1, "warp"), ("msd", 1, "gru")]
    assert [(r["dataset"], r["seed"], r["model"]) for r in two["rows"]] == key
    for a, b in zip(one["rows"], two["rows"]):  # one torch thread per job here: summation order may differ
        assert b["mse"] == pytest.approx(a["mse"], rel=1e-4)
    written = [json.loads(x) for x in (tmp_path / "two.jsonl").read_text().splitlines()]
    assert sorted((r["seed"], r["model"]) for r in written) == sorted((s, m) for _, s, m in key)


def test_estimate_deals_groups_longest_first_to_the_jobs():
    # MSD: 7 learned models x 150 s per seed; Sine: 6 (no quadratic prior). Two jobs take one
    # MSD and one Sine seed each: 1050 + 900 s.
    models = PT.default_models("medium")
    line = PT.estimate("medium", ["msd", "sine"], [0, 1], models, {}, jobs=2)
    assert f"training budgets {2 * (1050 + 900) / 3600:.2f} h in all" in line
    assert f"{(1050 + 900) / 3600:.2f} h for the longest of 2 parallel jobs" in line
    assert PT._deal([5.0, 4.0, 3.0, 3.0, 3.0], 2) == [5.0 + 3.0, 4.0 + 3.0 + 3.0]


def test_jobs_refused_on_a_gpu_and_below_one(monkeypatch, capsys):
    with pytest.raises(SystemExit):
        PT.main([*ARGS, "--jobs", "0"])
    assert "--jobs must be at least 1" in capsys.readouterr().err
    import torch

    monkeypatch.setattr(PT, "resolve_device", lambda _: torch.device("cuda"))  # no GPU needed to refuse
    with pytest.raises(SystemExit):
        PT.main([*ARGS, "--jobs", "2"])
    assert "no longer train at equal budget" in capsys.readouterr().err


def test_observation_noise_reaches_data_and_settings_and_is_not_resumed_from_clean_runs(tmp_path, monkeypatch,
                                                                                        capsys):
    monkeypatch.setattr(PT, "RUN_OPTIONS", {})  # main() sets the module's options for its runs
    resume = tmp_path / "runs.jsonl"
    args = ["--scale", "tiny", "--datasets", "msd", "--models", "ode_fit", "--seeds", "0", "--device", "cpu",
            "--resume", str(resume)]
    clean = PT.main(args)
    noisy = PT.main([*args, "--observation-noise", "0.05"])
    out = capsys.readouterr().out
    assert "Estimated run time: 1 runs to do (0 already finished)" in out.split("observation noise")[-1]
    assert noisy["rows"][0]["settings"]["observation_noise"] == 0.05
    assert "observation_noise" not in clean["rows"][0]["settings"]
    # the same test trajectories, whose contexts are now noisy: a least-squares fit of the known
    # equations that was exact to solver precision is not any more
    assert noisy["rows"][0]["mse"] > 100 * clean["rows"][0]["mse"]
    with pytest.raises(SystemExit):
        PT.main([*args, "--datasets", "lv_segment", "--observation-noise", "0.05"])
    assert "leave out lv_segment" in capsys.readouterr().err
