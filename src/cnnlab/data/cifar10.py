"""CIFAR-10 from its python-pickle batches (``data_batch_1..5``, ``test_batch``, ``batches.meta``).

Each batch is a pickled dict with ``data`` (uint8, N x 3072: 1024 red, 1024 green, 1024 blue, row-major) and
``labels`` (N ints). The original files are Python 2 pickles; re-saved copies may have ``str`` or ``bytes`` keys.
Both are accepted. Unpickling is restricted to plain containers and NumPy arrays, so a batch file cannot run code.
The original archive ``cifar-10-python.tar.gz`` is extracted on first use (path-traversal safe).
"""

from __future__ import annotations

import io
import os
import pickle
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab.data.errors import DataCorruptError, DataError
from cnnlab.data.sources import CIFAR10_ARCHIVE, CIFAR10_CLASSES, CIFAR10_DIR

ROW_BYTES = 3 * 32 * 32
NUM_CLASSES = 10

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not part of a CIFAR batch")
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict[str, Any]:
    raw = path.read_bytes()
    try:
        obj = _SafeUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except Exception as exc:  # pickle raises many types on garbage: UnpicklingError, EOFError, ValueError, ...
        if isinstance(exc, EOFError) or "truncated" in str(exc):
            problem = f"truncated pickle: the data ends early ({len(raw):,} bytes on disk; {exc})"
        else:
            problem = f"unreadable pickle ({type(exc).__name__}: {exc})"
        raise DataCorruptError(path, problem) from None
    if not isinstance(obj, dict):
        raise DataCorruptError(path, f"expected a pickled dict, got {type(obj).__name__}")
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in obj.items()}


def read_batch(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> images uint8 (N, 3, 32, 32), labels int64 (N,), with every size checked."""
    path = Path(path)
    d = _unpickle(path)
    for key in ("data", "labels"):
        if key not in d:
            raise DataCorruptError(path, f"missing key {key!r} (keys: {sorted(d)})")
    data = d["data"]
    if isinstance(data, bytes | bytearray):
        data = np.frombuffer(data, dtype=np.uint8)
    if not isinstance(data, np.ndarray):
        raise DataCorruptError(path, f"'data' should be a uint8 array, got {type(data).__name__}")
    if data.dtype != np.uint8:
        raise DataCorruptError(path, f"'data' should be uint8, got {data.dtype}")
    if data.ndim == 1 and data.size % ROW_BYTES == 0:
        data = data.reshape(-1, ROW_BYTES)
    if data.ndim != 2 or data.shape[1] != ROW_BYTES:
        raise DataCorruptError(
            path, f"wrong array size: 'data' has shape {data.shape}, expected (N, {ROW_BYTES}) = N images of 3x32x32"
        )
    try:
        labels = np.asarray(d["labels"], dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise DataCorruptError(path, f"'labels' is not a list of integers ({exc})") from None
    if labels.ndim != 1:
        raise DataCorruptError(path, f"'labels' should be a flat list, got shape {labels.shape}")
    if len(labels) != len(data):
        raise DataCorruptError(path, f"label count {len(labels):,} != image count {len(data):,}")
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        bad = int(np.argmax((labels < 0) | (labels >= NUM_CLASSES)))
        raise DataCorruptError(
            path, f"label out of range: labels[{bad}] = {int(labels[bad])}, expected 0..{NUM_CLASSES - 1}"
        )
    return data.reshape(-1, 3, 32, 32), labels


def read_meta(path: str | os.PathLike[str]) -> list[str]:
    """Class names from ``batches.meta``."""
    path = Path(path)
    d = _unpickle(path)
    names = d.get("label_names")
    if not isinstance(names, list | tuple) or len(names) != NUM_CLASSES:
        raise DataCorruptError(path, f"'label_names' should list {NUM_CLASSES} class names, got {names!r:.200}")
    return [n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names]


def load_batches(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate several batch files (in order)."""
    parts = [read_batch(p) for p in paths]
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def class_names(root: Path) -> list[str]:
    """Names from ``batches.meta`` when present, else the standard CIFAR-10 names."""
    meta = root / CIFAR10_DIR / "batches.meta"
    return read_meta(meta) if meta.is_file() else list(CIFAR10_CLASSES)


def extract_archive(archive: Path, root: Path, wanted: list[str] | None = None) -> list[Path]:
    """Extract ``cifar-10-batches-py/*`` from ``archive`` into ``root``; return the files written.

    Only regular files directly inside ``cifar-10-batches-py/`` are taken (no links, no ``..``). Files already
    present are left alone. Each file is extracted to a temporary folder first and moved in when complete.
    """
    target = root / CIFAR10_DIR
    writable_dir = target if target.is_dir() else root
    if not os.access(writable_dir, os.W_OK):
        raise DataError(
            f"{archive} must be extracted before use, but {writable_dir} is not writable; extract it yourself "
            f"(tar xzf {archive.name}) where you can write and point the data root there"
        )
    written: list[Path] = []
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = [
                m for m in tar.getmembers()
                if m.isfile() and Path(m.name).parent.name == CIFAR10_DIR.name and len(Path(m.name).parts) == 2
            ]
            if wanted is not None:
                members = [m for m in members if Path(m.name).name in wanted]
            target.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=".cifar-extract-", dir=root) as tmp:
                for m in members:
                    dest = target / Path(m.name).name
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


def archive_path(root: Path) -> Path:
    return root / CIFAR10_ARCHIVE.filename
