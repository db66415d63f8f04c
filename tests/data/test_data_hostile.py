"""Hostile servers and damaged files: downloads bounded in time and size (drip, stall, endless, oversized, invalid
HTTP) leaving nothing behind, decompression capped (gzip bomb in bounded memory), archives checked before anything
is extracted (bit flips, the official archive's md5, tar bombs), and header geometry checked before data is read."""

from __future__ import annotations

import dataclasses
import errno
import gzip
import hashlib
import io
import pickle
import shutil
import socket
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from datafixtures import RawServer, cifar_archive_bytes, cifar_contents, http_head, make_cifar, make_mnist

from cnnlab.data import (
    CIFAR10,
    MNIST,
    ArchiveDownload,
    DataCorruptError,
    DataError,
    DownloadError,
    FileSpec,
    load_dataset,
    load_splits,
    verify_dataset,
)
from cnnlab.data import archive as archive_module
from cnnlab.data import download as download_module
from cnnlab.data.download import download_file
from cnnlab.files import owned_temp_file

SIZE = 100_000
PAYLOAD = bytes(range(256)) * (SIZE // 256) + bytes(SIZE % 256)
MD5 = hashlib.md5(PAYLOAD).hexdigest()


def fetch(server: RawServer, dest: Path, *, size: int | None = SIZE, deadline: float = 1.0) -> Path:
    try:
        return download_file("f.bin", dest, [server.url], MD5, progress=False, timeout=0.5, size=size,
                             deadline=deadline)
    finally:
        server.close()


def everything_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def drip_body(sock: socket.socket) -> None:
    sock.sendall(http_head(SIZE))
    for i in range(SIZE):
        sock.sendall(PAYLOAD[i:i + 1])
        time.sleep(0.02)


def drip_headers(sock: socket.socket) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nX-Padding: " + b"p" * 10_000:
        sock.sendall(bytes([byte]))
        time.sleep(0.02)


def endless(sock: socket.socket, head: bytes = http_head(None)) -> None:
    sock.sendall(head)
    block = b"x" * 65536
    for _ in range(2000):  # 128 MiB at most, should the client not stop reading
        sock.sendall(block)


@pytest.mark.parametrize("behave", [drip_body, drip_headers], ids=["body", "headers"])
def test_a_dripping_server_is_stopped_by_the_deadline(behave, tmp_path):
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"not finished within the deadline of 1 s"):
        fetch(RawServer(behave), tmp_path)
    assert time.monotonic() - start < 5  # deadline plus a read timeout, not the hours the drip would take
    assert everything_in(tmp_path) == []


def test_an_endless_body_stops_at_the_published_size(tmp_path):
    with pytest.raises(DownloadError, match=f"the server sent more than the expected {SIZE:,} bytes; stopped"):
        fetch(RawServer(endless), tmp_path, deadline=20)
    assert everything_in(tmp_path) == []


def test_an_announced_size_other_than_the_published_one_is_refused_at_once(tmp_path):
    with pytest.raises(DownloadError, match=rf"announces 10,737,418,240 bytes, but the published file is {SIZE:,}"):
        fetch(RawServer(lambda sock: endless(sock, http_head(10 << 30))), tmp_path, deadline=20)
    assert everything_in(tmp_path) == []


def test_without_any_size_the_cap_still_holds(tmp_path, monkeypatch):
    monkeypatch.setattr(download_module, "MAX_UNKNOWN_SIZE", 200_000)
    with pytest.raises(DownloadError, match="more than the expected 200,000 bytes"):
        fetch(RawServer(endless), tmp_path, size=None, deadline=20)
    assert everything_in(tmp_path) == []


@pytest.mark.parametrize("answer", [b"HELLO THERE\r\n\r\n",
                                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n",
                                    b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200))],
                         ids=["garbage status", "bad chunk", "200 headers"])
