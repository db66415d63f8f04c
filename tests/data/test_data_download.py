"""Downloads against a local HTTP server on 127.0.0.1 (never the internet): success, md5 mismatch, truncated
transfer, server error, dead mirror; files appear only when complete and verified."""

from __future__ import annotations

import dataclasses
import gzip
import os
import socket

import numpy as np
import pytest
from datafixtures import cifar_archive_bytes, cifar_contents, idx_bytes, md5

from cnnlab.data import (
    CIFAR10,
    MNIST,
    ArchiveDownload,
    DataNotFoundError,
    DownloadError,
    FileSpec,
    download_dataset,
    load_dataset,
)
from cnnlab.data.download import download_file

PAYLOAD = b"0123456789" * 5000


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_success_writes_the_verified_file(http_server, tmp_path):
    http_server.add("f.bin", PAYLOAD)
    out = download_file("f.bin", tmp_path / "new" / "dir", [http_server.url], md5(PAYLOAD), progress=True)
    assert out == tmp_path / "new" / "dir" / "f.bin" and out.read_bytes() == PAYLOAD
    assert _leftovers(out.parent) == []


def test_md5_mismatch_leaves_nothing(http_server, tmp_path):
    route = http_server.add("f.bin", PAYLOAD)
    with pytest.raises(DownloadError) as info:
        download_file("f.bin", tmp_path, [http_server.url], "0" * 32, progress=False)
    msg = str(info.value)
    assert f"could not download f.bin to {tmp_path / 'f.bin'}" in msg
    assert f"{http_server.url}f.bin: md5 mismatch: got {md5(PAYLOAD)}, published {'0' * 32}" in msg
    assert route.hits == 1 and list(tmp_path.iterdir()) == []


