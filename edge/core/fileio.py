"""Atomic file writes: a reader sees the old file or the new one, never half of one.

* Files: written to a temporary file beside the target (``.NAME.PID.XXXX.tmp``), fsync'ed, then
  ``os.replace``d over it. A symlinked target is followed: the real file is replaced and the link
  stays. Temporaries left by killed writers (their PID no longer runs) are removed by the next
  write into the same folder.
* NumPy archives: ``atomic_write_npz`` (training caches, teacher targets), through the same path.
* Folders (reports): built beside the target, then swapped in with one ``renameat2`` exchange
  where the kernel has it (Linux), else two renames; a folder is never a mix of two runs.
* Errors name the file: ``OSError`` with ``filename`` set (``No space left on device``, read-only
  file systems, permissions), which the CLI prints as one line.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_TMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.tmp$")
_TMP_DIR = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.(?:new|old)$")


def real_target(path: str | os.PathLike) -> Path:
    """``path`` with symlinks followed (the file a write must replace), or a clear error on a loop."""
    p = Path(path)
    if not p.is_symlink():
        return p
    try:
        return Path(os.path.realpath(p, strict=True))
    except FileNotFoundError:  # a dangling link: create the file it points to
        return Path(os.path.realpath(p, strict=False))
    except OSError as exc:  # ELOOP
        raise OSError(exc.errno or errno.ELOOP, "symlink loop (the link never reaches a file)", str(p)) from None


def _named(exc: OSError, target: Path) -> OSError:
    """The same error with the target's name (the CLI prints ``file: reason``)."""
    if getattr(exc, "filename", None) == str(target):
        return exc
    return OSError(exc.errno, exc.strerror or str(exc), str(target))


def regular_file(path: str | os.PathLike, what: str, max_bytes: int, *, error: type[Exception] | None = None,
                 missing: str | None = None, hint: str = "") -> tuple[Path, os.stat_result]:
    """``(path, stat)`` of an existing regular file of at most ``max_bytes``, checked before anything
    opens it: a FIFO would block, a device never ends, a folder or a dangling symlink would fail
    deep inside a reader. Every refusal raises ``error`` (default InputDataError) naming the file,
    what it should be (``what``: "model file", "gallery", ...) and what it is. ``missing``
    replaces the not-found message; ``hint`` ends the not-a-regular-file one."""
    import stat

    from edgecnn.edge.core.errors import InputDataError

    error = error or InputDataError
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        if p.is_symlink():
            raise error(f"{p}: a symlink whose target does not exist (expected a {what})") from None
        raise error(f"{p}: {missing or what + ' not found'}") from None
    except OSError as exc:  # ELOOP, EACCES, ENAMETOOLONG, ...
        raise error(f"{p}: cannot open the {what} ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{p}: is a folder, not a regular file (expected a {what})")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{p}: the {what} is not a regular file (a device, FIFO or socket{hint})")
    if st.st_size > max_bytes:
        raise error(f"{p}: {st.st_size} bytes, more than the {max_bytes} a {what} may have")
    return p, st


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    The temporary file is fsync'ed before the rename, so a crash or a kill at any point leaves
    either the previous file or the complete new one. Returns the path written (a symlink's target).
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"atomic_write_bytes: data must be bytes, got {type(data).__name__}")
    target = real_target(path)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, expected a file path", str(target))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temporaries(target.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise _named(exc, target) from None
    try:
        os.chmod(tmp, _mode_for(target))
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _named(exc, target) from None
        raise
    _fsync_dir(target.parent)
    return target


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


def atomic_write_npz(path: str | os.PathLike, arrays: dict[str, Any], *, compressed: bool = False) -> Path:
    """``np.savez`` (or ``np.savez_compressed``) of ``arrays`` to ``path``, atomically. ``path`` is
    taken as given: NumPy's habit of appending ``.npz`` to a name without it does not apply."""
    import io

    import numpy as np

    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def clean_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove our temporaries in ``folder`` whose writer process no longer runs; returns them."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TMP.match(entry.name) or _TMP_DIR.match(entry.name)
        if m is None or _pid_alive(int(m.group("pid"))):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), rename_exchange)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Build a folder as a unit: yields an empty staging folder beside ``path``; when the block
    ends without error it replaces ``path`` (its previous content goes away whole), on error the
    staging folder is removed and ``path`` is untouched."""
    target = real_target(path)
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "exists and is not a folder", str(target))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temporaries(target.parent)
        stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".new", dir=target.parent))
    except OSError as exc:
        raise _named(exc, target) from None
    try:
        yield stage
        _fsync_tree(stage)
        if not target.exists():
            os.rename(stage, target)
        elif _exchange(stage, target):
            shutil.rmtree(stage, ignore_errors=True)  # now holds the previous content
        else:
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".old", dir=target.parent))
            os.rmdir(old)
            os.rename(target, old)
            os.rename(stage, target)
            shutil.rmtree(old, ignore_errors=True)
        _fsync_dir(target.parent)
    except BaseException as exc:
        shutil.rmtree(stage, ignore_errors=True)
        if isinstance(exc, OSError):
            raise _named(exc, target) from None
        raise


def _fsync_tree(folder: Path) -> None:
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                fd = os.open(os.path.join(root, name), os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        _fsync_dir(Path(root))


def _mode_for(target: Path) -> int:
    """Keep an existing file's permissions; new files get the usual 0666 & ~umask."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
