"""Writing files so that no crash, kill or second process ever leaves a half-written or mixed-up one.

- :func:`atomic_write` / :func:`write_text_atomic`: the content goes to a temporary file unique to this writer in the
  destination's folder, is flushed and ``fsync``-ed, then renamed over the destination (and the folder entry
  synced). Readers see the old file or the new one, never a mixture; two writers never share a temporary file.
- :func:`owned_temp_file`: a temporary file that is locked while its writer lives, so :func:`remove_stale_temps` can
  delete the ones whose writer was killed (``kill -9`` gives no chance to clean up) without touching a live one.
- :class:`FolderLock`: one process at a time in a folder (an OS file lock, released when the process dies).

Locks use ``fcntl.flock`` (POSIX) or ``msvcrt.locking`` (Windows).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, ClassVar

try:  # POSIX
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

except ImportError:  # pragma: no cover - Windows
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]

#: A temporary file untouched this long and not locked by a live writer is stale.
STALE_AFTER_S = 5.0


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def owned_temp_file(folder: Path, prefix: str, suffix: str = ".part") -> Iterator[tuple[Path, IO[bytes]]]:
    """``(path, binary file)`` of a new temporary file in ``folder``, locked for as long as the block runs and
    removed at its end unless it was renamed away. Names start with ``prefix`` (use a leading dot: hidden)."""
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    path = Path(name)
    _try_lock(fd)
    try:
        with os.fdopen(fd, "w+b") as file:
            yield path, file
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def remove_stale_temps(folder: Path, pattern: str) -> list[Path]:
    """Delete the files matching ``pattern`` in ``folder`` that no live writer holds (left by a killed process);
    returns what was removed. A file younger than :data:`STALE_AFTER_S` is left alone (its writer may not have
    locked it yet)."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for path in folder.glob(pattern):
        try:
            if not path.is_file() or time.time() - path.stat().st_mtime < STALE_AFTER_S:
                continue
            fd = os.open(path, os.O_RDWR)
        except OSError:
            continue
        try:
            if _try_lock(fd):
                path.unlink()
                removed.append(path)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], Any]) -> Path:
    """Create or replace ``path`` with what ``write(file)`` writes to a binary file, atomically (see the module
    docstring). On any error the destination is unchanged and the temporary file is gone."""
    path = Path(path)
    with owned_temp_file(path.parent, prefix=f".{path.name}.", suffix=".tmp") as (tmp, file):
        write(file)
        file.flush()
        os.fsync(file.fileno())
        os.replace(tmp, path)
    _sync_folder(path.parent)
    return path


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """:func:`atomic_write` of ``text`` encoded as UTF-8."""
    return atomic_write(path, lambda file: file.write(text.encode("utf-8")))


class FolderLockedError(OSError):
    """Another live process holds the lock of the folder."""


class FolderLock:
    """An exclusive lock on ``folder`` (its file ``.cnnlab.lock``), held by one process at a time and released when
    the process ends, however it ends. Re-entrant within one process (nested holders share it). The lock file is
    removed on release."""

    NAME = ".cnnlab.lock"
    _held: ClassVar[dict[Path, tuple[int, int]]] = {}  # resolved folder -> (fd, depth)

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    @property
    def path(self) -> Path:
        return self.folder / self.NAME

    @property
    def depth(self) -> int:
        """How many holders in this process share the lock now (0: not held here)."""
        return self._held.get(self.folder.resolve(), (0, 0))[1]

    def acquire(self) -> None:
        """Take the lock or raise :class:`FolderLockedError` at once (never waits)."""
        key = self.folder.resolve()
        if key in self._held:
            fd, depth = self._held[key]
            self._held[key] = (fd, depth + 1)
            return
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            if not _try_lock(fd):
                os.close(fd)
                raise FolderLockedError(f"{self.folder} is in use by another cnnlab process")
            try:  # the holder before us may have removed the file just before we locked it: then lock anew
                if os.path.samestat(os.fstat(fd), os.stat(self.path)):
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._held[key] = (fd, 1)

    def release(self) -> None:
        key = self.folder.resolve()
        fd, depth = self._held[key]
        if depth > 1:
            self._held[key] = (fd, depth - 1)
            return
        del self._held[key]
        with contextlib.suppress(OSError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            _unlock(fd)
        os.close(fd)

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
