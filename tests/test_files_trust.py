"""Files you can trust: checksums (model files, checkpoints, NetCDF), clear errors for damaged,
truncated, empty and foreign files, atomic overwrite=False, stale temporaries swept after a
kill -9, and the exact NetCDF round trip (datetimes, list attributes; packing refused)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from warp_phys import atomic
from warp_phys.atomic import CorruptFileError, UnverifiedFileWarning, atomic_write, sweep_stale_temporaries
from warp_phys.checkpoint import (MAGIC, atomic_save, load_model, load_verified, model_from_payload,
                                  model_payload, save_model)
from warp_phys.io import open_trajectories, to_netcdf
from warp_phys.model import WARP
from warp_phys.validation import InputError

HOST = atomic._host_tag()


def _flip(path: Path, offset: int, bit: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))


def _tmps(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def _small_warp(seed: int = 0, **kw) -> WARP:
    return WARP(3, width=6, depth=1, seed=seed, **kw)


def _ds(seed: int = 0, n: int = 40, t: int = 50) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    return xr.Dataset({"state": (("trajectory", "time"), rng.normal(size=(n, t)), {"units": "m", "long_name": "x"})},
                      coords={"trajectory": np.arange(n), "time": ("time", np.linspace(0.0, 1.0, t), {"units": "s"})},
                      attrs={"title": "test", "seed": seed})


# ---- model files and checkpoints ---------------------------------------------------------
def test_model_file_detects_one_flipped_bit_anywhere(tmp_path):
    path = tmp_path / "m.pt"
    save_model(_small_warp(), path)
    good = path.read_bytes()
    assert good.startswith(MAGIC)
    size = len(good)
    # signature, digest, version/size field, the middle of the payload, the last byte
    for offset, words in [(1, "damaged header"), (20, "SHA-256"), (len(MAGIC) + 33, "SHA-256"),
                          (size // 2, "SHA-256"), (size - 1, "SHA-256")]:
        path.write_bytes(good)
        _flip(path, offset, bit=offset % 8)
        with pytest.raises(CorruptFileError, match=words) as info:
            load_model(path, device="cpu")
        msg = str(info.value)
        assert "m.pt" in msg and "damaged" in msg and "restore it from a backup" in msg, msg
        assert isinstance(info.value, ValueError) and info.value.path == str(path)
    path.write_bytes(good)
    _flip(path, size // 2)
    with pytest.raises(CorruptFileError, match=r"expected [0-9a-f]{64}, got [0-9a-f]{64}") as info:
        load_model(path)
    assert info.value.expected != info.value.actual and len(info.value.expected) == 64


def test_checkpoint_detects_a_flipped_bit_and_round_trips(tmp_path):
    path = tmp_path / "ck" / "train.ckpt"
    obj = {"model": {"w": torch.arange(1000.0)}, "epoch": 3, "rng": torch.Generator().manual_seed(1).get_state()}
    atomic_save(obj, path)  # makes the parent folder
    back = load_verified(path)
    assert back["epoch"] == 3 and torch.equal(back["model"]["w"], obj["model"]["w"])
    _flip(path, len(path.read_bytes()) // 2, bit=5)
    with pytest.raises(CorruptFileError, match=r"train\.ckpt failed its SHA-256 check .*damaged"):
        load_verified(path)


def test_trainer_resume_from_a_damaged_checkpoint_is_refused(tmp_path):
    from warp_phys.training import Trainer

    g = torch.Generator().manual_seed(0)
    x, tau = torch.randn(8, 12, 3, generator=g), torch.linspace(0, 1, 12)
    ck = tmp_path / "run.ckpt"
    Trainer(epochs=1, batch_size=4, seed=0, device="cpu", progress=False, checkpoint_path=ck).fit(_small_warp(), x, tau)
    assert ck.read_bytes().startswith(MAGIC)
    _flip(ck, len(ck.read_bytes()) // 2)
    with pytest.raises(CorruptFileError, match="run.ckpt failed its SHA-256 check"):
        Trainer(epochs=2, batch_size=4, seed=0, device="cpu", progress=False, checkpoint_path=ck).fit(
            _small_warp(), x, tau)


def test_truncated_empty_and_foreign_files(tmp_path):
    path = tmp_path / "m.pt"
    save_model(_small_warp(), path)
    good = path.read_bytes()
    cases = {"half.pt": (good[: len(good) // 2], CorruptFileError, r"truncated: it holds \d+ payload bytes"),
             "head.pt": (good[:30], CorruptFileError, r"truncated: 30 bytes, shorter than its 55-byte header"),
             "empty.pt": (b"", CorruptFileError, r"empty \(0 bytes\).*re-create it"),
             "long.pt": (good + b"x", CorruptFileError, "longer than written"),
             "text.pt": (b"hello, this is not a model", InputError, "not a warp_phys model or checkpoint file"),
             "zip.pt": (b"PK\x03\x04" + b"\x00" * 40, CorruptFileError, "no checksum.*truncated or damaged")}
    for name, (data, err, words) in cases.items():
        (tmp_path / name).write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnverifiedFileWarning)
            with pytest.raises(err, match=words) as info:
                load_model(tmp_path / name)
        assert name in str(info.value)
    with pytest.raises(InputError, match="does not exist; check the path"):
        load_model(tmp_path / "missing.pt")
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        load_verified(tmp_path / "missing.ckpt")


def test_old_files_without_checksum_load_with_a_warning(tmp_path):
    model = _small_warp(seed=3)
    torch.save(model_payload(model), tmp_path / "old.pt")  # warp_phys 0.1.0 wrote plain torch.save
    with pytest.warns(UnverifiedFileWarning, match=r"old\.pt has no checksum.*Save it again"):
        loaded = load_model(tmp_path / "old.pt", device="cpu")
    x = torch.randn(2, 9, 3, generator=torch.Generator().manual_seed(0))
    tau = torch.linspace(0, 1, 9)
    assert torch.equal(model(x, tau).mean, loaded(x, tau).mean)
    save_model(loaded, tmp_path / "old.pt")  # saving again adds the checksum: no warning now
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model(tmp_path / "old.pt", device="cpu")


def test_weights_of_another_configuration_are_a_clear_error(tmp_path):
    payload = model_payload(_small_warp())
    payload["config"] = model_payload(WARP(3, width=9, depth=1))["config"]
    with pytest.raises(InputError, match=r"do not fit the WARP.*tensor shapes differ.*another model configuration"):
        model_from_payload(payload)
    atomic_save(payload, tmp_path / "mixed.pt")
    with pytest.raises(InputError, match=r"weights in .*mixed\.pt do not fit"):
        load_model(tmp_path / "mixed.pt")
    import argparse

    atomic_save({"obj": argparse.Namespace(a=1)}, tmp_path / "code.pt")
    with pytest.raises(InputError, match=r"code\.pt holds pickled Python objects .*weights_only=True"):
        load_verified(tmp_path / "code.pt")
    atomic_save({"model": {}, "optimizer": {}}, tmp_path / "ck.pt")
    with pytest.raises(InputError, match="not a warp_phys model file.*training checkpoint"):
        load_model(tmp_path / "ck.pt")


# ---- NetCDF checksums and damaged files -----------------------------------------------------
def test_netcdf_detects_a_flipped_bit_in_the_data(tmp_path):
    ds = _ds()
    path = to_netcdf(ds, tmp_path / "d.nc")
    raw = path.read_bytes()
    block = ds["state"].values.astype("<f8").tobytes()
    start = raw.find(block[:64])
    assert start > 0 and raw[start:start + len(block)] == block  # contiguous on disk
    _flip(path, start + len(block) // 2, bit=3)
    with pytest.raises(CorruptFileError, match=r"variable 'state' failed its SHA-256 check .*damaged") as info:
        open_trajectories(path)
    assert "d.nc" in str(info.value) and "restore it from a backup" in str(info.value)
    # an attribute's text (HDF5 or our checksum catches it) and the signature are covered too
    path.write_bytes(raw)
    _flip(path, raw.find(b"test"), bit=0)
    with pytest.raises(CorruptFileError, match="d.nc .*damaged"):
        open_trajectories(path)
    path.write_bytes(raw)
    _flip(path, 2, bit=1)
    with pytest.raises(CorruptFileError, match="damaged NetCDF signature"):
        open_trajectories(path)


def test_netcdf_edited_by_another_tool_needs_verify_false(tmp_path):
    import netCDF4

    path = to_netcdf(_ds(), tmp_path / "e.nc")
    with netCDF4.Dataset(path, "a") as nc:  # like ncatted: edit an attribute in place
        nc.setncattr("title", "edited")
    with pytest.raises(CorruptFileError, match=r"global attributes .*pass verify=False to read it"):
        open_trajectories(path)
    assert open_trajectories(path, verify=False).attrs["title"] == "edited"


def test_netcdf_truncated_empty_and_foreign_files(tmp_path):
    raw = to_netcdf(_ds(), tmp_path / "d.nc").read_bytes()
    (tmp_path / "half.nc").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CorruptFileError, match=r"half\.nc cannot be read .*truncated or damaged"):
        open_trajectories(tmp_path / "half.nc")
    (tmp_path / "empty.nc").write_bytes(b"")
    with pytest.raises(CorruptFileError, match=r"empty \(0 bytes\)"):
        open_trajectories(tmp_path / "empty.nc")
    (tmp_path / "text.nc").write_text("time,x\n0,1\n")
    with pytest.raises(InputError, match=r"text\.nc is not a NetCDF file"):
        open_trajectories(tmp_path / "text.nc")


def test_netcdf_without_checksums_still_reads(tmp_path):
    ds = _ds(1)
    ds.to_netcdf(tmp_path / "plain.nc", engine="netcdf4")  # another tool / warp_phys 0.1.0
    back = open_trajectories(tmp_path / "plain.nc")
    assert np.array_equal(back["state"].values, ds["state"].values) and back.attrs == ds.attrs
    assert "warp_phys_sha256" not in back.attrs and "warp_phys_sha256" not in back["state"].attrs


def test_uninstalled_engine_is_refused_before_writing(tmp_path, monkeypatch):
    import importlib.util

    if importlib.util.find_spec("h5netcdf") is None:
        with pytest.raises(InputError, match=r"engine='h5netcdf' is not installed .*pip install h5netcdf"):
            to_netcdf(_ds(), tmp_path / "h.nc", engine="h5netcdf")
    monkeypatch.setattr(xr.backends, "list_engines", lambda: {"netcdf4": None})
    with pytest.raises(InputError, match=r"engine='h5netcdf' is not installed .*engine='netcdf4'"):
        to_netcdf(_ds(), tmp_path / "h.nc", engine="h5netcdf")
    with pytest.raises(InputError, match="engine must be one of"):
        open_trajectories(tmp_path / "h.nc", engine="zarr")
    assert list(tmp_path.iterdir()) == []


# ---- exact round trip, and what is refused ------------------------------------------------------
def test_datetime_timedelta_and_list_attributes_round_trip_exactly(tmp_path):
    t = np.array(["2000-01-01", "NaT", "2001-02-03T04:05:06.000000007"], dtype="datetime64[ns]")
    ds = xr.Dataset(
        {"x": (("time", "v"), np.array([[np.nan, 1.0], [-0.0, np.inf], [2.5, -3.0]]),
               {"levels": [5], "none": [], "names": ["a"], "pair": [1.5, 2.0], "f32": np.float32(0.1)}),
         "lag": ("time", np.array([1, -2, 3], dtype="timedelta64[ms]"), {"long_name": "lag"})},
        coords={"time": t, "v": ["p", "qq"], "day": ("time", np.array([0, 86400, 2], dtype="datetime64[s]"))},
        attrs={"one": [7], "text": "µ-units"})
    back = open_trajectories(to_netcdf(ds, tmp_path / "t.nc"))
    assert ds.identical(back)
    for name in ["time", "day", "lag"]:
        assert back[name].dtype == ds[name].dtype and np.array_equal(back[name].values.view("i8"),
                                                                     ds[name].values.view("i8")), name
    assert back["x"].attrs["levels"] == [5] and back["x"].attrs["names"] == ["a"] and back["x"].attrs["none"] == []
    assert back.attrs["one"] == [7] and np.signbit(back["x"].values[1, 0])
    with xr.open_dataset(tmp_path / "t.nc") as cf:  # any CF reader decodes the times
        assert np.array_equal(cf["time"].values[[0, 2]], t[[0, 2]])


@pytest.mark.parametrize("change, words", [
    (lambda d: d["state"].attrs.update(scale_factor=0.5),
     r"variable 'state' attribute 'scale_factor'=0.5 is a CF packing"),
    (lambda d: d["state"].attrs.update(add_offset=1.0), "'add_offset'.*change the data"),
    (lambda d: d["state"].attrs.update(missing_value=-9.0), "'missing_value'.*mark missing values with NaN"),
    (lambda d: d["time"].attrs.update(_FillValue=0.0), "variable 'time' attribute '_FillValue'"),
    (lambda d: d.attrs.update(blob=b"\x00\x01"), r"global attribute 'blob'=.*bytes.*decode it"),
    (lambda d: d["state"].attrs.update(flag=True), r"'flag'=True \(bool\).*int\(flag\)"),
    (lambda d: d.attrs.update(mixed=[1, "a"]), "mixes text with other values"),
    (lambda d: d.attrs.update(nested=[[1, 2], [3, 4]]), "flat list of numbers"),
    (lambda d: d.__setitem__("h", d["state"].astype(np.float16)), r"variable 'h' is float16.*astype\('float32'\)"),
    (lambda d: d.__setitem__("b", ("time", np.array([b"x"] * d.sizes["time"]))), "variable 'b' holds bytes.*decode"),
    (lambda d: d.__setitem__("z", d["state"] * 1j), "variable 'z' is complex"),
])
def test_what_would_not_read_back_unchanged_is_refused(tmp_path, change, words):
    ds = _ds()
    change(ds)
    with pytest.raises(InputError, match=words):
        to_netcdf(ds, tmp_path / "r.nc")
    assert list(tmp_path.iterdir()) == []


# ---- atomic writes: overwrite=False, failures, kill -9 ---------------------------------------------
def test_overwrite_false_two_writers_exactly_one_succeeds(tmp_path):
    path = tmp_path / "race.pt"
    models = [_small_warp(seed=1), _small_warp(seed=2)]
    for _ in range(3):
        barrier, results = threading.Barrier(2), [None, None]

        def writer(i):
            barrier.wait()
            try:
                save_model(models[i], path, overwrite=False)
                results[i] = "ok"
            except FileExistsError as err:
                results[i] = err

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert results.count("ok") == 1, results
        err = next(r for r in results if r != "ok")
        assert "race.pt exists" in str(err) and "pass overwrite=True or choose another path" in str(err)
        winner = models[results.index("ok")]
        loaded = load_model(path, device="cpu")
        assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), winner.state_dict().values()))
        assert _tmps(tmp_path) == []
        path.unlink()


def test_overwrite_false_is_checked_at_the_rename(tmp_path, monkeypatch):
    """A writer that finishes first wins even when the other passed the early check; the
    loser's temporary is removed. Also without hard links (the O_EXCL fallback)."""
    for no_links in (False, True):
        path = tmp_path / f"t{no_links}.bin"

        def write(tmp, path=path):
            Path(tmp).write_bytes(b"mine")
            path.write_bytes(b"other writer")  # created while this write ran

        if no_links:
            def refuse(*args):
                raise PermissionError(1, "Operation not permitted")
            monkeypatch.setattr(os, "link", refuse)
        with pytest.raises(FileExistsError, match="another writer created it while this one was writing"):
            atomic_write(path, write, overwrite=False)
        assert path.read_bytes() == b"other writer" and _tmps(tmp_path) == []
        path.unlink()
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(b"new"), overwrite=False)
        assert path.read_bytes() == b"new"
    monkeypatch.undo()
    save_model(_small_warp(), tmp_path / "m.pt")
    with pytest.raises(FileExistsError, match=r"m\.pt exists; pass overwrite=True"):
        save_model(_small_warp(), tmp_path / "m.pt", overwrite=False)


