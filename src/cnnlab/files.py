"""Writing files so that no crash, kill or second process ever leaves a half-written or mixed-up one.

- :func:`atomic_write` / :func:`write_text_atomic`: the content goes to a temporary file unique to this writer in the
  destination's folder, is flushed and ``fsync``-ed, then renamed over the destination (and the folder entry
  synced). Readers see the old file or the new one, never a mixture; two writers never share a temporary file.
- :func:`owned_temp_file` / :func:`owned_temp_dir`: a temporary file or folder that is locked while its writer
  lives, so :func:`remove_stale_temps` / :func:`remove_stale_temp_dirs` can delete the ones whose writer was killed
  (``kill -9`` gives no chance to clean up) without touching a live one.
- :class:`FolderLock`: one process at a time in a folder (an OS file lock, released when the process dies).

Locks use ``fcntl.flock`` (POSIX) or ``msvcrt.locking`` (Windows).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, ClassVar

try:  # POSIX
    import fcntl

    #: Whether an open file may be renamed (POSIX) -- on Windows it must be closed first.
    RENAME_WHILE_OPEN = True

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

    RENAME_WHILE_OPEN = False

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]

def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Files get the usual permissions (0o666 less the umask), not ``mkstemp``'s private 0o600.
FILE_MODE = 0o666 & ~_umask()
#: A temporary folder without its lock file yet is left alone for this long (its owner may be creating it).
UNLOCKED_GRACE_S = 60.0
LOCK_NAME = ".lock"


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
    removed at its end unless it was renamed away. Names start with ``prefix`` (use a leading dot: hidden).

    The file is created and locked under a provisional name first and only then given ``suffix``, so whoever
    sees a file ending in ``suffix`` unlocked knows its writer is gone (:func:`remove_stale_temps`)."""
    # (Windows cannot rename an open file: there the lock is taken under the final name.)
    fd, provisional = tempfile.mkstemp(prefix=prefix, suffix=".new" if RENAME_WHILE_OPEN else suffix, dir=folder)
    _try_lock(fd)
    os.chmod(provisional, FILE_MODE)
    path = Path(provisional[: -len(".new")] + suffix) if RENAME_WHILE_OPEN else Path(provisional)
    try:
        if RENAME_WHILE_OPEN:
            os.replace(provisional, path)
        with os.fdopen(fd, "w+b") as file:
            yield path, file
    finally:
        for leftover in (path, Path(provisional)):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def _unlocked(path: Path) -> bool:
    """True when no live process holds the lock of the file ``path``."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        return _try_lock(fd)
    finally:
        os.close(fd)


def commit(file: IO[bytes], tmp: Path, dest: Path) -> None:
    """Make the temporary file ``tmp`` (open as ``file``) durable and rename it to ``dest``."""
    file.flush()
    os.fsync(file.fileno())
    if not RENAME_WHILE_OPEN:
        file.close()
    os.replace(tmp, dest)


def remove_stale_temps(folder: Path, pattern: str) -> list[Path]:
    """Delete the files matching ``pattern`` in ``folder`` that no live writer holds (left by a killed process;
    see :func:`owned_temp_file`); returns what was removed."""
    removed: list[Path] = []
    for path in folder.glob(pattern) if folder.is_dir() else ():
        if path.is_file() and _unlocked(path):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


@contextlib.contextmanager
def owned_temp_dir(parent: Path, prefix: str) -> Iterator[Path]:
    """A new temporary folder in ``parent`` whose lock file (``.lock`` inside) is held for the block; removed with
    everything in it at the end. :func:`remove_stale_temp_dirs` removes those of killed processes."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    _try_lock(fd)
    try:
        yield folder
    finally:
        os.close(fd)
        shutil.rmtree(folder, ignore_errors=True)


def remove_stale_temp_dirs(parent: Path, pattern: str) -> list[Path]:
    """Delete the folders matching ``pattern`` in ``parent`` whose owner is gone (see :func:`owned_temp_dir`)."""
    removed: list[Path] = []
    for folder in parent.glob(pattern) if parent.is_dir() else ():
        lock = folder / LOCK_NAME
        try:
            stale = _unlocked(lock) if lock.exists() else time.time() - folder.stat().st_mtime > UNLOCKED_GRACE_S
        except OSError:
            continue
        if folder.is_dir() and stale:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], Any]) -> Path:
    """Create or replace ``path`` with what ``write(file)`` writes to a binary file, atomically (see the module
    docstring). On any error the destination is unchanged and the temporary file is gone; temporary files a killed
    writer left for ``path`` are removed first."""
    path = Path(path)
    try:
        remove_stale_temps(path.parent, f".{path.name}.*.tmp")
        with owned_temp_file(path.parent, prefix=f".{path.name}.", suffix=".tmp") as (tmp, file):
            write(file)
            commit(file, tmp, path)
    except OSError as error:
        if error.filename is None:  # a failed write() does not say which file (e.g. disk full): name it
            raise type(error)(error.errno, error.strerror or str(error), str(path)) from error
        raise
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
