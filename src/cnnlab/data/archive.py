"""Safe extraction of a dataset folder from a published ``.tar(.gz)`` archive: no links, no ``..``, no half files."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Collection
from pathlib import Path, PurePosixPath

from cnnlab.data.errors import DataCorruptError, DataError


def extract_archive(archive: Path, root: Path, folder: Path, wanted: Collection[str] | None = None) -> list[Path]:
    """Extract the regular files directly inside ``folder/`` of ``archive`` into ``root / folder``.

    ``wanted``: only these file names (default: all). Files already present are left alone. Each file is written
    to a temporary folder under ``root`` first and moved in when complete. Returns the files written.
    """
    target = root / folder
    member_dir = PurePosixPath(folder.as_posix())
    writable_dir = target if target.is_dir() else root
    if not os.access(writable_dir, os.W_OK):
        raise DataError(
            f"{archive} must be extracted before use, but {writable_dir} is not writable; extract it yourself "
            f"(tar xzf {archive.name}) where you can write and point the data root there"
        )
    written: list[Path] = []
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = [m for m in tar.getmembers() if m.isfile() and PurePosixPath(m.name).parent == member_dir]
            if wanted is not None:
                members = [m for m in members if PurePosixPath(m.name).name in wanted]
            target.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=".extract-", dir=root) as tmp:
                for m in members:
                    dest = target / PurePosixPath(m.name).name
                    if dest.exists():
                        continue
                    src = tar.extractfile(m)
                    if src is None:
                        continue
                    part = Path(tmp) / dest.name
                    with src, open(part, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                    if part.stat().st_size != m.size:
                        raise EOFError(f"{m.name}: got {part.stat().st_size} of {m.size} bytes")
                    os.replace(part, dest)
                    written.append(dest)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataCorruptError(
            archive,
            f"cannot extract the archive ({type(exc).__name__}: {exc}); delete it to let cnnlab download a fresh copy",
        ) from None
    return written


def summarize_archive(path: Path) -> str:
    """``"archive with N files"``; an unreadable archive raises :class:`DataCorruptError`."""
    try:
        with tarfile.open(path, "r:*") as tar:
            names = [m.name for m in tar.getmembers() if m.isfile()]
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataCorruptError(path, f"unreadable archive ({type(exc).__name__}: {exc})") from None
    return f"archive with {len(names)} files"