def test_invalid_http_is_one_clear_error(answer, tmp_path):
    with pytest.raises(DownloadError, match=r"f\.bin: the server's answer is not valid HTTP"):
        fetch(RawServer(lambda sock: sock.sendall(answer)), tmp_path)
    assert everything_in(tmp_path) == []


def test_a_slow_but_steady_server_is_fine(tmp_path):
    def steady(sock: socket.socket) -> None:
        sock.sendall(http_head(SIZE))
        for i in range(0, SIZE, 25_000):
            sock.sendall(PAYLOAD[i:i + 25_000])
            time.sleep(0.05)

    assert fetch(RawServer(steady), tmp_path, deadline=10).read_bytes() == PAYLOAD
    assert everything_in(tmp_path) == ["f.bin"]


def test_the_partial_file_of_a_killed_download_is_removed_by_the_next_one(tmp_path):
    stale = tmp_path / ".f.bin.x1y2z3.part"
    stale.write_bytes(PAYLOAD[:500])  # what a kill -9 leaves: nobody holds its lock
    with owned_temp_file(tmp_path, ".f.bin.") as (live, _):  # a download running right now in another process
        out = fetch(RawServer(lambda sock: sock.sendall(http_head(SIZE) + PAYLOAD)), tmp_path)
        assert out.read_bytes() == PAYLOAD and not stale.exists() and live.exists()


def test_not_enough_disk_space_is_said_before_downloading(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 10, 10))
    with pytest.raises(DownloadError, match=r"not enough free space: f\.bin needs 0\.1 MB"):
        fetch(RawServer(lambda sock: sock.sendall(http_head(SIZE) + PAYLOAD)), tmp_path)


# ------------------------------------------------------------------------------------------------ gzip bomb
def _bomb(path: Path, claimed_images: int, inflated: int = 64 << 20) -> Path:
    """A .gz whose IDX header claims ``claimed_images`` 28x28 images, followed by ``inflated`` zero bytes."""
    header = bytes([0, 0, 8, 3]) + np.asarray([claimed_images, 28, 28], ">u4").tobytes()
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [deflate.compress(header)] + [deflate.compress(bytes(1 << 20)) for _ in range(inflated >> 20)]
    path.write_bytes(b"".join([*parts, deflate.flush()]))
    return path


@pytest.mark.parametrize(("claimed", "problem"), [(10, "has trailing bytes"),
                                                  (2**31, "more than a gzip file of .* bytes can hold")])
def test_a_gzip_bomb_is_refused_in_bounded_memory(tmp_path, claimed, problem):
    path = _bomb(tmp_path / "train-images-idx3-ubyte.gz", claimed)
    tracemalloc.start()
    try:
        with pytest.raises(DataCorruptError, match=problem):
            MNIST.read_images(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"peak {peak / 2**20:.0f} MiB while refusing a file that inflates to 64 MiB"


def test_header_geometry_is_checked_before_the_data_is_read(tmp_path, no_data_env):
    files = make_mnist(tmp_path, n_train=11, n_test=2, gz=False)
    images = files.paths["train-images-idx3-ubyte"]
    data = bytearray(images.read_bytes())
    data[8:16] = np.asarray([14, 56], ">u4").tobytes()  # same number of bytes, other image size
    images.write_bytes(bytes(data))
    with pytest.raises(DataCorruptError, match="the header says images are 14x56, expected 28x28 for MNIST"):
        load_dataset("mnist", "val", tmp_path, download=False, val_size=3)
    status = {Path(c.path).name: c.status for c in verify_dataset("mnist", tmp_path)}
    assert status["train-images-idx3-ubyte"] == "corrupt"


def test_float_labels_in_a_cifar_batch_are_refused(tmp_path, no_data_env):
    files = make_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    batch = pickle.loads(files.contents["data_batch_2"])
    batch["labels"] = [v + 0.5 for v in batch["labels"]]
    path.write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataCorruptError, match=r"'labels' is not a list of integers \(got float64 values"):
        load_dataset("cifar10", "train", tmp_path, download=False, val_source="test")