def test_interrupted_write_removes_its_temporary(tmp_path):
    path = tmp_path / "k.nc"

    def interrupted(tmp):
        Path(tmp).write_bytes(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, interrupted)
    assert list(tmp_path.iterdir()) == []


def test_stale_temporaries_are_swept_and_live_ones_kept(tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        names = {f".x.nc.{dead.pid}@{HOST}.abcdefgh.tmp": "stale",     # owner gone
                 f".x.nc.{live.pid}@{HOST}.abcdefgh.tmp": "kept",      # owner alive
                 f".x.nc.{os.getpid()}@{HOST}.qwertyui.tmp": "kept",   # this process (another thread)
                 f".x.nc.1@{HOST}.reusedpi.tmp": "stale",              # older than process 1: PID reused
                 f".x.nc.{dead.pid}@0000beef.abcdefgh.tmp": "kept",    # another host, recent
                 f".x.nc.{dead.pid}@0000dead.abcdefgh.tmp": "stale",   # another host, two days old
                 ".x.nc.oldstyle.tmp": "stale",                        # warp_phys 0.1.0, older than us
                 f".x.nc.1.nc.{dead.pid}@{HOST}.abcdefgh.tmp": "kept",  # another target's
                 ".y.nc.abcdefgh.tmp": "kept"}
        for name in names:
            (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / f".x.nc.1@{HOST}.reusedpi.tmp", (1000, 1000))
        os.utime(tmp_path / ".x.nc.oldstyle.tmp", (1000, 1000))
        old = time.time() - 2 * 24 * 3600
        os.utime(tmp_path / f".x.nc.{dead.pid}@0000dead.abcdefgh.tmp", (old, old))
        to_netcdf(_ds(), tmp_path / "x.nc")
        left = set(_tmps(tmp_path))
        assert left == {n for n, what in names.items() if what == "kept"}, left
        assert sweep_stale_temporaries(tmp_path / "x.nc") == []
    finally:
        live.kill()
        live.wait()


_CHILD = textwrap.dedent("""
    import sys, numpy as np
    target, kind = sys.argv[1], sys.argv[2]
    if kind == "netcdf":
        import xarray as xr
        from warp_phys.io import to_netcdf
        ds = xr.Dataset({"x": (("a", "b"), np.arange(6_500_000, dtype=np.float64).reshape(6500, 1000))})
        print("ready", flush=True)
        to_netcdf(ds, target)
    else:
        import torch
        from warp_phys.checkpoint import atomic_save
        obj = {"w": torch.arange(13_000_000, dtype=torch.float32)}
        print("ready", flush=True)
        atomic_save(obj, target)
""")


def _kill_mid_write(target: Path, kind: str, rng: np.random.Generator) -> bool:
    """Start a writer, SIGKILL it once its temporary exists; True if it died mid-write."""
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(target), kind], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        if any(n.startswith(f".{target.name}.{proc.pid}@") for n in os.listdir(target.parent)):
            time.sleep(float(rng.uniform(0.0, 0.02)))
            break
        time.sleep(0.0005)
    os.kill(proc.pid, signal.SIGKILL) if proc.poll() is None else None
    proc.wait()
    proc.stdout.close()
    return proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("kind", ["netcdf", "checkpoint"])
