"""Real data: the seed's MNIST CNN trained by the NumPy engine reaches the seed's accuracy, the better recipe more.

Seed 004 task 5: conv 1->5 and 5->10 (kernel 4, stride 2, padding 1), ReLU, Flatten, Linear 490->10; SGD lr 0.01,
momentum 0.9, batch 50, 10 epochs on the first 10000 training images (pixels in [0, 1]), validated on the 10000
held-out ones (the last 10000 of the official training set). "Better": inputs standardised with MNIST's mean/std
(0.1307/0.3081) and a one-cycle schedule (max lr 0.05), same net, data and epochs.
Measured here (seeds 0/1/2, final epoch): seed recipe 96.45/95.98/96.45%, better recipe 97.46/97.25/97.28%; the
assertions use seed 0 with the floors of the issue (96% and 97%).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from cnnlab import numpy_nn as nn
from cnnlab.models import build_model
from cnnlab.threads import blas_threads
from cnnlab.training import fit

DATA = Path(os.environ.get("CNNLAB_DATA", "/nonexistent"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.realdata,
    pytest.mark.skipif(not (DATA / "MNIST" / "raw").is_dir(), reason="needs the MNIST files under $CNNLAB_DATA"),
]

EPOCHS, BATCH, TRAIN_SIZE = 10, 50, 10_000


@pytest.fixture(scope="module")
def mnist():
    from cnnlab import data

    splits = data.load_splits("mnist", ("train", "val"), root=DATA, max_datapoints={"train": TRAIN_SIZE},
                              download=False, progress=False)
    assert len(splits["train"].labels) == TRAIN_SIZE and len(splits["val"].labels) == 10_000
    return {norm: {split: data.prepare(ds, normalization=norm) for split, ds in splits.items()}
            for norm in ("unit", "standard")}


def _train(arrays, lr: float, one_cycle: bool, seed: int = 0):
    model = build_model("mnist-cnn", engine="numpy", seed=seed)
    optimizer = nn.SGD(model.parameters(), lr=lr, momentum=0.9)
    steps = EPOCHS * math.ceil(TRAIN_SIZE / BATCH)
    scheduler = nn.OneCycleLR(optimizer, max_lr=lr, total_steps=steps) if one_cycle else None
    with blas_threads(1):  # small matrix products: one BLAS thread is faster, and far faster on a busy machine
        return fit(model, nn.CrossEntropyLoss(), optimizer, arrays["train"], arrays["val"], epochs=EPOCHS,
                   batch_size=BATCH, seed=seed, scheduler=scheduler, progress=False)


def test_seed_recipe_reaches_96_percent(mnist):
    history = _train(mnist["unit"], lr=0.01, one_cycle=False)
    assert history.val_acc[-1] >= 0.96, history.val_acc
    assert history.val_acc[0] < history.val_acc[-1]  # it learned during the run, not by luck of the init


def test_better_recipe_reaches_97_percent(mnist):
    history = _train(mnist["standard"], lr=0.05, one_cycle=True)
    assert history.val_acc[-1] >= 0.97, history.val_acc
