"""Real data: the assignment's LeNet learns CIFAR-10 in a few epochs of the ``cifar-lenet`` recipe, and the own-layer
twin loaded from the run's folder scores the same.

Assignment 000 task 1.2: conv 8@5x5, pool, conv 16@5x5, pool, fc 128, fc 64, fc 10 (model ``lenet``), trained on the
45000 training images (5000 held out for validation), tested on the official 10000 test images. Here: the recipe's SGD
(momentum 0.9, weight decay 5e-4) with a one-cycle schedule peaking at lr 0.05, batch 64, standardised inputs, for
3 epochs and without augmentation (it slows learning in so few epochs). Measured (seed 0): validation 41.8 / 51.5 /
60.3% after epochs 1 / 2 / 3, test 60.6%; about 7 s per epoch on an idle 2-core CPU. The floor (50% test accuracy)
proves learning with a wide margin, not the best accuracy: the full recipe (25 epochs with crop+flip augmentation)
reaches more, see the issue notes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from cnnlab import data
from cnnlab.training import evaluate, load_trained, recipe, train_model

DATA = Path(os.environ.get("CNNLAB_DATA", "/nonexistent"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.realdata,
    pytest.mark.e2e,
    pytest.mark.skipif(not (DATA / "cifar-10-batches-py").is_dir(), reason="needs CIFAR-10 under $CNNLAB_DATA"),
]

EPOCHS = 3


@pytest.fixture(scope="module")
def cifar():
    splits = data.load_splits("cifar10", root=DATA, download=False, progress=False)
    assert [len(splits[s].labels) for s in ("train", "val", "test")] == [45_000, 5_000, 10_000]
    return {split: data.prepare(ds, "standard") for split, ds in splits.items()}


def test_lenet_learns_cifar10_in_three_epochs_and_the_own_twin_agrees(cifar, tmp_path):
    config = recipe("cifar-lenet", epochs=EPOCHS, augment="none", device="cpu")
    assert (config.model, config.engine, config.batch_size, config.optimizer, config.lr, config.momentum,
            config.weight_decay, config.schedule, config.normalization, config.seed) == (
        "lenet", "torch", 64, "sgd", 0.05, 0.9, 5e-4, "onecycle", "standard", 0)
    result = train_model(config, tmp_path, arrays=cifar, progress=False)
    history = result.history
    assert history.epochs == EPOCHS and history.val_acc[0] < history.val_acc[-1], history.val_acc
    assert result.test_acc >= 0.50, f"test accuracy {result.test_acc:.3f} after {EPOCHS} epochs; {history.val_acc}"

    twin, saved = load_trained(tmp_path, "torch-own")
    assert saved == config
    _, twin_acc = evaluate(twin, torch.nn.CrossEntropyLoss(), cifar["test"], device="cpu")
    assert abs(twin_acc - result.test_acc) <= 2 / len(cifar["test"][1])  # at most a tie broken the other way
