"""Every data problem is a :class:`DataError`, so a command line can catch one class and print the message.

Messages are written for a person: they name the file (full path) and say what is wrong with it, or list the
files that are expected, where, and how to get them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class DataError(Exception):
    """Base class of every error raised by :mod:`cnnlab.data` about data files (missing, corrupt, download)."""


class DataNotFoundError(DataError, FileNotFoundError):
    """Required dataset files are missing (and were not, or could not be, downloaded).

    ``missing`` lists the absolute paths that were expected.
    """

    def __init__(self, message: str, missing: Sequence[Path] = ()) -> None:
        super().__init__(message)
        self.missing = [Path(p) for p in missing]

    def __str__(self) -> str:  # FileNotFoundError would otherwise format errno/filename
        return str(self.args[0])


class DownloadError(DataNotFoundError):
    """A download failed (network, HTTP status, truncated transfer or md5 mismatch); nothing was left behind.

    ``unreachable`` is true when no mirror could even be contacted (offline, DNS failure, refused connection).
    """

    unreachable: bool = False


class DataCorruptError(DataError, ValueError):
    """A file exists but cannot be read as what it should be (bad magic, truncated, wrong sizes, bad labels).

    ``path`` is the offending file and ``problem`` the short description; ``str(err)`` combines both.
    """

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def unreadable(path: Path, error: OSError) -> DataError:
    """The error for a data file the operating system will not let us read (permissions, a folder, ...)."""
    return DataError(f"{path}: cannot read the file ({error.strerror or error}); check that it is a readable file")
