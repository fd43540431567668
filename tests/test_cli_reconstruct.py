"""`warp-phys reconstruct`: writes the NetCDF file and the plot, prints the metrics table."""
import json


from warp_phys.cli import main
from warp_phys.io import open_trajectories


def test_cli_writes_file_plot_and_table(tmp_path, capsys):
    out, png = tmp_path / "msd.nc", tmp_path / "msd.png"
    rc = main(["reconstruct", "msd", "-o", str(out), "--plot", str(png), "--epochs", "1", "--n-train", "8",
               "--context", "192", "--device", "cpu", "--quiet", "--seed", "1"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "mse_persistence" in text and "mse_v" in text
    ds = open_trajectories(out)
    assert {"state", "prediction_mean", "prediction_std", "context"} <= set(ds.data_vars)
    assert int(ds["context"].sum()) == 192 and ds.attrs["seed"] == 1
    metrics = json.loads(ds.attrs["metrics"])
    # the printed table holds the stored mse
    assert f"{metrics['mse']:.4g}" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    # no temporary files left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["msd.nc", "msd.png"]


def test_cli_errors(tmp_path, capsys):
    rc = main(["reconstruct", "msd", "-o", str(tmp_path / "x.nc"), "--model", "nope", "--quiet"])
    assert rc == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    rc = main(["reconstruct", "msd", "-o", str(tmp_path / "missing" / "x.nc"), "--quiet"])
    assert rc == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "x.nc").exists()


def test_cli_reconstructs_a_field_system(tmp_path, capsys):
    out = tmp_path / "burgers.nc"
    rc = main(["reconstruct", "burgers", "-o", str(out), "--model", "persistence", "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    ds = open_trajectories(out)
    assert {"prediction_mean", "context"} <= set(ds.data_vars)
    truth = [v for v in ds.data_vars if v not in ("prediction_mean", "prediction_std", "context")
             and ds[v].dims == ds["prediction_mean"].dims]
    assert truth, "the truth field is stored beside the forecast"
    # persistence holds the last observed field: every forecast step equals it exactly
    ctx = int(ds["context"].sum())
    mean = ds["prediction_mean"].isel(time=slice(ctx, None)).values
    last = ds[truth[0]].isel(time=ctx - 1).values
    assert abs(mean - last[:, None]).max() == 0.0
    assert "rel_l2" in text


def test_cli_batches_per_epoch_reaches_the_trainer(tmp_path):
    out = tmp_path / "msd.nc"
    rc = main(["reconstruct", "msd", "-o", str(out), "--epochs", "2", "--n-train", "8", "--device", "cpu",
               "--quiet", "--batches-per-epoch", "3", "--val-horizon", "20", "--transition-input", "moments"])
    assert rc == 0
    recipe = json.loads(open_trajectories(out).attrs["recipe"])
    assert recipe["batches_per_epoch"] == 3 and recipe["epochs"] == 2 and recipe["val_horizon"] == 20
    assert json.loads(open_trajectories(out).attrs["model_options"])["transition_input"] == "moments"


def test_cli_ar_lags_reach_warp(tmp_path):
    out = tmp_path / "msd.nc"
    rc = main(["reconstruct", "msd", "-o", str(out), "--epochs", "1", "--n-train", "8", "--device", "cpu", "--quiet",
               "--prior", "increment", "--ar-lags", "3", "--ar-gate"])
    assert rc == 0
    options = json.loads(open_trajectories(out).attrs["model_options"])
    assert options["ar_lags"] == 3 and options["ar_gate"] is True


def test_cli_context_scaling_reaches_the_recipe(tmp_path):
    out = tmp_path / "msd.nc"
    rc = main(["reconstruct", "msd", "-o", str(out), "--epochs", "1", "--n-train", "8", "--device", "cpu", "--quiet",
               "--context-scaling"])
    assert rc == 0
    assert json.loads(open_trajectories(out).attrs["recipe"])["context_scaling"] is True


def test_cli_parameter_fit_reaches_warp(tmp_path):
    out = tmp_path / "msd.nc"
    rc = main(["reconstruct", "msd", "-o", str(out), "--epochs", "1", "--n-train", "8", "--device", "cpu", "--quiet",
               "--prior", "grey_box", "--parameter-fit"])
    assert rc == 0
    assert json.loads(open_trajectories(out).attrs["model_options"])["parameter_fit"] is True


def test_cli_forecast_weight_reaches_the_recipe(tmp_path, capsys):
    out = tmp_path / "msd.nc"
    rc = main(["reconstruct", "msd", "-o", str(out), "--epochs", "1", "--n-train", "8", "--device", "cpu",
               "--quiet", "--forecast-weight", "0.5"])
    assert rc == 0
    recipe = json.loads(open_trajectories(out).attrs["recipe"])
    assert recipe["forecast_weight"] == 0.5
    rc = main(["reconstruct", "msd", "-o", str(tmp_path / "y.nc"), "--quiet", "--forecast-weight", "-1"])
    assert rc == 2
    assert "forecast_weight must be" in capsys.readouterr().err
