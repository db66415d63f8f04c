"""verify_dataset: published md5s, re-packed copies that read fine, corrupt and missing files."""

from __future__ import annotations

import dataclasses
import gzip

import numpy as np
from datafixtures import cifar_archive_bytes, make_cifar, make_mnist, md5

from cnnlab.data import MNIST, FileCheck, FileSpec, verify_dataset


def _by_name(checks: list[FileCheck]) -> dict[str, FileCheck]:
    return {c.path.name: c for c in checks}


def test_mnist_all_states(tmp_path, use_spec, no_data_env):
    files = make_mnist(tmp_path, gz=True)
    img = files.paths["train-images-idx3-ubyte"]
    # pretend the fixture train-images file is the published one
    use_spec(dataclasses.replace(MNIST, train=(FileSpec(img.name, md5(img.read_bytes())), MNIST.train[1])))
    files.paths["t10k-labels-idx1-ubyte"].write_bytes(b"\x00\x00\x08\x01" + bytes(3))  # header only: corrupt
    files.paths["t10k-images-idx3-ubyte"].unlink()
    checks = _by_name(verify_dataset("mnist", tmp_path))
    assert list(checks) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                            "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]

    ok = checks["train-images-idx3-ubyte.gz"]
    assert ok.status == "ok" and ok.ok and ok.md5_matches and ok.readable and ok.size == img.stat().st_size
    assert "md5 matches" in ok.message and "12 images 28x28" in ok.message

    repacked = checks["train-labels-idx1-ubyte.gz"]
    assert repacked.status == "repacked" and repacked.ok and repacked.md5_matches is False and repacked.readable
    assert repacked.published_md5 == "d53e105ee54ea40749a09fcbcd1e9432"
    assert "re-packed copy" in repacked.message and "reads fine" in repacked.message

    missing = checks["t10k-images-idx3-ubyte.gz"]
    assert missing.status == "missing" and not missing.ok and missing.md5 is None and missing.message == "missing"

    corrupt = checks["t10k-labels-idx1-ubyte.gz"]
    assert corrupt.status == "corrupt" and not corrupt.ok and corrupt.readable is False
    assert corrupt.message.startswith("corrupt:")
    assert "promises 1 dimension(s) but the file is only 7 bytes" in corrupt.message


def test_mnist_uncompressed_has_no_published_md5(tmp_path, no_data_env):
    make_mnist(tmp_path, gz=False)
    for check in verify_dataset("mnist", tmp_path):
        assert check.status == "unverified" and check.ok and check.published_md5 is None
        assert check.path.suffix != ".gz" and "no published md5" in check.message


def test_cifar_repacked_copy_is_not_an_error(tmp_path, no_data_env):
    files = make_cifar(tmp_path)
    checks = _by_name(verify_dataset("cifar10", tmp_path))
    assert checks["batches.meta"].status == "repacked"
    for n in range(1, 6):
        check = checks[f"data_batch_{n}"]
        assert check.status == "repacked" and "4 images 3x32x32" in check.message
    archive = checks["cifar-10-python.tar.gz"]
    assert archive.status == "absent" and archive.ok and not archive.required
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(cifar_archive_bytes(files))
    archive = _by_name(verify_dataset("cifar10", tmp_path))["cifar-10-python.tar.gz"]
    assert archive.status == "repacked" and "archive with 7 files" in archive.message


def test_cifar_corrupt_and_missing(tmp_path, no_data_env):
    make_cifar(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    (folder / "data_batch_2").write_bytes(gzip.compress(b"nope"))
    (folder / "test_batch").unlink()
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"not a tar")
    checks = _by_name(verify_dataset("cifar10", tmp_path))
    assert checks["data_batch_2"].status == "corrupt" and "unreadable pickle" in checks["data_batch_2"].message
    assert checks["test_batch"].status == "missing"
    assert checks["cifar-10-python.tar.gz"].status == "corrupt"
    assert "damaged archive" in checks["cifar-10-python.tar.gz"].message
    assert not np.all([c.ok for c in checks.values()])
