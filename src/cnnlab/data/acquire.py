"""Getting a dataset's files onto disk: :func:`ensure_files` and the two ways to acquire missing files.

:class:`FileDownload`: each missing file is fetched from ``<mirror>/<file name>`` into the dataset folder (MNIST).
:class:`ArchiveDownload`: one archive is fetched into the data root and the dataset folder extracted from it; an
archive already there is extracted on first use (CIFAR-10). Downloads are md5-checked (:mod:`cnnlab.data.download`).
When files are missing and cannot be fetched, one :class:`DataNotFoundError` lists every missing file of the
dataset, where they are expected, and how to get them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from cnnlab.data.archive import extract_archive, summarize_archive
from cnnlab.data.download import download_file
from cnnlab.data.errors import DataNotFoundError, DownloadError
from cnnlab.data.location import DATA_ENV, resolve_mirrors
from cnnlab.data.spec import DatasetSpec, FileSpec, Reader


def _size_text(n: int | None) -> str:
    if n is None:
        return ""
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def _published(file: FileSpec) -> str:
    """``"md5 <hex>, 9.9 MB"`` (the parts that are known)."""
    parts = ([f"md5 {file.md5}"] if file.md5 else []) + ([_size_text(file.size)] if file.size is not None else [])
    return ", ".join(parts)


def _indent(text: str) -> str:
    return "  " + text.replace("\n", "\n  ")


@dataclass(frozen=True)
class FileDownload:
    """Each missing file is downloaded on its own from ``<mirror>/<file name>`` into the dataset folder."""

    def unpack_local(self, spec: DatasetSpec, root: Path, files: Sequence[FileSpec]) -> None:
        """Nothing to unpack: the files are published one by one."""

    def fetch(
        self, spec: DatasetSpec, root: Path, files: Sequence[FileSpec], urls: Sequence[str], *, progress: bool,
        force: bool,
    ) -> list[str]:
        """Download every file of ``files`` (a present file is replaced only by a verified download); once no
        mirror can be reached at all, the remaining files are not tried."""
        failures: list[str] = []
        for i, file in enumerate(files):
            try:
                download_file(file.name, root / spec.folder, urls, file.md5, progress=progress, size=file.size)
            except DownloadError as exc:
                failures.append(_indent(str(exc)))
                if exc.unreachable and i + 1 < len(files):
                    rest = ", ".join(f.name for f in files[i + 1 :])
                    failures.append(f"  not tried, as no mirror could be reached (offline?): {rest}")
                    break
        return failures

    def describe(self, spec: DatasetSpec, file: FileSpec) -> str:
        details = "; ".join(d for d in (_published(file), spec.file_note(file)) if d)
        return f"{file.name}  ({details})" if details else file.name

    def alternatives(self, spec: DatasetSpec, root: Path) -> list[str]:
        return []

    def manual_step(self, spec: DatasetSpec, root: Path) -> str:
        return f"download them from {' or '.join(spec.mirrors)} and put them in {(root / spec.folder).resolve()}/"

    def optional_files(self, spec: DatasetSpec, root: Path) -> list[tuple[Path, FileSpec, Reader]]:
        return []


@dataclass(frozen=True)
class ArchiveDownload:
    """The files come in one ``archive`` (``.tar`` / ``.tar.gz``) kept at ``<root>/<archive.name>``; the dataset
    folder is the archive's ``<folder>/`` (regular files directly inside it), extracted on first use."""

    archive: FileSpec

    def _path(self, root: Path) -> Path:
        return root / self.archive.name

    def unpack_local(self, spec: DatasetSpec, root: Path, files: Sequence[FileSpec]) -> None:
        """Extract ``files`` from the archive, if it is there (nothing else, so a first load stays quick); an archive
        that lacks one of them (besides the optional extra files) is an error naming it."""
        archive = self._path(root)
        if not archive.is_file():
            return
        extract_archive(archive, root, spec.folder, [f.name for f in files], md5=self.archive.md5,
                        size=self.archive.size, required=[f.name for f in files if f not in spec.extra_files])

    def fetch(
        self, spec: DatasetSpec, root: Path, files: Sequence[FileSpec], urls: Sequence[str], *, progress: bool,
        force: bool,
    ) -> list[str]:
        """Download the archive and extract all of it (replacing the extracted files if ``force``)."""
        try:
            download_file(self.archive.name, root, urls, self.archive.md5, progress=progress, size=self.archive.size)
        except DownloadError as exc:
            return [_indent(str(exc))]
        extract_archive(self._path(root), root, spec.folder, md5=self.archive.md5, size=self.archive.size,
                        required=[f.name for f in files], replace=force)
        return []

    def describe(self, spec: DatasetSpec, file: FileSpec) -> str:
        return file.name

    def alternatives(self, spec: DatasetSpec, root: Path) -> list[str]:
        details = _published(self.archive)
        return [f"  or the archive {self._path(root).resolve()}{f' ({details})' if details else ''}, "
                "extracted on first use."]

    def manual_step(self, spec: DatasetSpec, root: Path) -> str:
        return f"download {spec.mirrors[0].rstrip('/')}/{self.archive.name} into {root.resolve()}/"

    def optional_files(self, spec: DatasetSpec, root: Path) -> list[tuple[Path, FileSpec, Reader]]:
        return [(self._path(root), self.archive, partial(summarize_archive, md5=self.archive.md5,
                                                          size=self.archive.size))]


