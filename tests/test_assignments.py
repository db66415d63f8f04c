"""The assignments to the letter: the exercise's settings, names and examples, as a learner looks them up."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import cnnlab
from cnnlab.cli import main
from cnnlab.data import shift_data, shift_images
from cnnlab.experiments.base import Context
from cnnlab.experiments.conv_output import example_table
from cnnlab.experiments.warmup import WarmupSettings, run
from cnnlab.models import build_model
from cnnlab.models.introspect import named_layers
from cnnlab.training import get_recipe, load_data, recipe


def test_the_mlp_baseline_is_the_exercises_784_30_10_with_its_optimiser():
    model = build_model("mnist-mlp", "numpy")
    shapes = [(name, tuple(layer.weight.shape)) for name, layer in named_layers(model) if hasattr(layer, "weight")]
    assert shapes == [("fc1", (30, 784)), ("fc2", (10, 30))]
    config = get_recipe("mlp-seed").config
    assert (config.model, config.engine, config.optimizer, config.lr, config.momentum, config.batch_size,
            config.epochs, config.max_datapoints, config.normalization) == (
        "mnist-mlp", "numpy", "sgd", 0.05, 0.9, 50, 10, 10_000, "unit")
    assert "784→30→10" in get_recipe("mlp-seed").summary


def test_the_cnn_recipe_is_the_exercises():
    config = get_recipe("mnist-seed").config
    assert (config.model, config.engine, config.lr, config.momentum, config.batch_size, config.epochs,
            config.max_datapoints, config.normalization, config.schedule) == (
        "mnist-cnn", "numpy", 0.01, 0.9, 50, 10, 10_000, "unit", "none")


@pytest.mark.parametrize(("name", "expected"), [("mnist", {"train": 80, "val": 80, "test": 60}),
                                                 ("lenet", {"train": 50, "val": 80, "test": 60})])
def test_max_datapoints_cuts_every_split(name, expected, tiny_data_root):
    model = "mnist-cnn" if name == "mnist" else "lenet"
    arrays = load_data(recipe("mnist-seed", model=model, max_datapoints=80), tiny_data_root)
    # tiny data: MNIST has 100 training (after the 10000 validation images) and 60 test images; CIFAR-10 50 / 5000
    assert {split: len(y) for split, (x, y) in arrays.items()} == expected


def test_the_seeds_spelling_of_max_datapoints_is_accepted(tmp_path, tiny_data_root):
    result = CliRunner().invoke(main, ["--data-dir", str(tiny_data_root), "train", "--max_datapoints", "8",
                                       "--epochs", "1", "--out", str(tmp_path), "--no-progress"])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["config"]["max_datapoints"] == 8 and data["train_size"] == data["val_size"] == 8


def test_the_warm_up_gives_the_exercises_values(tmp_path):
    result = run(WarmupSettings(), Context(tmp_path))
    simple, full = result.products
    assert (simple.single, simple.batch, simple.filters) == (212.0, [212.0, 612.0],
                                                             [[212.0, 424.0, 636.0], [612.0, 1224.0, 1836.0]])
    assert (full.single, full.batch, full.filters) == (5718.0, [5718.0, 13368.0],
                                                       [[5718.0, 15276.0, 24834.0], [13368.0, 39126.0, 64884.0]])
    assert simple.max_abs_diff == full.max_abs_diff == 0  # torch's conv2d at output position (2, 1)
    x = np.arange(18).reshape(1, 2, 3, 3)
    np.testing.assert_array_equal(result.padded, np.pad(x, ((0, 0), (0, 0), (2, 2), (1, 1))))
    assert result.simple_conv_input == (10, 1, 5, 5) and result.simple_conv_output == (10, 3, 3, 3)
    assert result.simple_conv_max_abs_diff < 1e-5


@pytest.mark.parametrize("index", [(3, 0), (-1, 0), (1, 2, 3)])
def test_a_window_outside_the_example_images_is_refused(index):
    with pytest.raises(ValueError, match="--index"):
        WarmupSettings(index=index)


def test_the_exercises_conv_output_example():
    assert cnnlab.calculate_conv_output([7, 7], [3, 3], [1, 1], [2, 2]) == [9, 9]
    assert cnnlab.conv_output_size(np.array([7, 7]), np.array([3, 3]), padding=np.array([2, 2])) == (9, 9)
    first = example_table()[0]
    assert "show_conv_output_dims" in first.name and first.output_size == [9, 9]
    with pytest.raises(ValueError, match="one entry per dimension"):
        cnnlab.calculate_conv_output([7, 7], [3], [1, 1], [2, 2])


def test_shift_data_is_the_seeds_shift():
    images = np.random.default_rng(0).integers(0, 255, (4, 1, 28, 28), dtype=np.uint8)
    np.testing.assert_array_equal(shift_data(images), shift_images(images, 2, 2))
    assert shift_data(images)[:, :, :2].max() == 0 and shift_data(images)[:, :, :, :2].max() == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("args", [["compare", "--device", "cuda"], ["train", "--recipe", "cifar-lenet", "--device",
                                                                     "cuda"]])
def test_cuda_without_a_gpu_is_one_clear_line(args, tmp_path):
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "o")])
    assert result.exit_code in (1, 2) and "Traceback" not in result.output
    assert "--device cuda: CUDA is not available here" in result.output and not (tmp_path / "o").exists()
