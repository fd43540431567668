"""NetCDF input/output with an exact, checksummed round trip of what the package writes.

``to_netcdf`` writes through a temporary file in the target directory and renames it into
place, so a crash never leaves a half-written file (`warp_phys.atomic`). What it writes
comes back from ``open_trajectories`` exactly: ``ds.identical(open_trajectories(path))``.

* Text is stored as fixed-width character arrays (no variable-length types on disk).
* datetime64/timedelta64 variables are stored as int64 counts with CF units
  ("nanoseconds since 1970-01-01T00:00:00", "nanoseconds"; NaT is the int64 minimum) and the
  attribute ``warp_phys_dtype``, and are restored bit for bit.
* Attributes that are lists of length 0 or 1 (which NetCDF cannot tell from scalars) are
  named in ``warp_phys_list_attrs`` and restored as lists.
* Refused with an InputError, before anything is written: complex, bytes and float16
  data, objects other than str, and attributes that cannot round trip (None, bool, dict,
  bytes, nested or mixed lists) or that would change the data on reading (the CF packing
  attributes ``_FillValue``, ``missing_value``, ``scale_factor``, ``add_offset``,
  ``_Unsigned``). A variable's ``encoding`` is not used, except for compression settings.
* Checksums: every variable carries ``warp_phys_sha256``, the SHA-256 of its name, dims,
  dtype, values (NaNs made canonical) and attributes; the file carries one over the global
  attributes and all variable digests. ``open_trajectories`` recomputes them on what it
  read and raises `CorruptFileError` on any mismatch (``verify=False`` skips the check, for a
  file edited on purpose with another tool). Files without checksums (written by other
  tools, or by warp_phys 0.1.0) are read as before, without a check. A damaged or truncated
  file that the NetCDF library cannot read raises `CorruptFileError` as well.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import xarray as xr

from warp_phys.atomic import FIX, RESTORE, CorruptFileError, atomic_write, exists_message, near_signature
from warp_phys.validation import InputError

ENGINES = ("netcdf4", "h5netcdf")
HASH_ATTR = "warp_phys_sha256"
DTYPE_ATTR = "warp_phys_dtype"
LIST_ATTR = "warp_phys_list_attrs"
_RESERVED = (HASH_ATTR, DTYPE_ATTR, LIST_ATTR)
PACKING_ATTRS = ("_FillValue", "missing_value", "scale_factor", "add_offset", "_Unsigned")
_KEEP_ENCODING = ("zlib", "complevel", "compression", "shuffle", "fletcher32")
_ATTR_DTYPES = {"i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f4", "f8"}
_UNITS = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
_SIGNATURES = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")
EPOCH = "1970-01-01T00:00:00"


def check_engine(engine: Any) -> str:
    """``engine`` if it is a NetCDF engine that is installed; InputError otherwise."""
    if engine not in ENGINES:
        raise InputError(f"engine must be one of {ENGINES}, got {engine!r}")
    installed = [e for e in ENGINES if e in xr.backends.list_engines()]
    if engine not in installed:
        other = f" or pass engine={installed[0]!r}" if installed else ""
        raise InputError(f"engine={engine!r} is not installed (installed NetCDF engines: {installed or 'none'}); "
                         f"install it (pip install {engine}){other}")
    return engine


# ---- what can be written ------------------------------------------------------------
def _check_attr(owner: Any, key: Any, val: Any) -> None:
    """InputError unless attribute ``key``=``val`` survives a NetCDF round trip unchanged."""
    where = "global attribute" if owner is None else f"variable {owner!r} attribute"
    if key in PACKING_ATTRS:
        raise InputError(f"{where} {key!r}={val!r} is a CF packing attribute: NetCDF readers apply it and "
                         f"change the data (masking or scaling). Remove it (del ds[...].attrs[{key!r}]); mark "
                         f"missing values with NaN, or apply the scaling to the data before writing")
    if isinstance(val, str):
        return
    if val is None or isinstance(val, (bool, np.bool_, dict, bytes, bytearray)):
        fix = "decode it (value.decode()) or store base64 text" if isinstance(val, (bytes, bytearray)) else \
            "use a number or a string (e.g. json.dumps for dicts, int(flag) for bools)"
        raise InputError(f"{where} {key!r}={val!r} ({type(val).__name__}) cannot be stored in NetCDF "
                         f"unchanged; {fix}")
    if isinstance(val, (list, tuple)) and any(isinstance(v, (str, bytes, bool, np.bool_)) for v in val) and \
            not all(isinstance(v, str) for v in val):
        raise InputError(f"{where} {key!r}={val!r} mixes text with other values; NetCDF would store them all "
                         f"as text: use a list of numbers or a list of str")
    arr = np.asarray(val)
    if arr.ndim > 1 or (arr.dtype.kind not in "US" and arr.dtype.str[1:] not in _ATTR_DTYPES):
        raise InputError(f"{where} {key!r}={val!r} cannot be stored in NetCDF (dtype {arr.dtype}, {arr.ndim}-D); "
                         f"use a string, a number (int64 range, float32/64) or a flat list of numbers")


def _check_encodable(ds: xr.Dataset) -> None:
    for name, var in ds.variables.items():
        kind = var.dtype.kind
        if kind == "c":
            raise InputError(f"variable {name!r} is complex; NetCDF has no complex type: store its real "
                             f"and imaginary parts as two float variables")
        if kind == "S" or kind == "V":
            raise InputError(f"variable {name!r} holds bytes (dtype {var.dtype}), which would read back as "
                             f"text; decode it to str first (ds[{name!r}].str.decode('utf-8'))")
        if kind == "f" and var.dtype.itemsize == 2:
            raise InputError(f"variable {name!r} is float16, which NetCDF cannot store; convert it with "
                             f".astype('float32')")
        if kind == "O" and not all(isinstance(v, str) for v in var.values.ravel()):
            raise InputError(f"variable {name!r} has object dtype; convert it to a numeric or str array")
        if kind in "mM":
            unit, count = np.datetime_data(var.dtype)
            if unit not in _UNITS or count != 1:
                raise InputError(f"variable {name!r} has dtype {var.dtype}; convert it to {var.dtype.str[:3]}[ns] "
                                 f"(e.g. .astype('{'datetime64' if kind == 'M' else 'timedelta64'}[ns]'))")
            clash = [k for k in ("units", "calendar") if k in var.attrs]
            if clash:
                raise InputError(f"variable {name!r} is {var.dtype} and has the attribute {clash[0]!r}, which "
                                 f"the time encoding sets; remove it from .attrs")
        for key, val in var.attrs.items():
            if key not in _RESERVED:
                _check_attr(name, key, val)
    for key, val in ds.attrs.items():
        if key not in _RESERVED:
            _check_attr(None, key, val)


# ---- checksums -------------------------------------------------------------------------
def _canon_attr(val: Any) -> list:
    arr = np.asarray(val)
    shape = "list" if arr.ndim else "scalar"
    if arr.dtype.kind in "USO":
        return [shape, "s", [str(v) for v in arr.ravel()]]
    if arr.dtype.kind in "iu":
        return [shape, "i", [int(v) for v in arr.ravel()]]
    return [shape, "f", [float(v).hex() for v in arr.ravel()]]


def _canon_attrs(attrs: Mapping) -> str:
    return json.dumps({str(k): _canon_attr(v) for k, v in attrs.items() if k not in _RESERVED}, sort_keys=True)


def _var_digest(name: Any, var: xr.Variable) -> str:
    """SHA-256 of a variable's in-memory form: name, dims, dtype, values, attributes."""
    values = np.asarray(var.values)
    kind = values.dtype.kind
    h = hashlib.sha256(json.dumps([str(name), list(var.dims), list(values.shape)]).encode())
    if kind in "USO":
        h.update(b"text")
        for v in values.ravel():
            b = str(v).encode()
            h.update(len(b).to_bytes(8, "little") + b)
    else:
        dtype = values.dtype.newbyteorder("<") if values.dtype.byteorder in "<>" else values.dtype
        h.update(dtype.str.encode())
        values = np.ascontiguousarray(values, dtype=dtype)
        if kind == "f" and np.isnan(values).any():
            values = np.where(np.isnan(values), np.array(np.nan, dtype), values)
        h.update(values.tobytes())
    h.update(_canon_attrs(var.attrs).encode())
    return h.hexdigest()


