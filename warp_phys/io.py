"""NetCDF input/output with an exact round trip of what the package writes.

``to_netcdf`` writes through a temporary file in the target directory and renames it into
place (``os.replace``), so a crash never leaves a half-written file. Text coordinates are
stored as fixed-width character arrays (no variable-length/object types on disk); complex
data is refused. ``open_trajectories`` loads eagerly, closes the file and restores the
in-memory form, so ``ds.identical(open_trajectories(path))`` holds.
"""
from __future__ import annotations

import os

from pathlib import Path

import numpy as np
import xarray as xr

from warp_phys.atomic import atomic_write

ENGINES = ("netcdf4", "h5netcdf")


def _check_encodable(ds: xr.Dataset) -> None:
    for name, var in ds.variables.items():
        kind = var.dtype.kind
        if kind == "c":
            raise ValueError(f"variable {name!r} is complex; NetCDF has no complex type: store its real "
                             f"and imaginary parts as two float variables")
        if kind == "O":
            vals = var.values.ravel()
            if not all(isinstance(v, str) for v in vals):
                raise ValueError(f"variable {name!r} has object dtype; convert it to a numeric or str array")
        if kind in "mM":
            continue
    for key, val in ds.attrs.items():
        if isinstance(val, (bool, np.bool_)) or val is None or isinstance(val, dict):
            raise ValueError(f"global attribute {key!r}={val!r} cannot be stored in NetCDF; "
                             "use a number or a string (e.g. json.dumps for dicts)")


def _encoding(ds: xr.Dataset) -> dict[str, dict]:
    enc: dict[str, dict] = {}
    for name, var in ds.variables.items():
        kind = var.dtype.kind
        if kind in "UO":  # text: fixed-width chars on disk
            enc[name] = {"dtype": "S1"}
        elif kind == "f" and name in ds.coords:
            enc[name] = {"_FillValue": None}
    return enc


def to_netcdf(ds: xr.Dataset, path: str | os.PathLike, *, engine: str = "netcdf4", overwrite: bool = True) -> Path:
    """Write ``ds`` to ``path`` atomically (temporary file + rename). Returns the path.

    Raises FileExistsError when ``path`` exists and ``overwrite`` is False, ValueError for an
    unknown engine or data NetCDF cannot hold (complex, objects).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True or choose another path")
    if path.is_dir():
        raise ValueError(f"{path} is a directory; pass a file path such as {path / 'data.nc'}")
    _check_encodable(ds)
    return atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine=engine, encoding=_encoding(ds)))


def _py(value):
    """numpy scalar/array attribute -> the Python value it was written from."""
    if isinstance(value, np.ndarray):
        return value.tolist() if value.ndim else value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def open_trajectories(path: str | os.PathLike, *, engine: str | None = None) -> xr.Dataset:
    """Load a file written by ``to_netcdf`` fully into memory (file closed) in its exact
    in-memory form. Raises FileNotFoundError naming the path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such NetCDF file: {path}")
    engine = engine or "netcdf4"
    with xr.open_dataset(path, engine=engine, decode_times=False, decode_timedelta=False) as src:
        ds = src.load()
    ds = ds.copy()
    for name in list(ds.variables):
        var = ds.variables[name]
        if var.dtype.kind in "OS":  # restore text as numpy str
            vals = var.values
            text = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in vals.ravel()],
                            dtype=str).reshape(vals.shape)
            new = xr.Variable(var.dims, text, attrs=var.attrs, encoding=var.encoding)
            if name in ds.coords:
                ds = ds.assign_coords({name: new})
            else:
                ds[name] = new
    ds.attrs = {k: _py(v) for k, v in ds.attrs.items()}
    for name in ds.variables:
        ds.variables[name].attrs = {k: _py(v) for k, v in ds.variables[name].attrs.items()}
    return ds
