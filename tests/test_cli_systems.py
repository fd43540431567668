"""`warp-phys systems` and `warp-phys simulate`."""
from __future__ import annotations

import numpy as np
import xarray as xr

from warp_phys.cli import main
from warp_phys.systems import available


def test_systems_table_lists_every_system(capsys):
    assert main(["systems"]) == 0
    out = capsys.readouterr().out
    for name in available():
        assert f"| {name} " in out
    assert "sigma, rho, beta" in out and "Lyapunov time 1.1" in out and "msd" in out


def test_simulate_writes_a_cf_file_xarray_reads(tmp_path, capsys):
    path = tmp_path / "l.nc"
    path.write_text("old content")  # an existing file is replaced
    rc = main(["simulate", "lorenz", "-n", "4", "--steps", "50", "--t-end", "1", "-o", str(path),
               "--seed", "2", "-q"])
    assert rc == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "wrote" in out and "4 trajectory x 50 time x 3 variable" in out
    with xr.open_dataset(path) as ds:
        assert ds.attrs["Conventions"] == "CF-1.10" and ds.attrs["featureType"] == "trajectory"
        assert ds["state"].dims == ("trajectory", "time", "variable")
        assert ds.sizes["time"] == 50 and float(ds["time"][-1]) == 1.0
        assert list(ds["variable"].values) == ["x", "y", "z"] and "rho" in ds.coords
        assert ds.attrs["system"] == "lorenz63" and ds.attrs["seed"] == 2
        assert ds["rho"].attrs["units"] == "1" and ds["state"].attrs["long_name"]
        assert np.isfinite(ds["state"].values).all()


def test_simulate_scipy_backend_and_test_params(tmp_path):
    path = tmp_path / "m.nc"
    assert main(["simulate", "msd", "-n", "2", "--steps", "20", "--backend", "scipy", "--params", "test",
                 "--protocol", "paper", "-o", str(path), "-q"]) == 0
    with xr.open_dataset(path) as ds:
        assert ds.attrs["backend"] == "scipy" and ds.attrs["params_source"] == "test"
        assert ds.attrs["protocol"] == "paper" and float(ds["x_0"][0]) == 1.0


def test_simulate_bad_input_exits_2_with_a_message(tmp_path, capsys):
    assert main(["simulate", "lorenzz", "-o", str(tmp_path / "x.nc")]) == 2
    assert "Did you mean 'lorenz63'" in capsys.readouterr().err
    assert main(["simulate", "msd", "--steps", "1", "-o", str(tmp_path / "x.nc"), "-q"]) == 2
    assert "n_steps must be an integer >= 2" in capsys.readouterr().err
    assert not (tmp_path / "x.nc").exists()
