"""Reading the user's data file for ``warp-phys reconstruct --data FILE``.

Three formats, told apart by the file's suffix:

* NetCDF (``.nc``, ``.nc4``, ``.cdf``, ``.netcdf``): a file written by `warp_phys.to_netcdf`
  (checksums verified) or by xarray / another NetCDF writer, with a variable
  ``state(trajectory, time, variable)`` and a numeric ``time`` coordinate; or
  ``state(time[, variable])``: one series (cut into windows with ``--window``). Only
  ``state`` and its coordinates are read.
* Zarr (a ``.zarr`` directory, e.g. from ``warp-phys simulate NAME --out x.zarr``) with
  ``state(trajectory, time, variable)``: not read here; `warp_phys.reconstruct` streams it from
  disk in batches (data larger than memory; `warp_phys.pipeline.streamed`).
* CSV (``.csv``): a header row, then one row per time step, comma separated; ``#`` lines are
  comments. Columns ``time,<var1>,<var2>,...``: one series (needs ``--window``); columns
  ``trajectory,time,<var1>,...``: several trajectories, each on the same times, rows grouped
  or interleaved in any order of trajectories (times increasing within each).
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from warp_phys.validation import InputError

NETCDF_SUFFIXES = (".nc", ".nc4", ".cdf", ".netcdf")
CSV_SUFFIXES = (".csv",)
ZARR_SUFFIXES = (".zarr",)


@dataclass
class DataFile:
    """What `warp_phys.reconstruct` gets: ``data`` (a Dataset, an array (N, T, d) or a series
    (T, d)), ``time`` (T,) or None, ``variables`` (names) or None; ``series``: one series."""

    data: Any
    time: np.ndarray | None
    variables: list[str] | None
    series: bool


def check_data_path(path: Any, name: str = "--data") -> Path:
    """An existing, readable file of a known format; InputError otherwise (before any work)."""
    p = Path(str(path)).expanduser()
    if not p.exists():
        raise InputError(f"{name}: no such file {str(path)!r}; check the path (relative paths are read from "
                         f"{os.getcwd()})")
    if p.suffix.lower() in ZARR_SUFFIXES and p.is_dir():
        return p
    if not p.is_file():
        raise InputError(f"{name}: {str(path)!r} is not a file; pass a NetCDF (.nc) or CSV (.csv) file or a "
                         ".zarr store")
    if not os.access(p, os.R_OK):
        raise InputError(f"{name}: {str(path)!r} is not readable; change its permissions (chmod u+r)")
    if p.suffix.lower() not in NETCDF_SUFFIXES + CSV_SUFFIXES:
        raise InputError(f"{name}: {str(path)!r} has suffix {p.suffix!r}; pass a NetCDF file "
                         f"({', '.join(NETCDF_SUFFIXES)}) with state(trajectory, time, variable) or a CSV file "
                         "(.csv) with a header time,<var1>,... (see `warp-phys reconstruct --help`)")
    return p


def _float(value: str, path: Path, line: int, column: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise InputError(f"{path}, line {line}: column {column!r} holds {value!r}, not a number; fix that row "
                         "(use nan for a missing value only where the data allow it)") from None


def _read_csv(path: Path) -> DataFile:
    with open(path, newline="") as fh:
        rows = [(i, r) for i, r in enumerate(csv.reader(fh), start=1)
                if r and any(c.strip() for c in r) and not r[0].lstrip().startswith("#")]
    if not rows:
        raise InputError(f"{path} holds no rows; expected a header time,<var1>,... and one row per step")
    header = [c.strip() for c in rows[0][1]]
    keyed = header[0].lower() == "trajectory"
    lead = 2 if keyed else 1
    if header[lead - 1].lower() != "time" or len(header) <= lead:
        raise InputError(f"{path}: the header is {header}; expected time,<var1>,<var2>,... (one series) or "
                         "trajectory,time,<var1>,... (several trajectories), with at least one variable")
    names = header[lead:]
    table = []
    for line, r in rows[1:]:
        if len(r) != len(header):
            raise InputError(f"{path}, line {line}: {len(r)} columns, but the header has {len(header)}")
        table.append([_float(v, path, line, c) for v, c in zip(r, header)])
    if len(table) < 2:
        raise InputError(f"{path} holds {len(table)} data rows; need at least 2 time steps")
    a = np.asarray(table, dtype=np.float64)
    if not keyed:
        return DataFile(a[:, 1:], a[:, 0], names, series=True)
    ids = list(dict.fromkeys(a[:, 0].tolist()))
    groups = [a[a[:, 0] == k] for k in ids]
    t = groups[0][:, 1]
    for k, g in zip(ids, groups):
        if g.shape[0] != t.shape[0] or not np.array_equal(g[:, 1], t):
            raise InputError(f"{path}: trajectory {k:g} has times that differ from trajectory {ids[0]:g}'s "
                             f"({g.shape[0]} vs {t.shape[0]} rows); every trajectory needs the same time steps")
    return DataFile(np.stack([g[:, 2:] for g in groups]), t, names, series=False)


def _read_netcdf(path: Path) -> DataFile:
    from warp_phys.io import open_trajectories

    ds = open_trajectories(path)
    if "state" not in ds.data_vars:
        raise InputError(f"{path} has no 'state' variable (found {sorted(map(str, ds.data_vars))}); expected "
                         "state(trajectory, time, variable): rename yours, e.g. ds.rename({'x': 'state'})")
    dims = tuple(ds["state"].dims)
    if "time" not in dims:
        raise InputError(f"{path}: state has dims {dims}; expected (trajectory, time, variable) or (time, variable)")
    return DataFile(ds[["state"]], None, None, series="trajectory" not in dims)


def read_data_file(path: Path) -> DataFile:
    """Read a file checked by `check_data_path`; InputError naming the file and the fix."""
    if path.suffix.lower() in CSV_SUFFIXES:
        return _read_csv(path)
    if path.suffix.lower() in ZARR_SUFFIXES:  # streamed from disk by reconstruct (warp_phys.pipeline.streamed)
        return DataFile(str(path), None, None, series=False)
    return _read_netcdf(path)


__all__ = ["CSV_SUFFIXES", "DataFile", "NETCDF_SUFFIXES", "ZARR_SUFFIXES", "check_data_path", "read_data_file"]
