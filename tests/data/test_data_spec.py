"""The registry (names, aliases, conflicts, replacement) and the checks a DatasetSpec makes when it is built."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from cnnlab.data import (
    CIFAR10,
    DATASETS,
    MNIST,
    Dataset,
    FileSpec,
    canonical_name,
    get_dataset,
    prepare,
    register_dataset,
    unregister_dataset,
)


@pytest.mark.parametrize(("name", "spec"), [("mnist", MNIST), (" MNIST ", MNIST), ("cifar10", CIFAR10),
                                            ("CIFAR-10", CIFAR10), ("Cifar", CIFAR10)])
def test_names_and_aliases_in_any_case(name, spec):
    assert get_dataset(name) is spec and canonical_name(name) == spec.name


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match=r"unknown dataset 'svhn'; choose one of mnist, cifar10$"):
        get_dataset("svhn")


def test_datasets_is_a_read_only_mapping_of_specs():
    assert list(DATASETS) == ["mnist", "cifar10"] and DATASETS["mnist"] is MNIST and len(DATASETS) == 2
    with pytest.raises(TypeError):
        DATASETS["other"] = MNIST  # type: ignore[index]


def test_register_conflicts_replace_and_unregister(use_spec):
    assert register_dataset(MNIST) is MNIST  # the same spec again: nothing happens
    other = dataclasses.replace(MNIST, title="MNIST (copy)")
    with pytest.raises(ValueError, match=r"dataset 'mnist' is already registered .* replace=True"):
        register_dataset(other)
    with pytest.raises(ValueError, match=r"cannot register dataset 'mnist2': the name 'cifar' already means 'cifar10'"):
        register_dataset(dataclasses.replace(MNIST, name="mnist2", aliases=("cifar",)))
    assert "mnist2" not in DATASETS
    use_spec(dataclasses.replace(other, aliases=("digits",)))
    assert tuple(DATASETS) == ("mnist", "cifar10") and get_dataset("Digits").title == "MNIST (copy)"
    added = register_dataset(dataclasses.replace(MNIST, name="mnist-b", aliases=("digits-b",)))
    assert tuple(DATASETS) == ("mnist", "cifar10", "mnist-b")
    assert unregister_dataset("Digits-B") is added and tuple(DATASETS) == ("mnist", "cifar10")
    with pytest.raises(ValueError, match="unknown dataset 'mnist-b'"):
        get_dataset("mnist-b")


def test_dataset_finds_its_spec_by_name():
    images = np.zeros((2, 1, 28, 28), np.uint8)
    assert Dataset(images, np.zeros(2, np.int64), list("0123456789"), "mnist", "train").spec is MNIST
    toy = Dataset(images, np.zeros(2, np.int64), ["a", "b"], "toy", "train")
    assert toy.spec is None
    with pytest.raises(ValueError, match=r"no default channel stats for dataset 'toy'; pass stats=\(mean, std\)"):
        prepare(toy)
    x, _ = prepare(toy, stats=((0.0,), (1.0,)))
    assert x.shape == images.shape


def test_spec_files_and_paths():
    root = Path("/data")
    assert [f.name for f in MNIST.required_files] == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                                       "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert [f.name for f in CIFAR10.files][-2:] == ["test_batch", "batches.meta"]
    assert CIFAR10.path(root, CIFAR10.test_files[0]) == Path("/data/cifar-10-batches-py/test_batch")
    assert [p.name for p in MNIST.candidates(root, MNIST.test[0])] == [
        "t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte", "t10k-images.idx3-ubyte.gz"]


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"name": "MNIST"}, "name must be non-empty, lower case"),
        ({"image_shape": (1, 28)}, r"image_shape must be \(C, H, W\)"),
        ({"image_shape": (3, 28, 28), "stats": ((0.5,) * 3, (0.2,) * 3)},
         r"IDX images are grayscale, image_shape must be \(1, H, W\)"),
        ({"classes": ("a", "a")}, "classes must list at least 2 distinct names"),
        ({"stats": ((0.1, 0.2), (0.3, 0.3))}, r"stats must be \(mean, std\) with 1 value\(s\) each"),
        ({"stats": ((0.1,), (0.0,))}, "std > 0"),
        ({"folder": Path("/abs/MNIST")}, "folder must be relative to the data root"),
        ({"mirrors": ()}, "give at least one download mirror"),
    ],
)
def test_spec_checks_itself(change, pattern):
    with pytest.raises(ValueError, match=pattern):
        dataclasses.replace(MNIST, **change)


def test_pickle_spec_needs_its_files():
    with pytest.raises(ValueError, match="train_files and test_files must not be empty"):
        dataclasses.replace(CIFAR10, test_files=())
    assert dataclasses.replace(CIFAR10, meta_file=None).extra_files == ()
    assert FileSpec("x").md5 is None