def _digests(ds: xr.Dataset) -> tuple[dict[Any, str], str]:
    per_var = {name: _var_digest(name, var) for name, var in ds.variables.items()}
    summary = json.dumps([_canon_attrs(ds.attrs), sorted((str(k), v) for k, v in per_var.items())])
    return per_var, hashlib.sha256(summary.encode()).hexdigest()


# ---- writing ---------------------------------------------------------------------------
def _list_marker(attrs: Mapping) -> dict:
    short = [k for k, v in attrs.items() if k not in _RESERVED and not isinstance(v, str)
             and np.ndim(v) == 1 and len(v) <= 1]
    return {LIST_ATTR: json.dumps(short)} if short else {}


def _encode(ds: xr.Dataset) -> xr.Dataset:
    """The Dataset as written: times as int64 counts, markers and checksums in the attrs."""
    per_var, overall = _digests(ds)
    out = ds.copy(deep=False)
    for name in list(out.variables):
        var = out.variables[name]
        attrs = {k: v for k, v in var.attrs.items() if k not in _RESERVED}
        attrs.update(_list_marker(attrs))
        attrs[HASH_ATTR] = per_var[name]
        encoding = {k: v for k, v in var.encoding.items() if k in _KEEP_ENCODING}
        if var.dtype.kind in "mM":
            unit = _UNITS[np.datetime_data(var.dtype)[0]]
            time_attrs = {"units": f"{unit} since {EPOCH}", "calendar": "proleptic_gregorian"} \
                if var.dtype.kind == "M" else {"units": unit}
            attrs = {**attrs, **time_attrs, DTYPE_ATTR: str(var.dtype)}
            new = xr.Variable(var.dims, np.asarray(var.values).view(np.int64), attrs=attrs)
            out = out.assign_coords({name: new}) if name in out.coords else out.assign({name: new})
            var = out.variables[name]
        var.attrs = attrs
        var.encoding = encoding
    out.attrs = {**{k: v for k, v in ds.attrs.items() if k not in _RESERVED}, **_list_marker(ds.attrs),
                 HASH_ATTR: overall}
    return out


