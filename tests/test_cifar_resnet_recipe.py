"""Real data: the cifar-resnet recipe (BatchNorm, residual blocks, global average pooling; torch.nn on the CPU)
learns CIFAR-10 quickly, and the NumPy engine classifies the test images exactly as torch does with the trained
weights (BatchNorm in evaluation mode on the running statistics).

Here the recipe runs on the first 5000 images of every split for 3 epochs at batch 128 on one thread (about a
minute; the one-cycle schedule is compressed accordingly): measured 46% test accuracy, and the floor (35%, chance is
10%) proves learning with a margin. The full recipe's accuracy (82.4% test after 8 epochs, 12 minutes on 2 threads)
is measured by ``cnnlab train --recipe cifar-resnet``, see the README.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnlab import data
from cnnlab.models import build_model
from cnnlab.threads import torch_threads
from cnnlab.training import predict, recipe, train_model

DATA = Path(os.environ.get("CNNLAB_DATA", "/nonexistent"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.realdata,
    pytest.mark.skipif(not (DATA / "cifar-10-batches-py").is_dir(), reason="needs CIFAR-10 under $CNNLAB_DATA"),
]

EPOCHS, IMAGES, BATCH, FLOOR, TWIN_IMAGES = 3, 5000, 128, 0.35, 500


def test_the_recipe_learns_fast_and_the_numpy_engine_agrees_on_the_trained_net(tmp_path):
    config = recipe("cifar-resnet", epochs=EPOCHS, max_datapoints=IMAGES, batch_size=BATCH, device="cpu")
    with torch_threads(1):  # beside the other test worker: two threads each would oversubscribe the two cores
        result = train_model(config, tmp_path, root=DATA, progress=False)
    assert result.history.val_acc[0] < result.history.val_acc[-1], result.history.val_acc
    assert result.test_acc >= FLOOR, f"test accuracy {result.test_acc:.3f} after {EPOCHS} epochs"

    test = data.prepare(data.load_dataset("cifar10", "test", DATA, max_datapoints=TWIN_IMAGES), "standard")
    trained = build_model("cifar-resnet", "torch")
    trained.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    twin = build_model("cifar-resnet", "numpy")
    twin.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    ours, theirs = predict(twin, test[0]), predict(trained, test[0], device="cpu")
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-3)
    assert (ours.argmax(1) != theirs.argmax(1)).sum() <= 2  # at most a near-tie decided the other way
