"""The experiments' :class:`Context`: datasets loaded once per run (and a missing one stays missing, with a short
message pointing at the part that explained it), and the trained networks an experiment asks for -- from --weights,
from earlier in the run, trained now, or a :class:`MissingNetwork` that says how to get one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from data.datafixtures import make_mnist
from exphelpers import write_run

from cnnlab import data
from cnnlab.errors import UserError
from cnnlab.experiments.base import Context, MissingNetwork, TrainedNetwork
from cnnlab.models import build_model
from cnnlab.training import recipe


def test_parts_share_the_run_folder_and_its_caches(tmp_path):
    context = Context(tmp_path)
    assert context.root == tmp_path and context.out_dir == tmp_path
    part = context.for_part("equivariance")
    assert part.out_dir == tmp_path / "equivariance" and part.root == tmp_path and part.part == "equivariance"
    assert part._shared is context._shared
    folder = part.folder("figures", "maps")
    assert folder == tmp_path / "equivariance" / "figures" / "maps" and folder.is_dir()


def test_a_dataset_is_loaded_once_per_run(tmp_path, tiny_data_root):
    context = Context(tmp_path, data_root=tiny_data_root)
    train = context.dataset("mnist", "train")
    assert (len(train), train.split, train.name) == (100, "train", "mnist")  # 10100 - the 10000 held out
    assert context.for_part("other").dataset("mnist", "train") is train  # every part shares it
    small = context.dataset("mnist", "train", max_datapoints=30)
    assert small is not train and len(small) == 30
    np.testing.assert_array_equal(small.images, train.images[:30])
    assert context.dataset("mnist", "train", max_datapoints=30) is small
    test_as_val = context.dataset("mnist", "val", val_source="test")
    assert len(test_as_val) == 60 and test_as_val is not context.dataset("mnist", "val")
    assert Context(tmp_path, data_root=tiny_data_root).dataset("mnist", "train") is not train  # another run


def test_a_missing_dataset_stays_missing_with_a_short_message(tmp_path, offline):
    empty = tmp_path / "empty"
    context = Context(tmp_path / "out", data_root=empty)
    with pytest.raises(data.DataNotFoundError) as first:
        context.for_part("mnist-data").dataset("mnist", "train")
    assert "MNIST files are missing" in str(first.value) and "How to get them" in str(first.value)
    make_mnist(empty, n_train=10_100, n_test=60, gz=False)  # the run has decided: no MNIST in it
    with pytest.raises(data.DataError) as later:
        context.for_part("equivariance").dataset("mnist", "val")
    assert str(later.value) == ("the mnist files are not available; part 'mnist-data' above says what is missing "
                                "and how to get it")
    assert not isinstance(later.value, data.DataNotFoundError)
    # another dataset is looked for on its own, and without a part name the message says where it failed
    with pytest.raises(data.DataNotFoundError, match="CIFAR-10 files are missing"):
        context.dataset("cifar10", "test")
    with pytest.raises(data.DataError, match="the cifar10 files are not available; part 'loading the data' above"):
        context.dataset("cifar10", "train")
    assert len(Context(tmp_path / "next", data_root=empty).dataset("mnist", "test")) == 60  # the next run finds them


def test_weights_of_the_wrong_model_name_both_models(tmp_path):
    folder = write_run(tmp_path / "runs" / "mlp", "mnist-mlp")
    context = Context(tmp_path / "out")
    with pytest.raises(UserError) as info:
        context.network("cifar-lenet", folder, model="lenet", purpose="featuremaps")
    assert str(info.value) == (f"--weights {folder}: that run trained a mnist-mlp, but featuremaps needs a lenet "
                               "(e.g. cnnlab train --recipe cifar-lenet)")
    assert not isinstance(info.value, MissingNetwork)


def test_weights_folder_that_is_no_training_run(tmp_path):
    with pytest.raises(UserError, match=r"--weights .*nothing: .*config.json not found: point at the folder of a "
                                        r"'cnnlab train' run"):
        Context(tmp_path).network("mnist-seed", tmp_path / "nothing")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model": "mnist-cnn", "colour": "blue"}')
    with pytest.raises(UserError, match="is not a cnnlab training config: unknown training settings"):
        Context(tmp_path).network("mnist-seed", broken)


def test_weights_are_used_as_given(tmp_path):
    folder = write_run(tmp_path / "runs" / "cnn", "mnist-cnn", engine="numpy", seed=5, lr=0.2)
    network = Context(tmp_path / "out").network("mnist-seed", folder, model="mnist-cnn")
    assert network.folder == folder and network.result is None
    assert (network.config.model, network.config.engine, network.config.lr) == ("mnist-cnn", "numpy", 0.2)
    reference = build_model("mnist-cnn", "numpy", seed=5).state_dict()
    numpy_model = network.load()  # the engine it was trained with
    for key, value in numpy_model.state_dict().items():
        np.testing.assert_array_equal(value, reference[key])
    torch_model = network.load("torch")
    assert isinstance(torch_model, torch.nn.Module)
    np.testing.assert_array_equal(torch_model.state_dict()["conv1.weight"].numpy(), reference["conv1.weight"])


def test_a_missing_network_says_how_to_train_it(tmp_path):
    with pytest.raises(MissingNetwork) as info:
        Context(tmp_path).network("mnist-seed", purpose="equivariance")
    assert str(info.value) == ("equivariance needs a trained network (recipe mnist-seed): train one with `cnnlab "
                               "train --recipe mnist-seed --out runs/mnist-seed` and pass --weights runs/mnist-seed, "
                               "or add --train to train it now")
    assert isinstance(info.value, UserError)
    assert not (tmp_path / "mnist-seed").exists()


def test_networks_trained_in_the_run_are_reused_and_trained_once(tmp_path, tiny_data_root):
    context = Context(tmp_path, data_root=tiny_data_root, quick=True, seed=3)
    trained = context.for_part("training").train("mlp-seed")
    assert isinstance(trained, TrainedNetwork) and trained.folder == tmp_path / "mlp-seed"
    assert trained.config == recipe("mlp-seed", quick=True, seed=3)  # the quick recipe, the run's seed
    assert trained.result is not None and trained.result.train_size == 100 and trained.result.history.epochs == 2
    assert context.for_part("equivariance").network("mlp-seed") is trained  # no --train needed: it is there
    assert context.train("mlp-seed") is trained  # not trained again
    with pytest.raises(MissingNetwork):
        context.network("mlp-seed", engine="torch")  # other settings: another network, not available
    allowed = Context(tmp_path / "second", data_root=tiny_data_root, quick=True, train_missing=True)
    small = allowed.network("mlp-seed", max_datapoints=20)  # trained now, as allowed
    assert small.result is not None and small.result.train_size == 20 and small.folder == tmp_path / "second" / \
        "mlp-seed"
    assert allowed.network("mlp-seed", max_datapoints=20) is small