def _encoding(ds: xr.Dataset) -> dict[str, dict]:
    enc: dict[str, dict] = {}
    for name, var in ds.variables.items():
        kind = var.dtype.kind
        if kind in "UO":  # text: fixed-width chars on disk
            enc[name] = {"dtype": "S1"}
        elif kind == "f" and name in ds.coords:
            enc[name] = {"_FillValue": None}
        elif kind in "fiu" and var.size > 1024 and _is_constant(var.values):
            enc[name] = {"zlib": True, "complevel": 1}  # e.g. a point model's all-zero prediction_std: ~no bytes
    return enc


def _is_constant(a: np.ndarray) -> bool:
    """All values equal (NaN-aware: all NaN counts as constant)."""
    flat = a.reshape(-1)
    first = flat[0]
    return bool(np.all(flat == first)) or (flat.dtype.kind == "f" and bool(np.all(np.isnan(flat))))


def to_netcdf(ds: xr.Dataset, path: str | os.PathLike, *, engine: str = "netcdf4", overwrite: bool = True) -> Path:
    """Write ``ds`` to ``path`` atomically (temporary file + rename), with checksums. Returns the path.

    Raises FileExistsError when ``path`` exists and ``overwrite`` is False (also when another
    writer creates it meanwhile: of two such writers exactly one succeeds), and InputError
    for an unknown or uninstalled engine or data that would not read back unchanged.
    """
    check_engine(engine)
    path = Path(path)
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(exists_message(path))
    if path.is_dir():
        raise InputError(f"path {str(path)!r} is a directory; pass a file path such as {str(path / 'data.nc')!r}")
    if not isinstance(ds, xr.Dataset):
        raise InputError(f"ds must be an xarray.Dataset, got {type(ds).__name__}; for a DataArray use "
                         f"da.to_dataset(name=...)")
    _check_encodable(ds)
    encoded = _encode(ds)
    return atomic_write(path, lambda tmp: encoded.to_netcdf(tmp, engine=engine, encoding=_encoding(encoded)),
                        overwrite=overwrite)


# ---- reading ---------------------------------------------------------------------------
def _py(value: Any) -> Any:
    """numpy scalar/array attribute -> the Python value it was written from."""
    if isinstance(value, np.ndarray):
        return value.tolist() if value.ndim else value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _restore_attrs(attrs: Mapping) -> dict:
    out = {k: _py(v) for k, v in attrs.items()}
    for key in json.loads(out.pop(LIST_ATTR, "[]")):
        if key in out and not isinstance(out[key], list):
            out[key] = [out[key]]
    return out