def test_kill_9_mid_write_leaves_old_or_complete_file_and_next_write_sweeps(tmp_path, kind):
    rng = np.random.default_rng(13)
    target = tmp_path / ("big.nc" if kind == "netcdf" else "big.ckpt")
    if kind == "checkpoint":
        atomic_save({"old": torch.ones(3)}, target)
    killed = 0
    for _ in range(4):
        if _kill_mid_write(target, kind, rng):
            killed += 1
            if _tmps(tmp_path):
                break
    assert killed, "the writer was never killed mid-write"
    assert _tmps(tmp_path), "no temporary was left behind to sweep"
    # the target is absent, the old file, or a complete new one: never half-written
    if kind == "netcdf":
        assert not target.exists() or open_trajectories(target).sizes["a"] == 6500
        to_netcdf(_ds(), target)
        assert open_trajectories(target).identical(_ds())
    else:
        back = load_verified(target)
        assert set(back) <= {"old", "w"}
        atomic_save({"new": torch.zeros(2)}, target)
        assert set(load_verified(target)) == {"new"}
    assert _tmps(tmp_path) == []


# ---- property tests ----------------------------------------------------------------------------------
_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=8)
_ATTR = st.one_of(_TEXT, st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=True, allow_infinity=True),
                  st.lists(st.floats(allow_nan=True), max_size=3), st.lists(st.integers(-1000, 1000), max_size=3),
                  st.lists(_TEXT, min_size=1, max_size=2))
