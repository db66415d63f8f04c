"""The dataset contract: a new dataset in an existing format is data. Each toy dataset here is defined in the test
(its own folder, files, md5s, classes, stats and split rule), registered, and then loaded, split, prepared,
downloaded and verified through the public API alone -- nothing in ``src`` knows about it."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from datafixtures import cifar_batch_bytes, idx_bytes, md5, meta_bytes, tar_gz_bytes

from cnnlab.data import (
    DATASETS,
    ArchiveDownload,
    DataCorruptError,
    DataNotFoundError,
    FileDownload,
    FileSpec,
    IdxDatasetSpec,
    PickleBatchSpec,
    SeededHoldout,
    TailHoldout,
    canonical_name,
    download_dataset,
    get_dataset,
    holdout_indices,
    load_dataset,
    load_splits,
    prepare,
    verify_dataset,
)

FOLDER = Path("FashionToy") / "raw"
CLASSES = ("shirt", "shoe")


@dataclass
class Toy:
    spec: IdxDatasetSpec
    contents: dict[str, bytes]  # file name -> gzipped IDX bytes
    train_images: np.ndarray  # (8, 6, 5) uint8
    train_labels: np.ndarray
    test_images: np.ndarray  # (3, 6, 5)
    test_labels: np.ndarray

    def write(self, root: Path) -> Path:
        folder = root / FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in self.contents.items():
            (folder / name).write_bytes(data)
        return folder


def make_toy(mirror: str = "http://127.0.0.1:9/no-such-mirror/") -> Toy:
    """A 2-class grayscale 6x5 'fashion-like' set in IDX files: 8 training images, 3 test images."""
    rng = np.random.default_rng(7)
    tr_x = rng.integers(0, 256, (8, 6, 5), dtype=np.uint8)
    tr_x[:, 0, 0] = np.arange(8)  # pixel (0, 0) = index
    tr_y = np.array([0, 1, 1, 0, 1, 0, 0, 1], np.uint8)
    te_x = rng.integers(0, 256, (3, 6, 5), dtype=np.uint8)
    te_y = np.array([1, 0, 1], np.uint8)
    arrays = {"toy-train-images-idx3-ubyte.gz": tr_x, "toy-train-labels-idx1-ubyte.gz": tr_y,
              "toy-test-images-idx3-ubyte.gz": te_x, "toy-test-labels-idx1-ubyte.gz": te_y}
    contents = {name: gzip.compress(idx_bytes(a), mtime=0) for name, a in arrays.items()}
    files = [FileSpec(name, md5(data), len(data)) for name, data in contents.items()]
    spec = IdxDatasetSpec(
        name="fashion-toy",
        aliases=("toy-fashion",),
        title="Fashion-toy",
        classes=CLASSES,
        image_shape=(1, 6, 5),
        stats=((0.4,), (0.25,)),
        folder=FOLDER,
        mirrors=(mirror,),
        acquisition=FileDownload(),
        holdout=TailHoldout(val_size=3),
        train=(files[0], files[1]),
        test=(files[2], files[3]),
    )
    return Toy(spec, contents, tr_x, tr_y.astype(np.int64), te_x, te_y.astype(np.int64))


@pytest.fixture
def toy(use_spec) -> Toy:
    made = make_toy()
    use_spec(made.spec)
    return made


def test_registered_like_the_built_ins(toy):
    assert tuple(DATASETS) == ("mnist", "cifar10", "fashion-toy")
    assert get_dataset("Toy-Fashion") is toy.spec and canonical_name("FASHION-TOY") == "fashion-toy"
    with pytest.raises(ValueError, match="unknown dataset 'fashion'; choose one of mnist, cifar10, fashion-toy"):
        get_dataset("fashion")


def test_loads_and_splits_by_its_own_rule(toy, tmp_path, no_data_env):
    toy.write(tmp_path)
    out = load_splits("toy-fashion", root=tmp_path, download=False)
    assert {k: len(v) for k, v in out.items()} == {"train": 5, "val": 3, "test": 3}  # val = the last 3 of 8
    np.testing.assert_array_equal(out["train"].images[:, 0], toy.train_images[:5])
    np.testing.assert_array_equal(out["val"].images[:, 0], toy.train_images[5:])
    np.testing.assert_array_equal(out["val"].labels, toy.train_labels[5:])
    np.testing.assert_array_equal(out["test"].images[:, 0], toy.test_images)
    ds = out["train"]
    assert ds.name == "fashion-toy" and ds.spec is toy.spec and ds.classes == list(CLASSES)
    assert ds.image_shape == (1, 6, 5) and ds.images.dtype == np.uint8 and ds.labels.dtype == np.int64
    x, y = prepare(ds)  # the spec's stats: (x/255 - 0.4) / 0.25
    np.testing.assert_allclose(x, (ds.images / 255 - 0.4) / 0.25, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(y, toy.train_labels[:5])
    smaller = load_dataset("fashion-toy", "val", tmp_path, download=False, val_size=2, max_datapoints=1)
    np.testing.assert_array_equal(smaller.images[:, 0], toy.train_images[6:7])
    full = load_dataset("fashion-toy", "train", tmp_path, download=False, val_source="test")
    assert len(full) == 8


def test_verifies_against_its_own_md5s(toy, tmp_path, no_data_env):
    folder = toy.write(tmp_path)
    checks = verify_dataset("fashion-toy", tmp_path)
    assert [c.path for c in checks] == [folder / name for name in toy.contents]
    assert [c.status for c in checks] == ["ok"] * 4
    assert "8 images 6x5" in checks[0].message and "8 labels" in checks[1].message
    (folder / "toy-test-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.array([0, 2, 1], np.uint8))))
    bad = verify_dataset("fashion-toy", tmp_path)[3]
    assert bad.status == "corrupt" and "label[1] = 2, expected 0..1" in bad.message  # its 2 classes


def test_missing_files_message_comes_from_the_spec(toy, tmp_path, no_data_env):
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("fashion-toy", "test", tmp_path, download=False)
    msg = str(info.value)
    assert msg.startswith("Fashion-toy files are missing (download is off).")
    assert f"Expected in {(tmp_path / FOLDER).resolve()}" in msg
    for file in (*toy.spec.train, *toy.spec.test):  # every missing file, though only test was asked for
        assert f"    {file.name}  (md5 {file.md5}, {file.size:,} bytes; the un-gzipped file also works)" in msg
    assert "download them from http://127.0.0.1:9/no-such-mirror/" in msg
    assert "at a folder that has FashionToy/raw/." in msg and "torchvision" not in msg
    assert info.value.missing == [tmp_path / FOLDER / name for name in toy.contents]


def test_images_of_another_size_are_rejected(toy, tmp_path, no_data_env):
    folder = toy.write(tmp_path)
    (folder / "toy-test-images-idx3-ubyte.gz").write_bytes(idx_bytes(np.zeros((3, 28, 28), np.uint8)))
    with pytest.raises(DataCorruptError, match="images are 28x28, expected 6x5 for Fashion-toy"):
        load_dataset("fashion-toy", "test", tmp_path, download=False)


def test_downloads_from_its_own_mirror(http_server, use_spec, tmp_path, no_data_env):
    made = make_toy(mirror=http_server.url + "toy/")
    for name, data in made.contents.items():
        http_server.add("toy/" + name, data)
    use_spec(made.spec)
    test = load_dataset("fashion-toy", "test", tmp_path, progress=False)
    np.testing.assert_array_equal(test.images[:, 0], made.test_images)
    assert sorted(p.name for p in (tmp_path / FOLDER).iterdir()) == ["toy-test-images-idx3-ubyte.gz",
                                                                     "toy-test-labels-idx1-ubyte.gz"]
    paths = download_dataset("fashion-toy", tmp_path, progress=False)
    assert paths == [tmp_path / FOLDER / name for name in made.contents]


def test_a_pickle_batch_dataset_in_an_archive_is_data_too(http_server, use_spec, tmp_path, no_data_env):
    """The other format and acquisition: RGB 4x4 batches in a tar.gz, seeded holdout, names in a meta file."""
    rng = np.random.default_rng(3)
    data = rng.integers(0, 256, (10, 3 * 4 * 4), dtype=np.uint8)
    data[:, 0] = np.arange(10)
    labels = np.arange(10) % 3
    members = {
        "toy-batches/part_a": cifar_batch_bytes(data[:6], labels[:6], extra={"coarse": [0] * 6}),
        "toy-batches/part_b": cifar_batch_bytes(data[6:8], labels[6:8]),
        "toy-batches/final": cifar_batch_bytes(data[8:], labels[8:]),
        "toy-batches/names": meta_bytes(names=["red", "green", "blue"]),
    }
    archive = tar_gz_bytes(members)
    http_server.add("rgb/toy-rgb.tar.gz", archive)
    spec = use_spec(PickleBatchSpec(
        name="rgb-toy", title="RGB-toy", classes=("r", "g", "b"), image_shape=(3, 4, 4),
        stats=((0.5, 0.5, 0.5), (0.2, 0.2, 0.2)), folder=Path("toy-batches"), mirrors=(http_server.url + "rgb/",),
        acquisition=ArchiveDownload(FileSpec("toy-rgb.tar.gz", md5(archive), len(archive))),
        holdout=SeededHoldout(val_size=3),
        train_files=(FileSpec("part_a"), FileSpec("part_b")), test_files=(FileSpec("final"),),
        meta_file=FileSpec("names"),
    ))
    out = load_splits("rgb-toy", root=tmp_path, seed=1, progress=False)
    train_idx, val_idx = holdout_indices(8, 3, seed=1)
    np.testing.assert_array_equal(out["train"].images[:, 0, 0, 0], train_idx)
    np.testing.assert_array_equal(out["val"].images[:, 0, 0, 0], val_idx)
    np.testing.assert_array_equal(out["test"].labels, labels[8:])
    assert out["test"].classes == ["red", "green", "blue"] and out["test"].spec is spec
    assert out["test"].images.shape == (2, 3, 4, 4)
    statuses = {c.path.name: c.status for c in verify_dataset("rgb-toy", tmp_path)}
    assert statuses == {"part_a": "unverified", "part_b": "unverified", "final": "unverified", "names": "unverified",
                        "toy-rgb.tar.gz": "ok"}