def _decode(ds: xr.Dataset) -> tuple[xr.Dataset, dict[Any, str], str | None]:
    """The in-memory form of a file as read, and the digests stored in it."""
    stored = {name: str(var.attrs[HASH_ATTR]) for name, var in ds.variables.items() if HASH_ATTR in var.attrs}
    overall = ds.attrs.get(HASH_ATTR)
    for name in list(ds.variables):
        var = ds.variables[name]
        attrs = _restore_attrs(var.attrs)
        values, kind = var.values, var.dtype.kind
        if kind in "OS":  # restore text as numpy str
            values = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values.ravel()],
                              dtype=str).reshape(values.shape)
        if DTYPE_ATTR in attrs:
            values = np.asarray(values).astype(np.int64).view(attrs.pop(DTYPE_ATTR))
            attrs.pop("units", None)
            attrs.pop("calendar", None)
        attrs.pop(HASH_ATTR, None)
        new = xr.Variable(var.dims, values, attrs=attrs, encoding=var.encoding)
        if name in ds.coords:
            ds = ds.assign_coords({name: new})
        else:
            ds[name] = new
    ds.attrs = {k: v for k, v in _restore_attrs(ds.attrs).items() if k != HASH_ATTR}
    return ds, stored, None if overall is None else str(overall)


_EDITED = ("; if you changed it on purpose with another tool, pass verify=False to read it "
           "without the check")


def _verify(ds: xr.Dataset, path: Path, stored: dict[Any, str], overall: str | None) -> None:
    if overall is None and not stored:
        return  # written without checksums (another tool, or warp_phys 0.1.0)
    per_var, actual = _digests(ds)
    for name, expected in stored.items():
        if per_var.get(name) != expected:
            raise CorruptFileError(f"{path}: variable {name!r} failed its SHA-256 check (expected {expected}, "
                                   f"got {per_var.get(name)}): {FIX}{_EDITED}", path=path, expected=expected,
                                   actual=per_var.get(name))
    if overall != actual:
        raise CorruptFileError(f"{path} failed its SHA-256 check of the global attributes and the list of "
                               f"variables (expected {overall}, got {actual}): {FIX}{_EDITED}", path=path,
                               expected=overall, actual=actual)


def _read(path: Path, engine: str) -> xr.Dataset:
    """Load the file eagerly; a damaged file raises CorruptFileError, another kind InputError."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not head:
        raise CorruptFileError(f"{path} is empty (0 bytes): it was never completely written or was "
                               f"truncated; {FIX}", path=path)
    exact = any(head.startswith(sig) for sig in _SIGNATURES)
    if not exact and any(near_signature(head, sig) for sig in _SIGNATURES):
        raise CorruptFileError(f"{path} has a damaged NetCDF signature ({head!r}); {FIX}", path=path)
    try:
        with xr.open_dataset(path, engine=engine, decode_times=False, decode_timedelta=False) as src:
            return src.load()
    except MemoryError:
        raise
    except Exception as err:  # noqa: BLE001 - netCDF4/HDF5 raise OSError, RuntimeError, KeyError, ...
        reason = f"{type(err).__name__}: {str(err)[:200]}"
        if exact:
            raise CorruptFileError(f"{path} cannot be read ({reason}): it is truncated or damaged; {RESTORE}",
                                   path=path) from None
        raise InputError(f"{path} is not a NetCDF file (it starts with {head!r}; {reason}); pass a file "
                         f"written by warp_phys.to_netcdf or another NetCDF writer") from None


def open_trajectories(path: str | os.PathLike, *, engine: str | None = None, verify: bool = True) -> xr.Dataset:
    """Load a file written by ``to_netcdf`` fully into memory (file closed) in its exact
    in-memory form, after verifying its checksums (``verify=False`` skips that, e.g. for a
    file edited on purpose with another tool).

    Raises FileNotFoundError naming the path, `CorruptFileError` for a damaged, truncated or
    empty file (or a checksum mismatch) and InputError for a file that is not NetCDF.
    """
    engine = check_engine(engine or "netcdf4")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such NetCDF file: {path}")
    ds, stored, overall = _decode(_read(path, engine).copy())
    if verify:
        _verify(ds, path, stored, overall)
    return ds


__all__ = ["CorruptFileError", "ENGINES", "check_engine", "open_trajectories", "to_netcdf"]
