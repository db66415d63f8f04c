"""MNIST IDX reading: gz and plain files, and every integrity error naming the file and the problem."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from datafixtures import idx_bytes, make_mnist, write_bytes, write_idx

from cnnlab.data import MNIST, DataCorruptError, idx, load_dataset


@pytest.mark.parametrize("gz", [True, False])
def test_reads_gz_and_plain_files(tmp_path, no_data_env, gz):
    files = make_mnist(tmp_path, n_train=12, n_test=5, gz=gz)
    images = MNIST.read_images(files.paths["train-images-idx3-ubyte"])
    labels = MNIST.read_labels(files.paths["train-labels-idx1-ubyte"])
    assert images.shape == (12, 1, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[:, 0], files.train_images)
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, files.train_labels)


def test_compression_detected_by_content_not_name(tmp_path):
    arr = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    plain_named_gz = write_idx(tmp_path / "x-idx3-ubyte.gz", arr, gz=False)
    gz_named_plain = write_idx(tmp_path / "y-idx3-ubyte", arr, gz=True)
    np.testing.assert_array_equal(idx.read_idx(plain_named_gz), arr)
    np.testing.assert_array_equal(idx.read_idx(gz_named_plain), arr)


def test_reads_other_idx_types(tmp_path):
    arr = np.arange(-6, 6, dtype=">i4").reshape(3, 4)
    out = idx.read_idx(write_idx(tmp_path / "ints.idx", arr))
    np.testing.assert_array_equal(out, arr)
    assert out.dtype.isnative
    f = np.linspace(0, 1, 5, dtype=">f4")
    np.testing.assert_array_equal(idx.read_idx(write_idx(tmp_path / "floats.idx", f)), f)


def test_dotted_and_plain_names_are_found(tmp_path, no_data_env):
    arr_x = np.zeros((11, 28, 28), np.uint8)
    arr_y = np.zeros(11, np.uint8)
    raw = tmp_path / "MNIST" / "raw"
    write_idx(raw / "train-images.idx3-ubyte", arr_x, gz=False)  # Kaggle-style dotted name
    write_idx(raw / "train-labels-idx1-ubyte", arr_y, gz=False)  # torchvision's extracted name
    ds = load_dataset("mnist", "val", tmp_path, download=False, val_size=3)
    assert len(ds) == 3


def _corrupt(tmp_path, data: bytes, gz: bool = False, name: str = "train-images-idx3-ubyte"):
    return write_bytes(tmp_path / (name + (".gz" if gz else "")), data, gz)


def test_bad_magic(tmp_path):
    path = _corrupt(tmp_path, b"\x12\x34\x08\x03" + bytes(100))
    with pytest.raises(DataCorruptError, match="bad IDX magic 0x12340803") as info:
        MNIST.read_images(path)
    assert str(path) in str(info.value) and info.value.path == path


def test_html_page_saved_as_data_is_bad_magic(tmp_path):
    path = _corrupt(tmp_path, b"<html><body>Not found</body></html>", gz=True)
    with pytest.raises(DataCorruptError, match=r"bad IDX magic .*not an IDX file") as info:
        MNIST.read_images(path)
    assert str(path) in str(info.value)


def test_too_short_for_header(tmp_path):
    path = _corrupt(tmp_path, b"\x00\x00")
    with pytest.raises(DataCorruptError, match="too short for an IDX header") as info:
        MNIST.read_images(path)
    assert str(path) in str(info.value)


def test_header_dims_cut_off(tmp_path):
    path = _corrupt(tmp_path, b"\x00\x00\x08\x03" + (60000).to_bytes(4, "big"))
    with pytest.raises(DataCorruptError, match=r"promises 3 dimension\(s\) but the file is only 8 bytes"):
        MNIST.read_images(path)


@pytest.mark.parametrize("gz", [False, True])
def test_count_larger_than_data_is_a_short_read(tmp_path, gz):
    data = idx_bytes(np.zeros((5, 28, 28), np.uint8))
    data = data[:4] + (6).to_bytes(4, "big") + data[8:]  # header claims 6 images, data holds 5
    path = _corrupt(tmp_path, data, gz=gz)
    with pytest.raises(DataCorruptError) as info:
        MNIST.read_images(path)
    msg = str(info.value)
    assert str(path) in msg
    assert "6x28x28" in msg and "4,720 bytes" in msg and "3,936 bytes" in msg and "truncated (short read)" in msg


def test_trailing_bytes(tmp_path):
    path = _corrupt(tmp_path, idx_bytes(np.zeros((2, 28, 28), np.uint8)) + b"junk")
    with pytest.raises(DataCorruptError, match="has trailing bytes"):
        MNIST.read_images(path)


def test_truncated_gzip(tmp_path):
    full = gzip.compress(idx_bytes(np.random.default_rng(0).integers(0, 256, (20, 28, 28), dtype=np.uint8)))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(DataCorruptError, match="truncated gzip stream") as info:
        MNIST.read_images(path)
    assert str(path) in str(info.value)


def test_corrupt_gzip_crc(tmp_path):
    full = bytearray(gzip.compress(idx_bytes(np.zeros((3, 28, 28), np.uint8))))
    full[-8] ^= 0xFF  # CRC32 in the trailer
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(bytes(full))
    with pytest.raises(DataCorruptError, match="corrupt gzip data") as info:
        MNIST.read_images(path)
    assert str(path) in str(info.value)


def test_wrong_kind_of_idx_file(tmp_path):
    labels_as_images = write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros(10, np.uint8))
    with pytest.raises(DataCorruptError, match=r"expected an idx3 file .* shape \(10,\)"):
        MNIST.read_images(labels_as_images)
    images_as_labels = write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataCorruptError, match=r"expected an idx1 file .* shape \(2, 28, 28\)"):
        MNIST.read_labels(images_as_labels)


def test_label_out_of_range(tmp_path):
    path = write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.array([1, 2, 3, 12, 4], np.uint8))
    with pytest.raises(DataCorruptError, match=r"label out of range: label\[3\] = 12, expected 0..9") as info:
        MNIST.read_labels(path)
    assert str(path) in str(info.value)


def test_label_count_differs_from_image_count(tmp_path, no_data_env):
    files = make_mnist(tmp_path, n_train=12)
    write_idx(files.paths["train-labels-idx1-ubyte"], np.zeros(11, np.uint8))
    with pytest.raises(DataCorruptError) as info:
        load_dataset("mnist", "train", tmp_path, download=False, val_size=2)
    msg = str(info.value)
    assert "label count 11 != image count 12" in msg
    assert str(files.paths["train-labels-idx1-ubyte"]) in msg and str(files.paths["train-images-idx3-ubyte"]) in msg
