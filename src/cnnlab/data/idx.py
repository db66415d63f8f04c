"""The IDX format (MNIST's) and :class:`IdxDatasetSpec`, the spec class of datasets published as IDX files.

IDX (big-endian): two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions ``d``, then ``d``
uint32 sizes, then the data. Files may be gzipped or not; compression is detected from the gzip magic bytes, not
the file name. Arrays are read with ``np.frombuffer``: no Python loop per image.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnlab.data.errors import DataCorruptError
from cnnlab.data.spec import DatasetSpec, FileSpec

GZIP_MAGIC = b"\x1f\x8b"
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The file's content, gunzipped if it starts with the gzip magic; corrupt gzip -> :class:`DataCorruptError`."""
    path = Path(path)
    raw = path.read_bytes()
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise DataCorruptError(
            path, f"truncated gzip stream: the compressed data ends early ({len(raw):,} bytes on disk)"
        ) from None
    except (gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise DataCorruptError(path, f"corrupt gzip data ({exc})") from None


def parse_idx(data: bytes, path: str | os.PathLike[str] = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into an array of the header's shape (native byte order). Checks magic and exact size."""
    where = Path(path)
    if len(data) < 4:
        raise DataCorruptError(where, f"too short for an IDX header ({len(data)} bytes)")
    if data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES or data[3] == 0:
        magic = int.from_bytes(data[:4], "big")
        raise DataCorruptError(
            where, f"bad IDX magic 0x{magic:08x} (expected 0x0000TTDD: type 08-0E, dims >= 1); not an IDX file"
        )
    dtype = IDX_TYPES[data[2]]
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataCorruptError(where, f"IDX header promises {ndim} dimension(s) but the file is only {len(data)} bytes")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    shape = "x".join(map(str, dims))
    if len(data) != expected:
        what = "truncated (short read)" if len(data) < expected else "has trailing bytes"
        raise DataCorruptError(
            where,
            f"IDX header says {shape} of {dtype.name} = {expected:,} bytes with the header, "
            f"but the (uncompressed) data is {len(data):,} bytes: {what}",
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=False) if dtype.byteorder == ">" else arr


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a read-only NumPy array."""
    return parse_idx(read_bytes(path), path)


@dataclass(frozen=True, kw_only=True)
class IdxDatasetSpec(DatasetSpec):
    """A grayscale dataset published as IDX files: per official file set an image file of unsigned bytes
    ``(N, H, W)`` and a label file ``(N,)`` with values in ``range(num_classes)``.

    ``train`` / ``test``: ``(images file, labels file)``. Besides the published name (``x-idx3-ubyte.gz``) the
    un-gzipped name and the dotted name (``x.idx3-ubyte``, with or without ``.gz``) are accepted; the published
    md5 applies to the published name only. ``image_shape`` must be ``(1, H, W)``.
    """

    train: tuple[FileSpec, FileSpec]
    test: tuple[FileSpec, FileSpec]

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.image_shape[0] != 1:
            raise ValueError(f"IdxDatasetSpec {self.name!r}: IDX images are grayscale, image_shape must be "
                             f"(1, H, W), got {self.image_shape}")

    def source_files(self, source: str) -> tuple[FileSpec, ...]:
        return {"train": self.train, "test": self.test}[source]

    def candidates(self, root: Path, file: FileSpec) -> list[Path]:
        """Accepted paths for ``file``: the published name, without ``.gz``, dotted, dotted with ``.gz``."""
        plain = file.name.removesuffix(".gz")
        dotted = plain.replace("-idx", ".idx")
        folder = root / self.folder
        return [folder / name for name in dict.fromkeys((file.name, plain, dotted, dotted + ".gz"))]

    def locate(self, root: Path, file: FileSpec) -> Path | None:
        for path in self.candidates(root, file):
            if path.is_file():
                return path
        return None

    def file_note(self, file: FileSpec) -> str | None:
        return "the un-gzipped file also works" if file.name.endswith(".gz") else None

    def read_images(self, path: str | os.PathLike[str]) -> np.ndarray:
        """An image file -> uint8 ``(N, 1, H, W)``, ``(H, W)`` checked against :attr:`image_shape`."""
        arr = read_idx(path)
        if arr.dtype != np.uint8 or arr.ndim != 3:
            raise DataCorruptError(
                Path(path),
                f"expected an idx3 file of unsigned bytes (N, rows, cols), got {arr.dtype} with shape {arr.shape}",
            )
        _, h, w = self.image_shape
        if arr.shape[1:] != (h, w):
            raise DataCorruptError(
                Path(path), f"images are {arr.shape[1]}x{arr.shape[2]}, expected {h}x{w} for {self.title}"
            )
        return arr[:, None, :, :]

    def read_labels(self, path: str | os.PathLike[str]) -> np.ndarray:
        """A label file -> int64 ``(N,)``, values checked to lie in ``[0, num_classes)``."""
        arr = read_idx(path)
        if arr.dtype != np.uint8 or arr.ndim != 1:
            raise DataCorruptError(
                Path(path), f"expected an idx1 file of unsigned bytes (N,), got {arr.dtype} with shape {arr.shape}"
            )
        k = self.num_classes
        if arr.size and int(arr.max()) >= k:
            bad = int(np.argmax(arr >= k))
            raise DataCorruptError(
                Path(path), f"label out of range: label[{bad}] = {int(arr[bad])}, expected 0..{k - 1}"
            )
        return arr.astype(np.int64)

    def read(self, source: str, paths: Mapping[FileSpec, Path]) -> tuple[np.ndarray, np.ndarray]:
        """Images and labels of one file set; the label count must equal the image count."""
        images_file, labels_file = self.source_files(source)
        images = self.read_images(paths[images_file])
        labels = self.read_labels(paths[labels_file])
        if len(images) != len(labels):
            raise DataCorruptError(
                paths[labels_file],
                f"label count {len(labels):,} != image count {len(images):,} in {paths[images_file]}",
            )
        return images, labels

    def summarize(self, file: FileSpec, path: Path) -> str:
        if file in (self.train[0], self.test[0]):
            images = self.read_images(path)
            return f"{len(images):,} images {images.shape[2]}x{images.shape[3]}"
        return f"{len(self.read_labels(path)):,} labels"