# ------------------------------------------------------------------------------------------------ ensure_files


def _misplaced_hints(root: Path, filenames: Sequence[str], expected_dir: Path) -> list[str]:
    hints = []
    for name in filenames:
        for where in (root, root / "raw", root / expected_dir.parts[0]):
            for candidate in (where / name, where / name.removesuffix(".gz")):
                if candidate.is_file() and candidate.parent != root / expected_dir:
                    hints.append(f"Note: found {candidate}; the expected layout is <root>/{expected_dir}/{name}.")
    return hints[:4]


def _missing_message(
    spec: DatasetSpec, root: Path, files: Sequence[FileSpec], origin: str, failures: Sequence[str] = ()
) -> str:
    """The missing-file message: what failed (``failures``), the expected ``files`` and where, how to get them."""
    folder = (root / spec.folder).resolve()
    acquisition = spec.acquisition
    if failures:
        lines = [f"{spec.title} files are missing and downloading them failed:", *failures, ""]
    else:
        lines = [f"{spec.title} files are missing (download is off)."]
    lines.append(f"Expected in {folder}  (data root {root}, {origin}):")
    lines += [f"    {acquisition.describe(spec, f)}" for f in files]
    lines += acquisition.alternatives(spec, root)
    works = " (an existing torchvision download works)" if spec.torchvision_layout else ""
    lines += [
        "How to get them:",
        "  - run again with internet access and downloading on (the default), or",
        f"  - {acquisition.manual_step(spec, root)}, or",
        f"  - point --data-dir / ${DATA_ENV} at a folder that has {spec.folder.as_posix()}/{works}.",
    ]
    return "\n".join(lines + _misplaced_hints(root, [f.name for f in files], spec.folder))


def _absent(spec: DatasetSpec, root: Path, files: Sequence[FileSpec]) -> list[FileSpec]:
    return [f for f in files if spec.locate(root, f) is None]


def ensure_files(
    spec: DatasetSpec,
    root: Path,
    files: Sequence[FileSpec],
    *,
    download: bool,
    mirrors: Sequence[str] | str | None,
    progress: bool,
    origin: str,
    force: bool = False,
) -> dict[FileSpec, Path]:
    """The path on disk of each of ``files``, after fetching what is missing (everything if ``force``).

    Files on disk are used as they are (no md5 check). When some of ``files`` are missing and cannot be fetched
    (``download=False``, or the download failed), the :class:`DataNotFoundError` / :class:`DownloadError` lists
    every missing file of the dataset (:attr:`~DatasetSpec.required_files` and ``files``), not only ``files``.
    ``origin`` says where ``root`` came from, for that message.
    """
    if force and not download:
        raise ValueError("force=True needs download=True")
    if not force:
        if _absent(spec, root, files):
            spec.acquisition.unpack_local(spec, root, [*files, *spec.extra_files])
        if not _absent(spec, root, files):
            return _located(spec, root, files)
    everything = tuple(dict.fromkeys((*spec.required_files, *files)))
    listed = _absent(spec, root, everything)
    if not download:
        raise DataNotFoundError(_missing_message(spec, root, listed, origin),
                                missing=[spec.path(root, f) for f in listed])
    todo = list(files) if force else _absent(spec, root, files)
    urls = resolve_mirrors(spec.mirrors, mirrors)
    failures = spec.acquisition.fetch(spec, root, todo, urls, progress=progress, force=force)
    listed = _absent(spec, root, everything)
    if failures:
        raise DownloadError(_missing_message(spec, root, listed or todo, origin, failures),
                            missing=[spec.path(root, f) for f in listed])
    if _absent(spec, root, files):  # an acquisition that reports success must have delivered the files
        raise DataNotFoundError(_missing_message(spec, root, listed, origin),
                                missing=[spec.path(root, f) for f in listed])
    return _located(spec, root, files)


def _located(spec: DatasetSpec, root: Path, files: Sequence[FileSpec]) -> dict[FileSpec, Path]:
    out = {}
    for f in files:
        path = spec.locate(root, f)
        if path is not None:
            out[f] = path
    return out