# ------------------------------------------------------------------------------------------------ archives
@pytest.fixture
def archive_root(tmp_path: Path) -> tuple[Path, bytes]:
    return tmp_path, cifar_archive_bytes(cifar_contents(n_per_batch=8, n_test=6))


@pytest.mark.parametrize("where", [0.1, 0.3, 0.5, 0.7, 0.9, 0.99])
def test_a_bit_flipped_archive_extracts_nothing_and_says_what_to_delete(archive_root, where, no_data_env):
    root, data = archive_root
    flipped = bytearray(data)
    flipped[int(len(data) * where)] ^= 0x04
    archive = root / "cifar-10-python.tar.gz"
    archive.write_bytes(bytes(flipped))
    with pytest.raises(DataCorruptError, match=rf"damaged archive .*nothing was extracted from it\. Delete {archive}"):
        load_splits("cifar10", ("train", "test"), root, download=False)
    assert everything_in(root) == ["cifar-10-python.tar.gz"]  # no half-written folder, no hidden leftovers


def test_the_official_archive_must_have_the_published_md5(archive_root, use_spec, no_data_env):
    root, data = archive_root
    (root / "cifar-10-python.tar.gz").write_bytes(data)
    official = FileSpec("cifar-10-python.tar.gz", "0" * 32, len(data))  # published size, other md5
    use_spec(dataclasses.replace(CIFAR10, acquisition=ArchiveDownload(official)))
    with pytest.raises(DataCorruptError, match=r"differs from the published 0{32} although it has the official"):
        load_dataset("cifar10", "test", root, download=False)
    assert everything_in(root) == ["cifar-10-python.tar.gz"]
    repacked = FileSpec("cifar-10-python.tar.gz", "0" * 32, len(data) + 1)  # another size: a re-packed archive
    use_spec(dataclasses.replace(CIFAR10, acquisition=ArchiveDownload(repacked)))
    assert len(load_dataset("cifar10", "test", root, download=False)) == 6  # its gzip CRC vouches for it


def test_a_tar_bomb_is_refused_before_writing(archive_root, monkeypatch, no_data_env):
    root, data = archive_root
    (root / "cifar-10-python.tar.gz").write_bytes(data)
    monkeypatch.setattr(archive_module, "extraction_limit", lambda size: 100_000)
    with pytest.raises(DataCorruptError, match="its members add up to more than 100,000 bytes"):
        load_dataset("cifar10", "test", root, download=False)
    assert everything_in(root) == ["cifar-10-python.tar.gz"]


def test_disk_full_while_extracting_is_not_called_corruption(archive_root, monkeypatch, no_data_env):
    root, data = archive_root
    (root / "cifar-10-python.tar.gz").write_bytes(data)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(archive_module.shutil, "copyfileobj", full)
    with pytest.raises(DataError, match=r"No space left on device.*nothing was extracted") as info:
        load_dataset("cifar10", "test", root, download=False)
    assert not isinstance(info.value, DataCorruptError)
    assert everything_in(root) == ["cifar-10-python.tar.gz"]


def test_verify_checks_the_archive_integrity(archive_root, no_data_env):
    root, data = archive_root
    make_cifar(root)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x04
    (root / "cifar-10-python.tar.gz").write_bytes(bytes(flipped))
    status = {Path(c.path).name: c for c in verify_dataset("cifar10", root)}
    assert status["cifar-10-python.tar.gz"].status == "corrupt"
    assert "damaged archive" in status["cifar-10-python.tar.gz"].message


def test_an_intact_archive_still_extracts(archive_root, no_data_env):
    root, data = archive_root
    (root / "cifar-10-python.tar.gz").write_bytes(data)
    assert len(load_dataset("cifar10", "test", root, download=False)) == 6
    assert gzip.decompress(data)  # the fixture is a real gzip stream
    assert io.BytesIO(data).read(2) == b"\x1f\x8b"
