"""Real data: the seed's LeNet learns CIFAR-10 in a few epochs, and the own-layer twin scores the same.

Seed 000 task 1.2: conv 8@5x5, pool, conv 16@5x5, pool, fc 128, fc 64, fc 10 (``build_model("lenet")``), trained on
the 45000 training images (5000 held out for validation), tested on the official 10000 test images. Here: 3 epochs
of SGD (momentum 0.9, weight decay 5e-4) with a one-cycle schedule peaking at lr 0.05, batch 64, standardised inputs,
no augmentation (it slows learning in so few epochs). Measured (seed 0): validation 41.8 / 51.5 / 60.3% after
epochs 1 / 2 / 3, test 60.6%; about 7 s per epoch on an idle 2-core CPU. The floor (50% test accuracy) proves
learning with a wide margin, not the best accuracy: the full recipe (25 epochs with crop+flip augmentation) reaches
more, see the issue notes.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch

from cnnlab.models import build_model
from cnnlab.training import evaluate, fit

DATA = Path(os.environ.get("CNNLAB_DATA", "/nonexistent"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.realdata,
    pytest.mark.skipif(not (DATA / "cifar-10-batches-py").is_dir(), reason="needs CIFAR-10 under $CNNLAB_DATA"),
]

EPOCHS, BATCH, LR = 3, 64, 0.05


@pytest.fixture(scope="module")
def cifar():
    from cnnlab import data

    splits = data.load_splits("cifar10", root=DATA, download=False, progress=False)
    assert [len(splits[s].labels) for s in ("train", "val", "test")] == [45_000, 5_000, 10_000]
    return {split: data.prepare(ds) for split, ds in splits.items()}


def test_lenet_learns_cifar10_in_three_epochs_and_the_own_twin_agrees(cifar):
    model = build_model("lenet", "torch", seed=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9, weight_decay=5e-4)
    steps = EPOCHS * math.ceil(len(cifar["train"][1]) / BATCH)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=LR, total_steps=steps)
    loss_fn = torch.nn.CrossEntropyLoss()
    history = fit(model, loss_fn, optimizer, cifar["train"], cifar["val"], epochs=EPOCHS, batch_size=BATCH, seed=0,
                  scheduler=scheduler, device="cpu", progress=False)
    assert history.val_acc[0] < history.val_acc[-1], history.val_acc
    _, test_acc = evaluate(model, loss_fn, cifar["test"], device="cpu")
    assert test_acc >= 0.50, f"test accuracy {test_acc:.3f} after {EPOCHS} epochs; history {history.val_acc}"

    twin = build_model("lenet", "torch-own")
    twin.load_state_dict(model.state_dict())
    _, twin_acc = evaluate(twin, loss_fn, cifar["test"], device="cpu")
    assert abs(twin_acc - test_acc) <= 2 / len(cifar["test"][1])  # at most a tie broken the other way
