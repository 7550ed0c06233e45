"""The one safe-write path: exclusive locks, atomic writes, and outputs never overwritten unchecked.

* :func:`exclusive_lock` holds an ``fcntl.flock`` on a lock file (the kernel drops it when the
  holder dies, also on ``kill -9``); a second holder is refused at once with the first one's pid.
* :func:`atomic_file` / :func:`atomic_write` write a temporary file beside the target and rename it
  into place, so a crash or a full disk leaves the old file whole; the temporary file is removed
  on any failure.
* :func:`check_output` refuses to overwrite a file the tool did not write: every output written
  through :func:`write_output` / :func:`output_file` gets a sidecar ``.<name>.reled`` with the
  sha256 of what was written. An existing file without a matching sidecar (not ours, or edited
  since) is only replaced with ``force=True``.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

from reled_sumo.errors import UserInputError

SIDECAR_SUFFIX = ".reled"


class LockHeldError(UserInputError):
    """Another process holds the lock."""


def acquire_lock(lock_file: Path, busy: str, error: type[Exception] = LockHeldError, hint: str = "") -> int:
    """Lock ``lock_file`` exclusively (``fcntl.flock``) and write this process's pid into it; returns the
    open descriptor (closing it drops the lock). Another holder: ``error(busy + " (pid N)" + hint)`` at once.

    A lock file its holder deleted on release (``exclusive_lock(remove=True)``) may have been locked in
    between: then the current file is locked instead."""
    while True:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_pid(fd)
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise error(f"{busy}{f' (pid {holder})' if holder else ''}{hint}") from None
            raise
        if _same_file(fd, lock_file):
            break
        os.close(fd)
    try:  # the pid is for the message of a refused second process: best effort (a full disk)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError:
        pass
    return fd


@contextlib.contextmanager
def exclusive_lock(lock_file: Path, busy: str, remove: bool = False) -> Iterator[None]:
    """Hold ``lock_file`` exclusively (:func:`acquire_lock`) for the ``with`` block.

    ``remove=True``: the lock file is deleted (while still held) on release, so nothing is left
    behind; a process that locked the deleted file meanwhile sees that and tries again."""
    fd = acquire_lock(lock_file, busy)
    try:
        yield
    finally:
        if remove:
            Path(lock_file).unlink(missing_ok=True)
        os.close(fd)  # drops the flock


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    On any failure (a full disk, an exception of a writer such as ``torch.save``) the temporary
    file is removed and ``path`` is left as it was."""
    path = Path(path)
    if path.is_dir():
        raise UserInputError(f"{path} is a folder; give a file name")
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        if exc.filename is None:  # a failed write names no file: name the one being written
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + rename)."""
    path = Path(path)
    with atomic_file(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _sidecar(path: Path) -> Path:
    return path.with_name(f".{path.name}{SIDECAR_SUFFIX}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def written_by_us(path: Path) -> bool:
    """``path`` is a file this tool wrote and nobody changed since (its sidecar's hash matches)."""
    try:
        recorded = json.loads(_sidecar(path).read_text()).get("sha256")
        return isinstance(recorded, str) and recorded == _sha256(path)
    except (OSError, ValueError, AttributeError):
        return False


def check_output(path: str | Path, force: bool = False) -> Path:
    """Refuse (UserInputError) to overwrite a file this tool did not write, unless ``force``."""
    path = Path(path)
    if path.is_dir():
        raise UserInputError(f"{path} is a folder; give a file name")
    if path.exists() and not force and not written_by_us(path):
        raise UserInputError(f"{path} exists and was not written by reled (or was changed since); "
                             "refusing to overwrite it; choose another --out or add --force")
    return path


def record_output(path: str | Path) -> None:
    """Mark ``path`` (written by another writer, e.g. ``savefig``) as written by this tool."""
    path = Path(path)
    atomic_write(_sidecar(path), json.dumps({"written_by": "reled-sumo", "sha256": _sha256(path)}) + "\n")


@contextlib.contextmanager
def output_file(path: str | Path, force: bool = False) -> Iterator[Path]:
    """:func:`check_output`, then :func:`atomic_file`, then the sidecar that marks ``path`` as ours."""
    path = check_output(path, force)
    with atomic_file(path) as tmp:
        yield tmp
    record_output(path)


def write_output(path: str | Path, data: str | bytes, force: bool = False) -> Path:
    """Write an output file through :func:`output_file`."""
    with output_file(path, force) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    return Path(path)
