"""MNIST from its original IDX files (gzipped or not), read with ``np.frombuffer``: no Python loop per image.

IDX format (big-endian): two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions ``d``,
then ``d`` uint32 sizes, then the data. Compression is detected from the gzip magic bytes, not the file name.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from cnnlab.data.errors import DataCorruptError
from cnnlab.data.sources import MNIST_DIR, MNIST_RESOURCES

GZIP_MAGIC = b"\x1f\x8b"
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
NUM_CLASSES = 10


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
    if len(data) < 4:
        raise DataCorruptError(path, f"too short for an IDX header ({len(data)} bytes)")
    if data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES or data[3] == 0:
        magic = int.from_bytes(data[:4], "big")
        raise DataCorruptError(
            path, f"bad IDX magic 0x{magic:08x} (expected 0x0000TTDD: type 08-0E, dims >= 1); not an IDX file"
        )
    dtype = IDX_TYPES[data[2]]
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataCorruptError(path, f"IDX header promises {ndim} dimension(s) but the file is only {len(data)} bytes")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    shape = "x".join(map(str, dims))
    if len(data) != expected:
        what = "truncated (short read)" if len(data) < expected else "has trailing bytes"
        raise DataCorruptError(
            path,
            f"IDX header says {shape} of {dtype.name} = {expected:,} bytes with the header, "
            f"but the (uncompressed) data is {len(data):,} bytes: {what}",
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=False) if dtype.byteorder == ">" else arr


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a read-only NumPy array."""
    return parse_idx(read_bytes(path), path)


def read_images(path: str | os.PathLike[str]) -> np.ndarray:
    """MNIST image file -> uint8 (N, 1, H, W)."""
    arr = read_idx(path)
    if arr.dtype != np.uint8 or arr.ndim != 3:
        raise DataCorruptError(
            path, f"expected an idx3 file of unsigned bytes (N, rows, cols), got {arr.dtype} with shape {arr.shape}"
        )
    return arr[:, None, :, :]


def read_labels(path: str | os.PathLike[str], num_classes: int = NUM_CLASSES) -> np.ndarray:
    """MNIST label file -> int64 (N,), values checked to lie in ``[0, num_classes)``."""
    arr = read_idx(path)
    if arr.dtype != np.uint8 or arr.ndim != 1:
        raise DataCorruptError(
            path, f"expected an idx1 file of unsigned bytes (N,), got {arr.dtype} with shape {arr.shape}"
        )
    if arr.size and int(arr.max()) >= num_classes:
        bad = int(np.argmax(arr >= num_classes))
        raise DataCorruptError(
            path, f"label out of range: label[{bad}] = {int(arr[bad])}, expected 0..{num_classes - 1}"
        )
    return arr.astype(np.int64)


def candidates(root: Path, key: str) -> list[Path]:
    """Accepted file names for resource ``key`` under ``root``: the .gz name, the plain name, the dotted name."""
    gz = MNIST_RESOURCES[key].filename
    plain = gz.removesuffix(".gz")
    dotted = plain.replace("-idx", ".idx")
    folder = root / MNIST_DIR
    return [folder / gz, folder / plain, folder / dotted, folder / (dotted + ".gz")]


def find_file(root: Path, key: str) -> Path | None:
    """The first existing accepted file for resource ``key``, or ``None``."""
    for path in candidates(root, key):
        if path.is_file():
            return path
    return None


def load_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels from one image file and its label file; their counts must agree."""
    images = read_images(images_path)
    labels = read_labels(labels_path)
    if len(images) != len(labels):
        raise DataCorruptError(
            labels_path, f"label count {len(labels):,} != image count {len(images):,} in {images_path}"
        )
    return images, labels
