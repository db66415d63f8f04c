"""load_dataset on tiny fixture files: split rules, limits, root resolution, missing-file errors, prepare."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from datafixtures import make_cifar, make_mnist

from cnnlab.data import (
    CIFAR10,
    DATASETS,
    DataError,
    DataNotFoundError,
    Dataset,
    holdout_indices,
    load_dataset,
    load_splits,
    prepare,
    resolve_root,
)


def test_dataset_names():
    assert tuple(DATASETS) == ("mnist", "cifar10")
    assert DATASETS["cifar10"] is CIFAR10


def test_resolve_root_order(monkeypatch, tmp_path):
    monkeypatch.delenv("CNNLAB_DATA", raising=False)
    assert resolve_root() == Path("data")
    monkeypatch.setenv("CNNLAB_DATA", str(tmp_path / "env"))
    assert resolve_root() == tmp_path / "env"
    assert resolve_root(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_root(str(tmp_path / "arg")) == tmp_path / "arg"


def test_env_root_is_used(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNLAB_DATA", str(tmp_path))
    make_mnist(tmp_path, n_train=12, n_test=5)
    assert len(load_dataset("mnist", "test", download=False)) == 5


def test_mnist_split_rule(tmp_path, no_data_env):
    files = make_mnist(tmp_path, n_train=12, n_test=5)
    train = load_dataset("mnist", "train", tmp_path, download=False, val_size=3)
    val = load_dataset("mnist", "val", tmp_path, download=False, val_size=3)
    test = load_dataset("mnist", "test", tmp_path, download=False)
    assert (len(train), len(val), len(test)) == (9, 3, 5)
    # train = first 9, val = last 3, in file order
    np.testing.assert_array_equal(train.images[:, 0], files.train_images[:9])
    np.testing.assert_array_equal(val.images[:, 0], files.train_images[9:])
    np.testing.assert_array_equal(val.labels, files.train_labels[9:])
    np.testing.assert_array_equal(test.images[:, 0], files.test_images)
    assert train.images.shape[1:] == (1, 28, 28) and train.images.dtype == np.uint8 and train.labels.dtype == np.int64
    assert train.classes == [str(d) for d in range(10)] and train.name == "mnist" and train.split == "train"


def test_mnist_default_val_size_is_10000(tmp_path, no_data_env):
    make_mnist(tmp_path, n_train=12)
    with pytest.raises(ValueError, match=r"val_size must be an integer in 1..11 for mnist, got None"):
        load_dataset("mnist", "train", tmp_path, download=False)


def test_mnist_val_source_test(tmp_path, no_data_env):
    files = make_mnist(tmp_path, n_train=12, n_test=5)
    train = load_dataset("mnist", "train", tmp_path, download=False, val_source="test")
    val = load_dataset("mnist", "val", tmp_path, download=False, val_source="test")
    np.testing.assert_array_equal(train.images[:, 0], files.train_images)
    np.testing.assert_array_equal(val.images[:, 0], files.test_images)
    assert val.split == "val"


def test_cifar_holdout_rule(tmp_path, no_data_env):
    files = make_cifar(tmp_path, n_per_batch=4)  # 20 training images, red pixel (0,0) = index
    train = load_dataset("cifar10", "train", tmp_path, download=False, val_size=5, seed=3)
    val = load_dataset("cifar10", "val", tmp_path, download=False, val_size=5, seed=3)
    train_idx, val_idx = holdout_indices(20, 5, seed=3)
    np.testing.assert_array_equal(val_idx, np.sort(np.random.default_rng(3).permutation(20)[:5]))
    np.testing.assert_array_equal(train.images[:, 0, 0, 0], train_idx)  # file order kept
    np.testing.assert_array_equal(val.images[:, 0, 0, 0], val_idx)
    np.testing.assert_array_equal(val.labels, files.train_labels[val_idx])
    assert sorted([*train.images[:, 0, 0, 0], *val.images[:, 0, 0, 0]]) == list(range(20))
    other = load_dataset("cifar10", "val", tmp_path, download=False, val_size=5, seed=4)
    assert not np.array_equal(other.images, val.images)  # the seed matters
    again = load_dataset("cifar10", "val", tmp_path, download=False, val_size=5, seed=3)
    np.testing.assert_array_equal(again.images, val.images)  # and is reproducible


def test_cifar_val_source_test(tmp_path, no_data_env):
    files = make_cifar(tmp_path, n_per_batch=4, n_test=6)
    train = load_dataset("cifar10", "train", tmp_path, download=False, val_source="test")
    val = load_dataset("cifar10", "val", tmp_path, download=False, val_source="test")
    assert len(train) == 20
    np.testing.assert_array_equal(val.images, files.test_images)


def test_max_datapoints_keeps_the_first_n_of_the_split(tmp_path, no_data_env):
    make_cifar(tmp_path, n_per_batch=4)
    full = load_dataset("cifar10", "train", tmp_path, download=False, val_size=5)
    some = load_dataset("cifar10", "train", tmp_path, download=False, val_size=5, max_datapoints=4)
    np.testing.assert_array_equal(some.images, full.images[:4])
    more = load_dataset("cifar10", "train", tmp_path, download=False, val_size=5, max_datapoints=1000)
    assert len(more) == len(full)
    assert some.images.flags.writeable and some.images.flags.owndata


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"name": "imagenet"}, "unknown dataset 'imagenet'; choose one of mnist, cifar10"),
        ({"split": "valid"}, "unknown split 'valid'; choose one of train, val, test"),
        ({"val_source": "train"}, "unknown val_source 'train'"),
        ({"max_datapoints": 0}, "max_datapoints must be a positive integer"),
        ({"max_datapoints": 2.5}, "max_datapoints must be a positive integer"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, pattern):
    args = {"name": "mnist", "split": "train", **kwargs}
    with pytest.raises(ValueError, match=pattern):
        load_dataset(args.pop("name"), args.pop("split"), tmp_path, download=False, **args)


def test_name_aliases(tmp_path, no_data_env):
    make_cifar(tmp_path)
    assert load_dataset("CIFAR-10", "test", tmp_path, download=False).name == "cifar10"


def test_missing_mnist_lists_files_where_and_how(tmp_path, no_data_env):
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("mnist", "train", tmp_path, download=False)
    msg = str(info.value)
    folder = (tmp_path / "MNIST" / "raw").resolve()
    assert "MNIST files are missing (download is off)" in msg
    assert f"Expected in {folder}" in msg
    assert "train-images-idx3-ubyte.gz" in msg and "f68b3c2dcbeaaa9fbdd348bbdeb94873" in msg
    assert "train-labels-idx1-ubyte.gz" in msg
    assert "t10k-images-idx3-ubyte.gz  (md5 9fb629c4189551a2d022fa330f9573f3" in msg  # every missing file at once
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/" in msg and "--data-dir" in msg
    assert "given explicitly" in msg
    raw = tmp_path / "MNIST" / "raw"
    assert info.value.missing == [raw / "train-images-idx3-ubyte.gz", raw / "train-labels-idx1-ubyte.gz",
                                  raw / "t10k-images-idx3-ubyte.gz", raw / "t10k-labels-idx1-ubyte.gz"]
    assert isinstance(info.value, DataError) and isinstance(info.value, FileNotFoundError)


def test_missing_message_says_where_the_root_came_from(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLAB_DATA", str(tmp_path))
    with pytest.raises(DataNotFoundError, match=r"from \$CNNLAB_DATA"):
        load_dataset("mnist", "test", download=False)
    monkeypatch.delenv("CNNLAB_DATA")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataNotFoundError, match=r"the default ./data"):
        load_dataset("mnist", "test", download=False)


def test_missing_cifar_lists_files_and_archive(tmp_path, no_data_env):
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("cifar10", "train", tmp_path, download=False)
    msg = str(info.value)
    assert f"Expected in {(tmp_path / 'cifar-10-batches-py').resolve()}" in msg
    for n in range(1, 6):
        assert f"data_batch_{n}" in msg
    assert "cifar-10-python.tar.gz" in msg and "c58f30108f718f92721af3b95e74349a" in msg
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in msg
    assert "    test_batch" in msg  # the test split's file too, though only train was asked for


def test_missing_message_lists_only_the_absent_files(tmp_path, no_data_env):
    files = make_mnist(tmp_path, n_train=12, n_test=5)
    files.paths["t10k-images-idx3-ubyte"].unlink()
    assert len(load_dataset("mnist", "train", tmp_path, download=False, val_size=3)) == 9  # train files suffice
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("mnist", "test", tmp_path, download=False)
    assert info.value.missing == [tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz"]
    assert "t10k-images-idx3-ubyte.gz" in str(info.value) and "train-" not in str(info.value)


def test_misplaced_files_get_a_hint(tmp_path, no_data_env):
    files = make_mnist(tmp_path / "src", gz=True)
    for p in files.paths.values():  # user points at the folder holding the files, not at the data root
        (tmp_path / p.name).write_bytes(p.read_bytes())
    with pytest.raises(DataNotFoundError, match=r"Note: found .*train-images-idx3-ubyte.gz; the expected layout is"):
        load_dataset("mnist", "train", tmp_path, download=False)


def test_dataset_validation_and_repr():
    ds = Dataset(np.zeros((3, 1, 2, 2), np.uint8), np.array([0, 1, 1], np.int32), ["a", "b"], "toy", "train")
    assert ds.labels.dtype == np.int64 and len(ds) == 3 and ds.image_shape == (1, 2, 2)
    assert ds.class_counts().tolist() == [1, 2]
    assert repr(ds) == "Dataset(name='toy', split='train', n=3, images=uint8(3, 1, 2, 2), classes=2)"
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        Dataset(np.zeros((3, 2, 2), np.uint8), np.zeros(3), [], "toy", "train")
    with pytest.raises(ValueError, match="labels must be"):
        Dataset(np.zeros((3, 1, 2, 2), np.uint8), np.zeros(2), [], "toy", "train")


def test_prepare(tmp_path, no_data_env):
    make_cifar(tmp_path)
    ds = load_dataset("cifar10", "test", tmp_path, download=False)
    x, y = prepare(ds, "unit")
    assert x.dtype == np.float32 and x.shape == ds.images.shape and x.min() >= 0 and x.max() <= 1
    np.testing.assert_allclose(x, ds.images / 255, rtol=1e-6)
    x, y = prepare(ds)
    assert ds.spec is CIFAR10
    mean, std = CIFAR10.stats
    expected = (ds.images / 255 - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    np.testing.assert_allclose(x, expected, rtol=1e-5, atol=1e-5)
    assert y.dtype == np.int64
    x2, _ = prepare(ds, stats=((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)))
    np.testing.assert_allclose(x2, ds.images / 127.5 - 1, atol=1e-5)
    with pytest.raises(ValueError, match="unknown normalization 'zscore'"):
        prepare(ds, "zscore")


def test_load_splits_reads_each_file_once(tmp_path, no_data_env, monkeypatch):
    make_mnist(tmp_path, n_train=12, n_test=5)
    from cnnlab.data import idx

    calls = []
    real = idx.read_idx
    monkeypatch.setattr(idx, "read_idx", lambda path: calls.append(path.name) or real(path))
    out = load_splits("mnist", root=tmp_path, download=False, val_size=3, max_datapoints={"train": 4})
    assert calls == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                     "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert {k: len(v) for k, v in out.items()} == {"train": 4, "val": 3, "test": 5}
    single = load_dataset("mnist", "val", tmp_path, download=False, val_size=3)
    np.testing.assert_array_equal(out["val"].images, single.images)
    assert out["val"].split == "val" and out["train"].split == "train"
    assert list(load_splits("mnist", "test", tmp_path, download=False)) == ["test"]


def test_load_splits_reports_every_missing_file_at_once(tmp_path, no_data_env):
    with pytest.raises(DataNotFoundError) as info:
        load_splits("mnist", root=tmp_path, download=False)
    assert len(info.value.missing) == 4
    with pytest.raises(DataNotFoundError) as info:
        load_splits("cifar10", ("train", "test"), tmp_path, download=False)
    assert "data_batch_1" in str(info.value) and "test_batch" in str(info.value)
