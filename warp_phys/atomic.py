"""Files you can trust: atomic writes, stale temporary files swept, damage detected.

``atomic_write`` writes through a temporary file beside the target and renames it into
place, so a reader sees the old file or the complete new one, never half of one. The
temporary file is named ``.NAME.PID@HOST.XXXXXXXX.tmp``: when a writer is killed (kill -9,
a power cut) its temporary file stays behind, and the next write to the same target removes
it once its owner is gone (see `sweep_stale_temporaries`). With ``overwrite=False`` the new
file is linked into place with ``os.link``, which fails if the target exists, so of two
concurrent writers exactly one succeeds.

`CorruptFileError` (a ValueError) is what the readers (`warp_phys.checkpoint`,
`warp_phys.io`) raise when a checksum does not match or a file is truncated.
"""
from __future__ import annotations

import errno
import hashlib
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Callable

RESTORE = "re-create it, or restore it from a backup"
FIX = f"the file is damaged; {RESTORE}"
#: Temporary files of another host (shared file systems) are removed only after this long.
FOREIGN_STALE_S = 24 * 3600.0


class CorruptFileError(ValueError):
    """A file failed its integrity check (checksum mismatch, truncated, damaged header).

    Attributes: ``path``, and ``expected``/``actual`` (hex SHA-256) when a digest was compared.
    """

    def __init__(self, message: str, *, path: str | os.PathLike | None = None,
                 expected: str | None = None, actual: str | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else str(path)
        self.expected, self.actual = expected, actual


class UnverifiedFileWarning(UserWarning):
    """A file was loaded without an integrity check (written before files carried checksums)."""


def sha256_hex(data: bytes | bytearray | memoryview) -> str:
    """The SHA-256 of ``data`` as 64 hex digits."""
    return hashlib.sha256(data).hexdigest()


def near_signature(head: bytes, signature: bytes, max_bits: int = 2) -> bool:
    """True when ``head`` starts with ``signature`` up to ``max_bits`` flipped bits (a damaged
    signature rather than another kind of file)."""
    if len(head) < len(signature):
        return False
    diff = sum(bin(a ^ b).count("1") for a, b in zip(head, signature))
    return diff <= max_bits


def _host_tag() -> str:
    return sha256_hex(socket.gethostname().encode())[:8]


def _process_start(pid: int) -> tuple[float | None, bool]:
    """(start time as a Unix time, is a zombie) of a process from /proc (Linux); (None,
    False) where /proc is not available."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode(errors="replace")
        fields = stat[stat.rindex(")") + 2:].split()
        with open("/proc/stat", "rb") as fh:
            btime = next(int(line.split()[1]) for line in fh if line.startswith(b"btime"))
        return btime + int(fields[19]) / os.sysconf("SC_CLK_TCK"), fields[0] == "Z"
    except (OSError, ValueError, IndexError, StopIteration):
        return None, False


def _pid_gone(pid: int, file_mtime: float) -> bool:
    """True when process ``pid`` cannot be writing a file last modified at ``file_mtime``: it
    does not exist, is a zombie, or started after the file was written (a reused PID)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, owned by someone else
        pass
    except OSError:
        return False
    started, zombie = _process_start(pid)
    if zombie:
        return True
    return started is not None and file_mtime < started - 2.0  # 2 s: /proc clock granularity


def _own_start() -> float | None:
    return _process_start(os.getpid())[0]


def sweep_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that interrupted writes of ``path`` left behind. Returns them.

    A temporary ``.NAME.PID@HOST.XXXXXXXX.tmp`` of this host is stale when process PID is
    gone (or is a zombie, or is a newer process that reused the PID); one of another host
    when older than a day; an old-style ``.NAME.XXXXXXXX.tmp`` (no PID) when older than this
    process. Temporaries of live writers are left alone.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    prefix, host, removed = f".{path.name}.", _host_tag(), []
    own_start = None
    try:
        names = [n for n in os.listdir(directory) if n.startswith(prefix) and n.endswith(".tmp")]
    except OSError:
        return removed
    for name in names:
        tmp = directory / name
        middle = name[len(prefix):-len(".tmp")].split(".")
        try:
            mtime = tmp.stat().st_mtime
        except OSError:
            continue
        if len(middle) == 2 and "@" in middle[0]:
            pid_s, _, tmp_host = middle[0].partition("@")
            if not pid_s.isdigit():
                continue
            if tmp_host == host:
                stale = int(pid_s) != os.getpid() and _pid_gone(int(pid_s), mtime)
            else:
                stale = time.time() - mtime > FOREIGN_STALE_S
        elif len(middle) == 1 and len(middle[0]) == 8:  # an older warp_phys's: no owner recorded
            own_start = own_start if own_start is not None else (_own_start() or time.time())
            stale = mtime < own_start - 2.0
        else:
            continue
        if stale:
            try:
                tmp.unlink()
                removed.append(tmp)
            except FileNotFoundError:  # another writer swept it first
                pass
            except OSError:
                continue
    return removed


def _umask() -> int:
    """The process umask, read without changing it (Linux); else with the os.umask round trip."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _fsync_file(path: str) -> None:
    """Flush ``path`` to disk (a full disk or an I/O error raises; unsupported is ignored)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def exists_message(path: Path, raced: bool = False) -> str:
    """The FileExistsError message of an ``overwrite=False`` write to ``path``."""
    race = " (another writer created it while this one was writing)" if raced else ""
    return f"{path} exists{race}; pass overwrite=True or choose another path"


def _link_into_place(tmp: str, path: Path) -> None:
    """Move ``tmp`` to ``path`` only if ``path`` does not exist, atomically."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(exists_message(path, raced=True)) from None
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV,
                             errno.ENOSYS, errno.EACCES):
            raise
        # no hard links on this file system: claim the name exclusively, then replace it
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            raise FileExistsError(exists_message(path, raced=True)) from None
        try:
            os.replace(tmp, path)
        except BaseException:
            os.unlink(path)  # our empty placeholder
            raise
    else:
        os.unlink(tmp)


def atomic_write(path: str | os.PathLike, write: Callable[[str], None], *, make_parents: bool = False,
                 overwrite: bool = True) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then move it into place.

    Stale temporaries of earlier, killed writes of ``path`` are removed first. The file gets
    the usual permissions (0666 minus the umask) and is flushed to disk before the rename.
    On any error the temporary file is removed and ``path`` is left as it was. Raises
    FileNotFoundError when the directory is missing (unless ``make_parents``), and
    FileExistsError when ``overwrite`` is False and ``path`` exists (checked atomically).
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if make_parents:
        directory.mkdir(parents=True, exist_ok=True)
    elif not directory.exists():
        raise FileNotFoundError(f"directory {directory} does not exist; create it first")
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(exists_message(path))
    sweep_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}@{_host_tag()}.", suffix=".tmp",
                               dir=directory)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        _fsync_file(tmp)
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_into_place(tmp, path)
        _fsync_dir(directory)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


__all__ = ["CorruptFileError", "FIX", "RESTORE", "UnverifiedFileWarning", "atomic_write", "exists_message",
           "near_signature", "sha256_hex", "sweep_stale_temporaries"]
