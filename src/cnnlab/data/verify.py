"""Checksums and structure of the files on disk, for an explicit ``verify`` command.

A file whose md5 differs from the published value but that reads fine is a *re-packed copy* (status
``"repacked"``), not an error: loading never requires the published md5.
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from cnnlab.data import cifar10, mnist
from cnnlab.data.datasets import canonical_name
from cnnlab.data.download import md5sum
from cnnlab.data.errors import DataCorruptError
from cnnlab.data.sources import (
    CIFAR10_ARCHIVE,
    CIFAR10_DIR,
    CIFAR10_META_FILE,
    CIFAR10_TEST_FILE,
    CIFAR10_TRAIN_FILES,
    MNIST_DIR,
    MNIST_RESOURCES,
    resolve_root,
)


@dataclass
class FileCheck:
    """What :func:`verify_dataset` found for one expected file.

    ``md5_matches`` is ``None`` when no published md5 applies (e.g. an un-gzipped MNIST file); ``readable`` is
    ``None`` when the file is absent.
    """

    path: Path
    present: bool
    size: int | None
    md5: str | None
    published_md5: str | None
    md5_matches: bool | None
    readable: bool | None
    message: str
    required: bool = True

    @property
    def status(self) -> str:
        """``"ok"``, ``"repacked"`` (reads fine, md5 differs), ``"unverified"`` (reads fine, no published md5),
        ``"corrupt"``, ``"missing"`` or ``"absent"`` (an optional file, e.g. the archive, not there)."""
        if not self.present:
            return "missing" if self.required else "absent"
        if not self.readable:
            return "corrupt"
        if self.md5_matches is None:
            return "unverified"
        return "ok" if self.md5_matches else "repacked"

    @property
    def ok(self) -> bool:
        """Usable: present and readable (or an optional file that is absent)."""
        return bool(self.readable) if self.present else not self.required


def _check(path: Path, published: str | None, reader, *, required: bool = True) -> FileCheck:
    if not path.is_file():
        what = "missing" if required else "not present (optional)"
        return FileCheck(path, False, None, None, published, None, None, what, required)
    size = path.stat().st_size
    digest = md5sum(path)
    matches = None if published is None else digest == published
    try:
        summary = reader(path)
        readable = True
    except DataCorruptError as exc:
        readable, summary = False, exc.problem
    if not readable:
        message = f"corrupt: {summary}"
    elif matches is None:
        message = f"reads fine ({summary}); no published md5 for this file name"
    elif matches:
        message = f"ok: md5 matches the published value; {summary}"
    else:
        message = f"re-packed copy: md5 differs from the published {published} but the file reads fine ({summary})"
    return FileCheck(path, True, size, digest, published, matches, readable, message, required)


def _mnist_checks(root: Path) -> list[FileCheck]:
    checks = []
    for key, res in MNIST_RESOURCES.items():
        path = mnist.find_file(root, key) or root / MNIST_DIR / res.filename
        published = res.md5 if path.name == res.filename else None
        if key.endswith("images"):
            def reader(p: Path) -> str:
                a = mnist.read_images(p)
                return f"{len(a):,} images {a.shape[2]}x{a.shape[3]}"
        else:
            def reader(p: Path) -> str:
                return f"{len(mnist.read_labels(p)):,} labels"
        checks.append(_check(path, published, reader))
    return checks


def _cifar_checks(root: Path) -> list[FileCheck]:
    folder = root / CIFAR10_DIR

    def batch_reader(p: Path) -> str:
        images, _ = cifar10.read_batch(p)
        return f"{len(images):,} images 3x32x32"

    def meta_reader(p: Path) -> str:
        return f"{len(cifar10.read_meta(p))} class names"

    def archive_reader(p: Path) -> str:
        try:
            with tarfile.open(p, "r:*") as tar:
                names = [m.name for m in tar.getmembers() if m.isfile()]
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DataCorruptError(p, f"unreadable archive ({type(exc).__name__}: {exc})") from None
        return f"archive with {len(names)} files"

    checks = [_check(folder / r.filename, r.md5, batch_reader) for r in (*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE)]
    checks.append(_check(folder / CIFAR10_META_FILE.filename, CIFAR10_META_FILE.md5, meta_reader))
    checks.append(_check(root / CIFAR10_ARCHIVE.filename, CIFAR10_ARCHIVE.md5, archive_reader, required=False))
    return checks


def verify_dataset(name: str, root: str | os.PathLike[str] | None = None) -> list[FileCheck]:
    """Check every file of ``name`` under the data root: presence, size, md5 vs published, structure.

    Never raises for a bad or missing file (that is what the result reports); see :attr:`FileCheck.status`.
    For CIFAR-10 the optional archive ``cifar-10-python.tar.gz`` is reported too when present.
    """
    root_path = resolve_root(root)
    return _mnist_checks(root_path) if canonical_name(name) == "mnist" else _cifar_checks(root_path)