def test_truncated_transfer_leaves_nothing(http_server, tmp_path):
    http_server.add("f.bin", PAYLOAD, truncate_to=1000)
    with pytest.raises(DownloadError, match=r"transfer ended after 1,000 of 50,000 bytes \(truncated\)"):
        download_file("f.bin", tmp_path, [http_server.url], md5(PAYLOAD), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_truncated_transfer_without_md5_is_still_caught(http_server, tmp_path):
    http_server.add("f.bin", PAYLOAD, truncate_to=10)
    with pytest.raises(DownloadError, match="truncated"):
        download_file("f.bin", tmp_path, [http_server.url], None, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_server_error(http_server, tmp_path):
    http_server.add("f.bin", status=500)
    with pytest.raises(DownloadError, match=r"f.bin: HTTP 500"):
        download_file("f.bin", tmp_path, [http_server.url], md5(PAYLOAD), progress=False)
    assert list(tmp_path.iterdir()) == []


def _dead_url() -> str:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_falls_back_to_the_next_mirror(http_server, tmp_path):
    http_server.add("bad/f.bin", status=500)
    http_server.add("good/f.bin", PAYLOAD)
    mirrors = [_dead_url(), http_server.url + "bad/", http_server.url + "good"]
    out = download_file("f.bin", tmp_path, mirrors, md5(PAYLOAD), progress=False)
    assert out.read_bytes() == PAYLOAD


def test_every_mirror_failing_lists_each(http_server, tmp_path):
    dead = _dead_url()
    http_server.add("f.bin", status=503)
    with pytest.raises(DownloadError) as info:
        download_file("f.bin", tmp_path, [dead, http_server.url], None, progress=False)
    msg = str(info.value)
    assert f"{dead}f.bin: cannot connect" in msg and f"{http_server.url}f.bin: HTTP 503" in msg


def test_existing_file_is_replaced_only_by_a_good_download(http_server, tmp_path):
    (tmp_path / "f.bin").write_bytes(b"old")
    http_server.add("f.bin", PAYLOAD, truncate_to=5)
    with pytest.raises(DownloadError):
        download_file("f.bin", tmp_path, [http_server.url], md5(PAYLOAD), progress=False)
    assert (tmp_path / "f.bin").read_bytes() == b"old"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user for permissions")
def test_unwritable_destination(http_server, tmp_path):
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(DownloadError, match=f"cannot write to {tmp_path}"):
            download_file("f.bin", tmp_path, [http_server.url], None, progress=False)
    finally:
        tmp_path.chmod(0o755)


# ------------------------------------------------------------------------------------ through load_dataset


@pytest.fixture
def mnist_server(http_server, use_spec):
    """Serve four tiny MNIST .gz files and make them the 'published' ones (an MNIST spec with their md5s)."""
    rng = np.random.default_rng(5)
    arrays = {
        "train-images": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
        "train-labels": np.arange(12, dtype=np.uint8) % 10,
        "test-images": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
        "test-labels": np.array([3, 1, 4, 1], np.uint8),
    }
    published = {}
    for key, file in zip(arrays, (*MNIST.train, *MNIST.test), strict=True):
        body = gzip.compress(idx_bytes(arrays[key]))
        http_server.add("mnist/" + file.name, body)
        published[key] = FileSpec(file.name, md5(body), len(body))
    use_spec(dataclasses.replace(MNIST, train=(published["train-images"], published["train-labels"]),
                                 test=(published["test-images"], published["test-labels"])))
    http_server.arrays = arrays
    return http_server


def test_load_dataset_downloads_missing_mnist(mnist_server, tmp_path, no_data_env):
    ds = load_dataset("mnist", "test", tmp_path, mirrors=[mnist_server.url + "mnist/"], progress=False)
    np.testing.assert_array_equal(ds.images[:, 0], mnist_server.arrays["test-images"])
    raw = tmp_path / "MNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    # second call reads from disk: no new requests
    hits = sum(r.hits for r in mnist_server.routes.values())
    load_dataset("mnist", "test", tmp_path, mirrors=[mnist_server.url + "mnist/"], progress=False)
    assert sum(r.hits for r in mnist_server.routes.values()) == hits


def test_mirror_from_environment(mnist_server, tmp_path, monkeypatch):
    monkeypatch.delenv("CNNLAB_DATA", raising=False)
    monkeypatch.setenv("CNNLAB_DATA_MIRRORS", "http://127.0.0.1:9/nothing/ " + mnist_server.url + "mnist")
    ds = load_dataset("mnist", "val", tmp_path, val_size=2, progress=False)
    assert len(ds) == 2


def test_download_dataset_fetches_everything(mnist_server, tmp_path, no_data_env):
    paths = download_dataset("mnist", tmp_path, mirrors=mnist_server.url + "mnist/", progress=False)
    assert len(paths) == 4 and all(p.is_file() for p in paths)
    before = {p: p.stat().st_mtime_ns for p in paths}
    download_dataset("mnist", tmp_path, mirrors=mnist_server.url + "mnist/", progress=False)
    assert {p: p.stat().st_mtime_ns for p in paths} == before  # nothing fetched again
    route = mnist_server.routes["/mnist/t10k-labels-idx1-ubyte.gz"]
    download_dataset("mnist", tmp_path, mirrors=mnist_server.url + "mnist/", progress=False, force=True)
    assert route.hits == 2


def test_failed_download_is_one_clear_error(http_server, tmp_path, no_data_env):
    http_server.add("mnist/t10k-images-idx3-ubyte.gz", status=500)
    http_server.add("mnist/t10k-labels-idx1-ubyte.gz", b"not what was published")
    with pytest.raises(DownloadError) as info:
        load_dataset("mnist", "test", tmp_path, mirrors=[http_server.url + "mnist/"], progress=False)
    msg = str(info.value)
    assert msg.startswith("MNIST files are missing and downloading them failed:")
    assert "t10k-images-idx3-ubyte.gz: HTTP 500" in msg
    assert "t10k-labels-idx1-ubyte.gz: the server announces 22 bytes, but the published file is 4,542 bytes" in msg
    assert f"Expected in {(tmp_path / 'MNIST' / 'raw').resolve()}" in msg
    assert "9fb629c4189551a2d022fa330f9573f3" in msg and "How to get them" in msg
    assert "train-images-idx3-ubyte.gz  (md5 f68b3c2dcbeaaa9fbdd348bbdeb94873" in msg  # all missing files, at once
    assert len(info.value.missing) == 4
    assert isinstance(info.value, DataNotFoundError)
    assert list((tmp_path / "MNIST" / "raw").iterdir()) == []


def test_cifar_download_extracts_the_archive(http_server, tmp_path, use_spec, no_data_env):
    files = cifar_contents(n_per_batch=3, n_test=4)
    body = cifar_archive_bytes(files)
    http_server.add("c/cifar-10-python.tar.gz", body)
    archive = FileSpec("cifar-10-python.tar.gz", md5(body), len(body))
    use_spec(dataclasses.replace(CIFAR10, acquisition=ArchiveDownload(archive)))
    ds = load_dataset("cifar10", "train", tmp_path, mirrors=http_server.url + "c/", val_size=3, progress=False)
    assert len(ds) == 12
    assert (tmp_path / "cifar-10-python.tar.gz").read_bytes() == body
    assert len(list((tmp_path / "cifar-10-batches-py").iterdir())) == 7


def test_cifar_download_dataset_force_fetches_and_extracts_again(http_server, tmp_path, use_spec, no_data_env):
    files = cifar_contents(n_per_batch=2, n_test=3)
    body = cifar_archive_bytes(files)
    route = http_server.add("c/cifar-10-python.tar.gz", body)
    use_spec(dataclasses.replace(CIFAR10, acquisition=ArchiveDownload(FileSpec("cifar-10-python.tar.gz", md5(body)))))
    paths = download_dataset("cifar10", tmp_path, mirrors=http_server.url + "c/", progress=False)
    folder = tmp_path / "cifar-10-batches-py"
    assert [p.name for p in paths] == [*(f"data_batch_{n}" for n in range(1, 6)), "test_batch", "batches.meta"]
    assert all(p.parent == folder for p in paths) and route.hits == 1
    (folder / "data_batch_2").write_bytes(b"damaged")
    download_dataset("cifar10", tmp_path, mirrors=http_server.url + "c/", progress=False)
    assert route.hits == 1 and (folder / "data_batch_2").read_bytes() == b"damaged"  # present files are kept
    download_dataset("cifar10", tmp_path, mirrors=http_server.url + "c/", progress=False, force=True)
    assert route.hits == 2 and (folder / "data_batch_2").read_bytes() == files.contents["data_batch_2"]


def test_cifar_download_md5_mismatch(http_server, tmp_path, no_data_env):
    http_server.add("c/cifar-10-python.tar.gz", b"definitely not the archive")
    with pytest.raises(DownloadError) as info:
        load_dataset("cifar10", "test", tmp_path, mirrors=http_server.url + "c/", progress=False)
    msg = str(info.value)
    assert msg.startswith("CIFAR-10 files are missing and downloading them failed:")
    assert "the server announces 26 bytes, but the published file is 170,498,071 bytes" in msg
    assert "test_batch" in msg
    assert not (tmp_path / "cifar-10-python.tar.gz").exists()


def test_destination_that_cannot_be_created(http_server, tmp_path):
    (tmp_path / "afile").write_bytes(b"")
    with pytest.raises(DownloadError, match=f"cannot write to {tmp_path / 'afile' / 'sub'}"):
        download_file("f.bin", tmp_path / "afile" / "sub", [http_server.url], None, progress=False)


def test_offline_stops_after_the_first_unreachable_file(tmp_path, no_data_env):
    dead = _dead_url()
    with pytest.raises(DownloadError) as info:
        load_dataset("mnist", "train", tmp_path, mirrors=[dead], progress=False)
    msg = str(info.value)
    assert f"{dead}train-images-idx3-ubyte.gz: cannot connect" in msg
    assert "not tried, as no mirror could be reached (offline?): train-labels-idx1-ubyte.gz" in msg
    assert "train-labels-idx1-ubyte.gz  (md5 d53e105ee54ea40749a09fcbcd1e9432" in msg  # still listed as expected


def test_http_errors_are_not_unreachable(http_server, tmp_path):
    http_server.add("f.bin", status=404)
    with pytest.raises(DownloadError) as info:
        download_file("f.bin", tmp_path, [http_server.url], None, progress=False)
    assert info.value.unreachable is False
    with pytest.raises(DownloadError) as info:
        download_file("f.bin", tmp_path, [_dead_url()], None, progress=False)
    assert info.value.unreachable is True
