"""Real data: the assignment's MNIST CNN trained by the NumPy engine with the assignment's recipe reaches the
assignment's accuracy, the better recipe more.

Assignment 004 task 5, recipe ``mnist-seed``: conv 1->5 and 5->10 (kernel 4, stride 2, padding 1), ReLU, Flatten, Linear
490->10; SGD lr 0.01, momentum 0.9, batch 50, 10 epochs on the first 10000 training images (pixels in [0, 1]),
validated on the 10000 held-out ones (the last 10000 of the official training set). Recipe ``mnist-better``: inputs
standardised with MNIST's mean/std (0.1307/0.3081) and a one-cycle schedule (max lr 0.05), same net, data and epochs.
Measured here (seeds 0/1/2, final epoch): seed recipe 96.45/95.98/96.45%, better recipe 97.46/97.25/97.28%; the
assertions use seed 0 (the recipes' own) with the floors of the issue (96%, the assignment's expectation, and 97%).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cnnlab import data
from cnnlab.training import get_recipe, recipe, train_model

DATA = Path(os.environ.get("CNNLAB_DATA", "/nonexistent"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.realdata,
    pytest.mark.e2e,
    pytest.mark.skipif(not (DATA / "MNIST" / "raw").is_dir(), reason="needs the MNIST files under $CNNLAB_DATA"),
]

TRAIN_SIZE = 10_000


@pytest.fixture(scope="module")
def mnist():
    splits = data.load_splits("mnist", root=DATA, max_datapoints={"train": TRAIN_SIZE}, download=False,
                              progress=False)
    assert [len(splits[s].labels) for s in ("train", "val", "test")] == [TRAIN_SIZE, 10_000, 10_000]
    return {norm: {split: data.prepare(ds, normalization=norm) for split, ds in splits.items()}
            for norm in ("unit", "standard")}


def _train(name: str, mnist, out: Path):
    config = recipe(name)
    return train_model(config, out, arrays=mnist[config.normalization], progress=False)


def test_seed_recipe_reaches_96_percent(mnist, tmp_path):
    config = recipe("mnist-seed")
    assert (config.model, config.engine, config.epochs, config.batch_size, config.max_datapoints) == (
        "mnist-cnn", "numpy", 10, 50, TRAIN_SIZE)
    assert (config.optimizer, config.lr, config.momentum, config.schedule, config.normalization) == (
        "sgd", 0.01, 0.9, "none", "unit")
    result = _train("mnist-seed", mnist, tmp_path)
    history = result.history
    assert history.val_acc[-1] >= get_recipe("mnist-seed").expected_val_acc == 0.96, history.val_acc
    assert history.val_acc[0] < history.val_acc[-1]  # it learned during the run, not by luck of the init
    assert (result.train_size, result.val_size, result.test_size) == (TRAIN_SIZE, 10_000, 10_000)
    assert result.test_acc >= 0.95 and (tmp_path / "model.pt").is_file()


def test_better_recipe_reaches_97_percent(mnist, tmp_path):
    config = recipe("mnist-better")
    assert (config.schedule, config.lr, config.normalization) == ("onecycle", 0.05, "standard")
    history = _train("mnist-better", mnist, tmp_path).history
    assert history.val_acc[-1] >= 0.97, history.val_acc