_ATTRS = st.dictionaries(st.sampled_from(["units", "long_name", "a", "b_2", "comment"]), _ATTR, max_size=4)


@st.composite
def datasets(draw) -> xr.Dataset:
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    dims = [f"d{i}" for i in range(len(shape))]
    dtype = draw(st.sampled_from([np.float64, np.float32, np.int16, np.int64, np.uint8, np.bool_]))
    values = draw(hnp.arrays(dtype, shape))
    ds = xr.Dataset({"v": (dims, values, draw(_ATTRS))}, attrs=draw(_ATTRS))
    if draw(st.booleans()):
        ns = draw(hnp.arrays(np.int64, shape[0], elements=st.integers(-2**62, 2**62)))
        ds = ds.assign_coords(d0=("d0", ns.view("datetime64[ns]"), draw(st.sampled_from([{}, {"axis": "T"}]))))
    if len(shape) > 1 and draw(st.booleans()):
        ds = ds.assign_coords(d1=("d1", draw(st.lists(_TEXT, min_size=shape[1], max_size=shape[1]))))
    return ds


@settings(max_examples=20, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(ds=datasets())
def test_netcdf_round_trip_property(ds):
    with tempfile.TemporaryDirectory() as d:
        back = open_trajectories(to_netcdf(ds, Path(d) / "p.nc"))
        assert ds.identical(back)
        for name, var in ds.variables.items():
            assert back[name].dtype.kind == var.dtype.kind, name
            if var.dtype.kind in "fiubmM":
                a, b = np.asarray(var.values), np.asarray(back[name].values)
                same = (a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind == "f" else (a.view("u1") == b.view("u1"))
                assert np.all(same) and a.dtype == b.dtype, name
        assert _tmps(Path(d)) == []


@settings(max_examples=15, deadline=None, derandomize=True, database=None)
@given(kind=st.sampled_from(["warp", "gru"]), width=st.integers(2, 8), depth=st.integers(1, 2),
       transition=st.sampled_from(["identity", "diagonal", "lowrank", "dense"]), n=st.integers(1, 4),
       seed=st.integers(0, 2**31), gaussian=st.booleans())
def test_save_load_property(kind, width, depth, transition, n, seed, gaussian):
    from warp_phys import baselines

    output = "gaussian" if gaussian else "mean"
    if kind == "warp":
        extra = {"rank": 2} if transition == "lowrank" else {}
        model = WARP(n, width=width, depth=depth, transition=transition, output=output, seed=seed, **extra)
    else:
        model = baselines.get("gru", n, hidden=width, layers=depth, output=output, seed=seed)
    with torch.no_grad():
        g = torch.Generator().manual_seed(seed)
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    with tempfile.TemporaryDirectory() as d:
        save_model(model, Path(d) / "m.pt")
        loaded = load_model(Path(d) / "m.pt", device="cpu")
    x = torch.randn(2, 10, n, generator=torch.Generator().manual_seed(seed + 1))
    tau = torch.linspace(0, 1, 10)
    a, b = model.eval().forecast(x[:, :4], tau), loaded.forecast(x[:, :4], tau)
    assert type(loaded) is type(model) and loaded.config == model.config
    assert torch.equal(a.mean, b.mean) and (a.std is None or torch.equal(a.std, b.std))
