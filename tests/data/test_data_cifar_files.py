"""CIFAR-10 batches: str and bytes keys, the tar.gz extracted on first use, and every integrity error."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from datafixtures import CIFAR_NAMES, cifar_archive_bytes, cifar_batch_bytes, make_cifar, meta_bytes, tar_gz_bytes

from cnnlab.data import CIFAR10, DataCorruptError, DataError, DataNotFoundError, archive, load_dataset


@pytest.mark.parametrize("keys", ["str", "bytes"])
@pytest.mark.parametrize("protocol", [2, 4])
def test_reads_str_and_bytes_keys(tmp_path, keys, protocol):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (7, 3072), dtype=np.uint8)
    labels = [0, 1, 2, 3, 9, 8, 7]
    path = tmp_path / "data_batch_1"
    path.write_bytes(cifar_batch_bytes(data, labels, keys, protocol))
    images, y = CIFAR10.read_batch(path)
    assert images.shape == (7, 3, 32, 32) and images.dtype == np.uint8
    # row layout: 1024 red, 1024 green, 1024 blue, each row-major 32x32
    np.testing.assert_array_equal(images[:, 1, 0, 0], data[:, 1024])
    np.testing.assert_array_equal(images[:, 2, 31, 31], data[:, 3071])
    np.testing.assert_array_equal(y, labels)
    assert y.dtype == np.int64
    meta = tmp_path / "batches.meta"
    meta.write_bytes(meta_bytes(keys))
    assert CIFAR10.read_meta(meta) == CIFAR_NAMES


@pytest.mark.parametrize("keys", ["str", "bytes"])
def test_load_dataset_on_fixture_batches(tmp_path, no_data_env, keys):
    files = make_cifar(tmp_path, n_per_batch=4, n_test=6, keys=keys)
    test = load_dataset("cifar10", "test", tmp_path, download=False)
    np.testing.assert_array_equal(test.images, files.test_images)
    np.testing.assert_array_equal(test.labels, files.test_labels)
    assert test.classes == CIFAR_NAMES
    full = load_dataset("cifar10", "train", tmp_path, download=False, val_source="test")
    np.testing.assert_array_equal(full.images, files.train_images)  # batches concatenated in order 1..5


def test_missing_meta_falls_back_to_standard_names(tmp_path, no_data_env):
    make_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "batches.meta").unlink()
    assert load_dataset("cifar10", "test", tmp_path, download=False).classes == CIFAR_NAMES


def test_archive_is_extracted_on_first_use(tmp_path, no_data_env):
    files = make_cifar(tmp_path / "elsewhere")
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(cifar_archive_bytes(files))
    ds = load_dataset("cifar10", "test", tmp_path, download=False)
    np.testing.assert_array_equal(ds.images, files.test_images)
    folder = tmp_path / "cifar-10-batches-py"
    assert sorted(p.name for p in folder.iterdir()) == ["batches.meta", "test_batch"]  # only what was needed
    load_dataset("cifar10", "train", tmp_path, download=False, val_size=2)
    assert len(list(folder.iterdir())) == 7
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".extract-")]  # temp folder removed


def test_archive_members_outside_the_folder_are_ignored(tmp_path, no_data_env):
    files = make_cifar(tmp_path / "src")
    members = {f"cifar-10-batches-py/{n}": d for n, d in files.contents.items()}
    members["../evil"] = b"x"
    members["cifar-10-batches-py/../../evil2"] = b"x"
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "cifar-10-python.tar.gz").write_bytes(tar_gz_bytes(members))
    load_dataset("cifar10", "test", tmp_path / "root", download=False)
    assert not (tmp_path / "evil").exists() and not (tmp_path.parent / "evil2").exists()


def test_truncated_archive(tmp_path, no_data_env):
    files = make_cifar(tmp_path / "src")
    data = cifar_archive_bytes(files)
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataCorruptError, match=r"damaged archive \(it ends early.*nothing was extracted.*Delete") as \
            info:
        load_dataset("cifar10", "train", tmp_path, download=False)
    assert str(archive) in str(info.value)
    # nothing extracted at all: the archive is checked to its end before a file is moved in
    folder = tmp_path / "cifar-10-batches-py"
    assert not folder.exists() or list(folder.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_archive_without_the_files(tmp_path, no_data_env):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(tar_gz_bytes({"other/readme.txt": b"hi"}))
    with pytest.raises(DataNotFoundError, match=r"the archive does not contain .*cifar-10-batches-py/test_batch") as \
            info:
        load_dataset("cifar10", "test", tmp_path, download=False)
    assert "nothing was extracted from it. Delete it" in str(info.value)


def _batch_path(tmp_path, payload: bytes):
    path = tmp_path / "data_batch_3"
    path.write_bytes(payload)
    return path


def _raises(path, pattern):
    with pytest.raises(DataCorruptError, match=pattern) as info:
        CIFAR10.read_batch(path)
    assert str(path) in str(info.value), str(info.value)
    assert info.value.path == path
    return str(info.value)


def test_truncated_pickle(tmp_path):
    full = cifar_batch_bytes(np.zeros((10, 3072), np.uint8), [0] * 10)
    _raises(_batch_path(tmp_path, full[: len(full) // 2]), "truncated pickle")


def test_garbage_is_unreadable_pickle(tmp_path):
    _raises(_batch_path(tmp_path, b"this is not a pickle at all"), "unreadable pickle")


def test_pickle_that_would_run_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    msg = _raises(_batch_path(tmp_path, pickle.dumps({"data": Evil()})), "unreadable pickle")
    assert "refusing to load builtins.print" in msg


def test_not_a_dict(tmp_path):
    _raises(_batch_path(tmp_path, pickle.dumps([1, 2, 3])), "expected a pickled dict, got list")


def test_missing_key(tmp_path):
    _raises(_batch_path(tmp_path, pickle.dumps({"data": np.zeros((1, 3072), np.uint8)})), "missing key 'labels'")


def test_wrong_array_size(tmp_path):
    payload = cifar_batch_bytes(np.zeros((4, 3000), np.uint8), [0] * 4)
    msg = _raises(_batch_path(tmp_path, payload), r"wrong array size: 'data' has shape \(4, 3000\)")
    assert "3x32x32" in msg


def test_wrong_dtype(tmp_path):
    payload = cifar_batch_bytes(np.zeros((2, 3072), np.float32), [0, 1])
    _raises(_batch_path(tmp_path, payload), "'data' should be uint8, got float32")


def test_label_count_mismatch(tmp_path):
    payload = cifar_batch_bytes(np.zeros((5, 3072), np.uint8), [0, 1, 2])
    _raises(_batch_path(tmp_path, payload), "label count 3 != image count 5")


def test_label_out_of_range(tmp_path):
    payload = cifar_batch_bytes(np.zeros((3, 3072), np.uint8), [0, 10, 2])
    _raises(_batch_path(tmp_path, payload), r"label out of range: labels\[1\] = 10, expected 0..9")


def test_bad_meta(tmp_path):
    path = tmp_path / "batches.meta"
    path.write_bytes(meta_bytes(names=["a", "b"]))
    with pytest.raises(DataCorruptError, match="should list 10 class names") as info:
        CIFAR10.read_meta(path)
    assert str(path) in str(info.value)


def test_corrupt_batch_through_load_dataset_names_the_file(tmp_path, no_data_env):
    make_cifar(tmp_path)
    bad = tmp_path / "cifar-10-batches-py" / "data_batch_4"
    bad.write_bytes(bad.read_bytes()[:100])
    with pytest.raises(DataCorruptError, match="truncated pickle") as info:
        load_dataset("cifar10", "train", tmp_path, download=False, val_size=2)
    assert str(bad) in str(info.value)
    assert "delete it and load again to download a fresh copy" in str(info.value)


def test_archive_in_a_read_only_root_is_a_clear_error(tmp_path, no_data_env, monkeypatch):
    files = make_cifar(tmp_path / "src")
    root = tmp_path / "ro"
    root.mkdir()
    (root / "cifar-10-python.tar.gz").write_bytes(cifar_archive_bytes(files))
    monkeypatch.setattr(archive.os, "access", lambda path, mode: False)  # works when tests run as root, too
    with pytest.raises(DataError, match=r"must be extracted before use, but .*ro is not writable") as info:
        load_dataset("cifar10", "test", root, download=False)
    assert str(root / "cifar-10-python.tar.gz") in str(info.value)
