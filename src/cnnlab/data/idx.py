"""The IDX format (MNIST's) and :class:`IdxDatasetSpec`, the spec class of datasets published as IDX files.

IDX (big-endian): two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions ``d``, then ``d``
uint32 sizes, then the data. Files may be gzipped or not; compression is detected from the gzip magic bytes, not
the file name. Arrays are read with ``np.frombuffer``: no Python loop per image. The header is checked first
(magic, declared size against the file, the image size against the dataset's), and gzip data is decompressed as a
stream capped at the declared size.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from cnnlab.data.errors import DataCorruptError, unreadable
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
#: Deflate cannot expand data by more than about 1032:1, so a gzip file of n bytes holds at most this many times n.
MAX_GZIP_RATIO = 1100
CHUNK = 1 << 22


@contextlib.contextmanager
def _open_stream(path: Path) -> Iterator[tuple[Any, bool]]:
    """``(binary stream, gzipped)`` of ``path``: gunzipped on the fly when it starts with the gzip magic."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as error:
        raise unreadable(path, error) from None
    with raw:
        gz = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        if not gz:
            yield raw, False
            return
        with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
            yield stream, True


def _gzip_errors(path: Path, size: int) -> contextlib.AbstractContextManager[None]:
    """Turn the gzip module's errors into :class:`DataCorruptError` naming ``path``."""
    @contextlib.contextmanager
    def convert() -> Iterator[None]:
        try:
            yield
        except EOFError:
            raise DataCorruptError(
                path, f"truncated gzip stream: the compressed data ends early ({size:,} bytes on disk)"
            ) from None
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise DataCorruptError(path, f"corrupt gzip data ({exc})") from None
        except OSError as exc:
            raise unreadable(path, exc) from None
    return convert()


def _read_up_to(stream: IO[bytes], n: int) -> bytes:
    parts, left = [], n
    while left > 0:
        block = stream.read(min(left, CHUNK))
        if not block:
            break
        parts.append(block)
        left -= len(block)
    return b"".join(parts)


def _header(stream: IO[bytes], where: Path) -> tuple[np.dtype, tuple[int, ...], int]:
    """``(dtype, dims, header length)`` from the start of an IDX stream; checks the magic."""
    head = _read_up_to(stream, 4)
    if len(head) < 4:
        raise DataCorruptError(where, f"too short for an IDX header ({len(head)} bytes)")
    if head[0] != 0 or head[1] != 0 or head[2] not in IDX_TYPES or head[3] == 0:
        magic = int.from_bytes(head[:4], "big")
        raise DataCorruptError(
            where, f"bad IDX magic 0x{magic:08x} (expected 0x0000TTDD: type 08-0E, dims >= 1); not an IDX file"
        )
    ndim = head[3]
    raw_dims = _read_up_to(stream, 4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DataCorruptError(
            where, f"IDX header promises {ndim} dimension(s) but the file is only {4 + len(raw_dims)} bytes"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw_dims, dtype=">u4"))
    return IDX_TYPES[head[2]], dims, 4 + 4 * ndim


def read_idx_header(path: str | os.PathLike[str]) -> tuple[np.dtype, tuple[int, ...]]:
    """The element type and the dimensions an IDX file's header declares (reads only the header)."""
    path = Path(path)
    with _open_stream(path) as (stream, _), _gzip_errors(path, path.stat().st_size):
        dtype, dims, _ = _header(stream, path)
    return dtype, dims


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (gzipped or not) into an array of the header's shape (native byte order).

    Checks the magic and that the data has exactly the size the header declares -- before reading the data where
    the size on disk tells (plain files, and gzip files too small to hold it), and while streaming otherwise: the
    data is decompressed on the fly into a buffer of the declared size, never more, so a small file that would
    inflate to gigabytes (a "gzip bomb") costs no more memory than the data it claims to be. Corrupt or truncated
    gzip data (CRC, length) -> :class:`DataCorruptError` naming the file.
    """
    path = Path(path)
    on_disk = path.stat().st_size if path.is_file() else 0
    with _open_stream(path) as (stream, gz), _gzip_errors(path, on_disk):
        dtype, dims, header = _header(stream, path)
        expected = header + int(np.prod(dims, dtype=object)) * dtype.itemsize
        shape = "x".join(map(str, dims))
        claim = f"IDX header says {shape} of {dtype.name} = {expected:,} bytes with the header"
        if not gz and on_disk != expected:
            what = "truncated (short read)" if on_disk < expected else "has trailing bytes"
            raise DataCorruptError(path, f"{claim}, but the (uncompressed) data is {on_disk:,} bytes: {what}")
        if gz and expected > MAX_GZIP_RATIO * on_disk + 4096:
            raise DataCorruptError(path, f"{claim}, more than a gzip file of {on_disk:,} bytes can hold: the header "
                                         "is damaged")
        data = bytearray(expected - header)
        view, got = memoryview(data), 0
        while got < len(data):
            n = stream.readinto(view[got:got + CHUNK])
            if not n:
                break
            got += n
        if got < len(data):
            raise DataCorruptError(path, f"{claim}, but the (uncompressed) data is {header + got:,} bytes: truncated "
                                         "(short read)")
        if stream.read(1):  # also makes gzip check its CRC and length at the end of the stream
            raise DataCorruptError(path, f"{claim}, but the (uncompressed) data is longer: has trailing bytes")
    arr = np.frombuffer(data, dtype=dtype).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=False) if dtype.byteorder == ">" else arr


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
        """An image file -> uint8 ``(N, 1, H, W)``; the header's type and ``(H, W)`` are checked against
        :attr:`image_shape` before the data is read."""
        dtype, dims = read_idx_header(path)
        if dtype != np.uint8 or len(dims) != 3:
            raise DataCorruptError(
                Path(path),
                f"expected an idx3 file of unsigned bytes (N, rows, cols), got {dtype} with shape {dims}",
            )
        _, h, w = self.image_shape
        if dims[1:] != (h, w):
            raise DataCorruptError(
                Path(path), f"the header says images are {dims[1]}x{dims[2]}, expected {h}x{w} for {self.title}"
            )
        return read_idx(path)[:, None, :, :]

    def read_labels(self, path: str | os.PathLike[str]) -> np.ndarray:
        """A label file -> int64 ``(N,)``, values checked to lie in ``[0, num_classes)``."""
        dtype, dims = read_idx_header(path)
        if dtype != np.uint8 or len(dims) != 1:
            raise DataCorruptError(
                Path(path), f"expected an idx1 file of unsigned bytes (N,), got {dtype} with shape {dims}"
            )
        arr = read_idx(path)
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
