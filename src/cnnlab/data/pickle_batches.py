"""Python-pickle batches (CIFAR-10's format) and :class:`PickleBatchSpec`, the spec class of such datasets.

Each batch is a pickled dict with ``data`` (uint8, N x C*H*W: all of channel 0, then channel 1, ..., each row-major)
and a list of N integer labels (key ``labels`` in CIFAR-10). A meta file holds the class names. The original files
are Python 2 pickles; re-saved copies may have ``str`` or ``bytes`` keys. Both are accepted. Unpickling is restricted
to plain containers and NumPy arrays, so a batch file cannot run code.
"""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab.data.errors import DataCorruptError, unreadable
from cnnlab.data.spec import DatasetSpec, FileSpec

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
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not part of a pickled batch")
        return super().find_class(module, name)


def unpickle(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A pickled dict with ``str`` keys, loaded without running code; anything else -> :class:`DataCorruptError`."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise unreadable(path, error) from None
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


@dataclass(frozen=True, kw_only=True)
class PickleBatchSpec(DatasetSpec):
    """A dataset published as pickled batches: ``train_files`` and ``test_files`` are read and concatenated in
    order; ``meta_file`` (optional on disk) holds the class names under ``names_key``; ``label_key`` is the
    batch key of the labels."""

    train_files: tuple[FileSpec, ...]
    test_files: tuple[FileSpec, ...]
    meta_file: FileSpec | None = None
    label_key: str = "labels"
    names_key: str = "label_names"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.train_files or not self.test_files:
            raise ValueError(f"PickleBatchSpec {self.name!r}: train_files and test_files must not be empty")

    def source_files(self, source: str) -> tuple[FileSpec, ...]:
        return {"train": self.train_files, "test": self.test_files}[source]

    @property
    def extra_files(self) -> tuple[FileSpec, ...]:
        return () if self.meta_file is None else (self.meta_file,)

    def read_batch(self, path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
        """One batch file -> images uint8 ``(N, C, H, W)``, labels int64 ``(N,)``, with every size checked."""
        path = Path(path)
        d = unpickle(path)
        for key in ("data", self.label_key):
            if key not in d:
                raise DataCorruptError(path, f"missing key {key!r} (keys: {sorted(d)})")
        data = d["data"]
        if isinstance(data, bytes | bytearray):
            data = np.frombuffer(data, dtype=np.uint8)
        if not isinstance(data, np.ndarray):
            raise DataCorruptError(path, f"'data' should be a uint8 array, got {type(data).__name__}")
        if data.dtype != np.uint8:
            raise DataCorruptError(path, f"'data' should be uint8, got {data.dtype}")
        c, h, w = self.image_shape
        row = c * h * w
        if data.ndim == 1 and data.size % row == 0:
            data = data.reshape(-1, row)
        if data.ndim != 2 or data.shape[1] != row:
            raise DataCorruptError(
                path, f"wrong array size: 'data' has shape {data.shape}, expected (N, {row}) = N images of {c}x{h}x{w}"
            )
        key = self.label_key
        try:
            raw_labels = np.asarray(d[key])
            if raw_labels.dtype.kind not in "iu":  # floats would be truncated, bools and strings are no labels
                raise TypeError(f"got {raw_labels.dtype.name} values such as {raw_labels.ravel()[:3].tolist()}")
            labels = raw_labels.astype(np.int64)
        except (TypeError, ValueError) as exc:
            raise DataCorruptError(path, f"{key!r} is not a list of integers ({exc})") from None
        if labels.ndim != 1:
            raise DataCorruptError(path, f"{key!r} should be a flat list, got shape {labels.shape}")
        if len(labels) != len(data):
            raise DataCorruptError(path, f"label count {len(labels):,} != image count {len(data):,}")
        k = self.num_classes
        if labels.size and (labels.min() < 0 or labels.max() >= k):
            bad = int(np.argmax((labels < 0) | (labels >= k)))
            raise DataCorruptError(path, f"label out of range: {key}[{bad}] = {int(labels[bad])}, expected 0..{k - 1}")
        return data.reshape(-1, c, h, w), labels

    def read_meta(self, path: str | os.PathLike[str]) -> list[str]:
        """The class names in a meta file; there must be :attr:`num_classes` of them."""
        path = Path(path)
        names = unpickle(path).get(self.names_key)
        if not isinstance(names, list | tuple) or len(names) != self.num_classes:
            raise DataCorruptError(
                path, f"{self.names_key!r} should list {self.num_classes} class names, got {names!r:.200}"
            )
        return [n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names]

    def read(self, source: str, paths: Mapping[FileSpec, Path]) -> tuple[np.ndarray, np.ndarray]:
        """The batches of one file set, concatenated in order."""
        parts = [self.read_batch(paths[f]) for f in self.source_files(source)]
        if len(parts) == 1:
            return parts[0]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def class_names(self, root: Path) -> list[str]:
        """Names from the meta file when it is there, else :attr:`classes`."""
        if self.meta_file is not None and (path := self.path(root, self.meta_file)).is_file():
            return self.read_meta(path)
        return list(self.classes)

    def summarize(self, file: FileSpec, path: Path) -> str:
        if file == self.meta_file:
            return f"{len(self.read_meta(path))} class names"
        images, _ = self.read_batch(path)
        c, h, w = images.shape[1:]
        return f"{len(images):,} images {c}x{h}x{w}"
