"""Extracting a dataset folder from a published ``.tar(.gz)`` archive: whole or not at all, integrity first.

One streaming pass reads the archive: the members wanted (regular files directly inside the dataset folder; no
links, no ``..``) are written to a temporary folder, and at the end of the stream the gzip CRC and length are
checked and, for the official archive (the published size), its published md5. Only when all of that holds are the
files moved into place; otherwise the temporary folder is removed and nothing is extracted. The message then names
the archive, what is wrong with it and that deleting it lets cnnlab download a fresh copy.

Members are streamed with a cap (:func:`extraction_limit`), so a small archive that would inflate to gigabytes
(a "tar bomb") is refused when its member headers announce too much.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import shutil
import tarfile
import zlib
from collections.abc import Callable, Collection
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

from cnnlab.data.errors import DataCorruptError, DataError, DataNotFoundError
from cnnlab.files import owned_temp_dir, remove_stale_temp_dirs

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20


def extraction_limit(archive_size: int) -> int:
    """The most bytes extracted from an archive of ``archive_size`` bytes: 64 MiB plus 20 times its size (image
    datasets compress far less than 20:1; bombs compress 1000:1)."""
    return (64 << 20) + 20 * archive_size


class _Hashing:
    """A read-only file wrapper that feeds every byte read through md5."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.md5 = hashlib.md5(usedforsecurity=False)

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.md5.update(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


def _damaged(archive: Path, problem: str) -> DataCorruptError:
    return DataCorruptError(archive, f"damaged archive ({problem}); nothing was extracted from it. Delete {archive} "
                                     "and load again to download a fresh copy")


Member = Callable[[tarfile.TarInfo, IO[bytes]], None]


def scan_archive(archive: Path, on_member: Member, *, md5: str | None = None, size: int | None = None,
                 folder: PurePosixPath | None = None) -> int:
    """Read ``archive`` once from start to end, calling ``on_member(info, stream)`` for each regular file (directly
    inside ``folder`` when given), then check its integrity: gzip CRC and length, and -- when the archive has the
    published ``size`` (or no size is published) -- the published ``md5``. Returns the number of members passed on;
    raises :class:`DataCorruptError` naming the archive when anything is wrong."""
    on_disk = archive.stat().st_size
    budget = extraction_limit(on_disk)
    passed = 0
    try:
        with contextlib.ExitStack() as stack:
            raw = stack.enter_context(open(archive, "rb"))
            gz = raw.read(2) == GZIP_MAGIC
            raw.seek(0)
            hashing = _Hashing(raw)
            stream: Any = hashing
            if gz:
                stream = stack.enter_context(gzip.GzipFile(fileobj=cast(IO[bytes], hashing), mode="rb"))
            with tarfile.open(fileobj=stream, mode="r|" if gz else "r|*") as tar:
                for info in tar:
                    if not info.isfile() or (folder is not None and PurePosixPath(info.name).parent != folder):
                        continue
                    budget -= info.size
                    if budget < 0:
                        raise _damaged(archive, f"its members add up to more than {extraction_limit(on_disk):,} "
                                                f"bytes (at {info.name}, {info.size:,} bytes): not a dataset archive "
                                                "of this size")
                    member = tar.extractfile(info)
                    if member is not None:
                        on_member(info, member)
                        passed += 1
            while stream.read(CHUNK):  # to the end: gzip checks its CRC and length there, md5 sees every byte
                pass
            hashing.drain()
    except DataError:
        raise
    except EOFError as exc:
        raise _damaged(archive, f"it ends early: {exc or 'truncated'}") from None
    except (tarfile.TarError, gzip.BadGzipFile, zlib.error) as exc:
        raise _damaged(archive, f"{type(exc).__name__}: {exc}") from None
    except OSError as exc:
        if exc.errno is None:  # the gzip module reports some damage as a bare OSError
            raise _damaged(archive, str(exc)) from None
        raise
    if md5 is not None and (size is None or on_disk == size) and hashing.md5.hexdigest() != md5:
        raise _damaged(archive, f"md5 {hashing.md5.hexdigest()} differs from the published {md5} although it has "
                                f"the official archive's size ({on_disk:,} bytes)")
    return passed


def extract_archive(archive: Path, root: Path, folder: Path, wanted: Collection[str] | None = None, *,
                    required: Collection[str] = (), md5: str | None = None, size: int | None = None,
                    replace: bool = False) -> list[Path]:
    """Extract the regular files directly inside ``folder/`` of ``archive`` into ``root / folder``, all or none.

    ``wanted``: only these file names (default: all). Files already present are left alone (``replace``: replaced,
    once the whole archive proved intact). ``required``: names
    that must be in the archive (or on disk already), else nothing is extracted. ``md5``/``size``: the published
    checksum and size of the official archive (see :func:`scan_archive`). Returns the files written.
    """
    target = root / folder
    writable_dir = target if target.is_dir() else root
    if not os.access(writable_dir, os.W_OK):
        raise DataError(
            f"{archive} must be extracted before use, but {writable_dir} is not writable; extract it yourself "
            f"(tar xzf {archive.name}) where you can write and point the data root there"
        )
    remove_stale_temp_dirs(root, ".extract-*")  # left by an extraction that was killed
    try:
        with owned_temp_dir(root, ".extract-") as tmp:
            parts: dict[Path, Path] = {}
            seen: set[str] = set()

            def keep(info: tarfile.TarInfo, member: IO[bytes]) -> None:
                name = PurePosixPath(info.name).name
                seen.add(name)
                dest = target / name
                if (wanted is not None and name not in wanted) or (dest.exists() and not replace) or dest in parts:
                    return
                part = Path(tmp) / name
                with open(part, "wb") as out:
                    shutil.copyfileobj(member, out, CHUNK)
                if part.stat().st_size != info.size:
                    raise EOFError(f"{info.name}: got {part.stat().st_size:,} of {info.size:,} bytes")
                parts[dest] = part

            scan_archive(archive, keep, md5=md5, size=size, folder=PurePosixPath(folder.as_posix()))
            absent = [name for name in required if name not in seen and not (target / name).exists()]
            if absent:
                raise DataNotFoundError(
                    f"{archive}: the archive does not contain {', '.join(f'{folder.as_posix()}/{n}' for n in absent)} "
                    "(as regular files): it is incomplete or not this dataset's archive; nothing was extracted from "
                    "it. Delete it and load again to download a fresh copy", missing=[target / n for n in absent])
            target.mkdir(parents=True, exist_ok=True)
            for dest, part in parts.items():
                os.replace(part, dest)
    except DataError:
        raise
    except OSError as exc:
        raise DataError(f"cannot extract {archive} into {target} ({exc.strerror or exc}); nothing was extracted. "
                        "Free some space or point the data root at a writable folder") from None
    return list(parts)


def summarize_archive(path: Path, *, md5: str | None = None, size: int | None = None) -> str:
    """``"archive with N files, integrity checked"``; a damaged archive raises :class:`DataCorruptError`."""
    count = scan_archive(path, lambda info, member: None, md5=md5, size=size)
    with open(path, "rb") as file:
        gz = file.read(2) == GZIP_MAGIC
    return f"archive with {count} files" + (", gzip CRC and length checked" if gz else "")
