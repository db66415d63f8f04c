"""Checksums and structure of the files on disk, for an explicit ``verify`` command.

A file whose md5 differs from the published value but that reads fine is a *re-packed copy* (status
``"repacked"``), not an error: loading never requires the published md5.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from cnnlab.data.download import md5sum
from cnnlab.data.errors import DataCorruptError
from cnnlab.data.location import resolve_root
from cnnlab.data.registry import get_dataset
from cnnlab.data.spec import Reader


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


def _check(path: Path, published: str | None, reader: Reader, *, required: bool = True) -> FileCheck:
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


def verify_dataset(name: str, root: str | os.PathLike[str] | None = None) -> list[FileCheck]:
    """Check every file of ``name`` under the data root: presence, size, md5 vs published, structure.

    Never raises for a bad or missing file (that is what the result reports); see :attr:`FileCheck.status`.
    Optional files (CIFAR-10's archive ``cifar-10-python.tar.gz``) are reported too, as ``"absent"`` when not there.
    The published md5 applies to a file under its published name only (not to an un-gzipped MNIST copy).
    """
    spec = get_dataset(name)
    root_path = resolve_root(root)
    checks: list[FileCheck] = []
    for file in spec.files:
        path = spec.locate(root_path, file) or spec.path(root_path, file)
        published = file.md5 if path.name == file.name else None
        checks.append(_check(path, published, partial(spec.summarize, file)))
    for path, file, reader in spec.acquisition.optional_files(spec, root_path):
        checks.append(_check(path, file.md5, reader, required=False))
    return checks
