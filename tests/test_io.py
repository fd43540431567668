"""NetCDF round trip (exact), atomic writes, and clear errors."""
from __future__ import annotations

import os

import netCDF4
import numpy as np
import pytest
import xarray as xr

from warp_phys.io import open_trajectories, to_netcdf
from warp_phys.systems import get


@pytest.fixture(scope="module")
def ds() -> xr.Dataset:
    return get("msd").simulate(4, (0.0, 0.5), 17, params="test", seed=5)


def test_round_trip_is_exact(ds, tmp_path):
    path = to_netcdf(ds, tmp_path / "msd.nc")
    back = open_trajectories(path)
    assert ds.identical(back)
    for name, var in ds.variables.items():  # bit-exact values, same kinds, same attribute types
        assert np.array_equal(var.values, back[name].values), name
        assert var.dtype.kind == back[name].dtype.kind, name
        assert var.attrs == back[name].attrs, name
    assert ds.attrs == back.attrs
    assert all(type(ds.attrs[k]) is type(back.attrs[k]) for k in ds.attrs)
    assert list(back.indexes) == list(ds.indexes) and back["variable"].dtype.kind == "U"


def test_no_object_or_vlen_types_on_disk_and_explicit_engine(ds, tmp_path):
    path = to_netcdf(ds, tmp_path / "a.nc", engine="netcdf4")
    with netCDF4.Dataset(path) as nc:
        for name, var in nc.variables.items():
            assert var.dtype is not str and np.dtype(var.dtype).kind in "fiuS", (name, var.dtype)
        assert nc.getncattr("Conventions") == "CF-1.10"
    with pytest.raises(ValueError, match=r"engine must be one of"):
        to_netcdf(ds, tmp_path / "b.nc", engine="scipy")


def test_complex_data_is_refused(ds, tmp_path):
    bad = ds.assign(z=ds["state"] * (1 + 1j))
    with pytest.raises(ValueError, match=r"variable 'z' is complex; .*real and imaginary parts"):
        to_netcdf(bad, tmp_path / "c.nc")
    assert list(tmp_path.iterdir()) == []  # nothing written, no temporary left


def test_overwrite_is_atomic_and_a_failed_write_keeps_the_old_file(ds, tmp_path, monkeypatch):
    path = tmp_path / "d.nc"
    to_netcdf(ds, path)
    other = ds.isel(trajectory=slice(0, 2))
    to_netcdf(other, path)  # overwrite replaces it
    assert open_trajectories(path).identical(other)
    with pytest.raises(FileExistsError, match=r"exists; pass overwrite=True"):
        to_netcdf(ds, path, overwrite=False)

    def crash(self, *args, **kwargs):
        with open(args[0], "wb") as fh:  # a half-written temporary, then a crash
            fh.write(b"CDF\x01 partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        to_netcdf(ds, path)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["d.nc"]  # temporary removed
    assert open_trajectories(path).identical(other)  # old file intact


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.nc"
    with pytest.raises(FileNotFoundError, match=r"nope\.nc"):
        open_trajectories(missing)


def test_file_is_closed_after_loading(ds, tmp_path):
    path = to_netcdf(ds, tmp_path / "e.nc")
    back = open_trajectories(path)
    os.remove(path)  # data was loaded eagerly: still usable
    assert float(back["state"].sum()) == float(ds["state"].sum())


def test_time_has_cf_standard_name_only_with_a_unit_of_time():
    """CF: standard_name 'time' needs a unit of time; the paper protocols' t in [0, 1] is dimensionless."""
    from warp_phys.systems.dataset import time_attrs

    assert get("msd").simulate(2, n_steps=5, seed=0)["time"].attrs["standard_name"] == "time"  # units "s"
    assert "standard_name" not in get("lorenz").simulate(2, n_steps=5, seed=0)["time"].attrs  # units "1"
    assert time_attrs("s")["standard_name"] == "time" and time_attrs("s")["units"] == "s"
    assert "standard_name" not in time_attrs("1") and time_attrs("1")["axis"] == "T"


def test_constant_variables_are_compressed_and_come_back_identical(tmp_path):
    """A point model's prediction_std is all zero: stored compressed (about no bytes), read back exactly."""
    n, t = 64, 512
    rng = np.random.default_rng(0)
    ds = xr.Dataset({"state": (("trajectory", "time"), rng.normal(size=(n, t))),
                     "prediction_std": (("trajectory", "time"), np.zeros((n, t)))},
                    coords={"trajectory": np.arange(n), "time": np.arange(t, dtype=np.float64)})
    to_netcdf(ds, tmp_path / "with.nc")
    to_netcdf(ds.drop_vars("prediction_std"), tmp_path / "without.nc")
    extra = os.path.getsize(tmp_path / "with.nc") - os.path.getsize(tmp_path / "without.nc")
    assert extra < 0.05 * n * t * 8, extra  # uncompressed it would add n * t * 8 bytes
    with netCDF4.Dataset(tmp_path / "with.nc") as nc:
        assert nc["prediction_std"].filters()["zlib"] and not nc["state"].filters()["zlib"]
    xr.testing.assert_identical(open_trajectories(tmp_path / "with.nc"), ds)
