"""The training loop: learning, seeding, uneven batches, checkpoints and resume, Ctrl-C, divergence, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cnnlab.training import History, evaluate, fit, load_checkpoint, predict, resolve_device


def blobs(n: int = 203, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two separable classes of tiny 1x2x2 'images': class = sign of the pixel sum."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(0, 0.5, (n, 1, 2, 2)).astype(np.float32) + np.where(y == 1, 1.0, -1.0)[:, None, None, None]
    return x.astype(np.float32), y.astype(np.int64)


def tiny_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


def train(model: nn.Module, epochs: int = 3, **kwargs) -> History:
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return fit(model, nn.CrossEntropyLoss(), opt, blobs(), blobs(seed=1), epochs=epochs, batch_size=16,
               progress=False, **kwargs)


def test_learns_separable_data_and_records_every_epoch():
    model = tiny_net()
    history = train(model, epochs=4)
    assert history.epochs == 4 and not history.interrupted
    assert history.val_acc[-1] > 0.95
    assert history.train_loss[-1] < history.train_loss[0]
    loss, acc = evaluate(model, nn.CrossEntropyLoss(), blobs(seed=1))
    assert acc == pytest.approx(history.val_acc[-1]) and loss == pytest.approx(history.val_loss[-1], rel=1e-5)
    assert predict(model, blobs(seed=1)[0]).shape == (203, 2)


def test_same_seed_same_run_and_other_seed_differs():
    a, b, c = tiny_net(), tiny_net(), tiny_net()
    ha, hb, hc = train(a, seed=3), train(b, seed=3), train(c, seed=4)
    assert ha.train_loss == hb.train_loss
    assert ha.train_loss != hc.train_loss


def test_uneven_last_batch_counts_every_sample_once():
    seen = []

    def record(xb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        seen.append(len(xb))
        return xb

    train(tiny_net(), epochs=1, augment=record)
    assert sum(seen) == 203 and seen[-1] == 203 % 16


def test_scheduler_steps_once_per_batch():
    model = tiny_net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=2 * 13)
    fit(model, nn.CrossEntropyLoss(), opt, blobs(), epochs=2, batch_size=16, scheduler=sched, progress=False)
    assert sched.last_epoch == 26


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    straight = tiny_net()
    full = train(straight, epochs=3, seed=5)
    first = tiny_net()
    train(first, epochs=2, seed=5, checkpoint_dir=tmp_path)
    assert load_checkpoint(tmp_path)["history"]["records"][-1]["epoch"] == 2
    resumed = tiny_net(seed=99)  # other initial weights: the checkpoint must replace them
    history = train(resumed, epochs=3, seed=5, checkpoint_dir=tmp_path, resume=True)
    assert history.train_loss == full.train_loss
    for p, q in zip(straight.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_resume_without_checkpoint_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no checkpoint at .*checkpoint\.pt"):
        train(tiny_net(), checkpoint_dir=tmp_path, resume=True)


def test_ctrl_c_keeps_finished_epochs():
    calls = []

    def interrupt_in_third_epoch(xb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        calls.append(1)
        if len(calls) == 2 * 13 + 5:
            raise KeyboardInterrupt
        return xb

    history = train(tiny_net(), epochs=5, augment=interrupt_in_third_epoch)
    assert history.interrupted and history.epochs == 2


def test_nan_inputs_are_refused_before_training_naming_the_image():
    model = tiny_net()
    x, y = blobs()
    x[40] = np.nan
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"train_data: 1 image\(s\) contain NaN or inf, the first is image 40"):
        fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=2, batch_size=16, progress=False)


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        ((np.zeros((4, 1, 2, 2), np.uint8), np.zeros(4, np.int64)), TypeError, "must be floating point"),
        ((np.zeros((4, 1, 2, 2), np.float32), np.zeros(3, np.int64)), ValueError, "4 images but 3 labels"),
        ((np.zeros((4, 1, 2, 2), np.float32), np.zeros((4, 1), np.int64)), TypeError, "1-D integer array"),
        ((np.zeros((0, 1, 2, 2), np.float32), np.zeros(0, np.int64)), ValueError, "is empty"),
        (np.zeros((4, 1, 2, 2), np.float32), TypeError, r"pair \(x, y\)"),
    ],
)
def test_bad_data_is_rejected_before_training(data, error, message):
    model = tiny_net()
    with pytest.raises(error, match=message):
        fit(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), data, epochs=1,
            batch_size=2, progress=False)


@pytest.mark.parametrize(("epochs", "batch_size"), [(0, 2), (1, 0), (1.5, 2)])
def test_bad_epochs_or_batch_size(epochs, batch_size):
    model = tiny_net()
    with pytest.raises(ValueError, match="must be a positive integer"):
        fit(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), blobs(), epochs=epochs,
            batch_size=batch_size, progress=False)


def test_not_a_model():
    with pytest.raises(TypeError, match=r"expected a torch\.nn\.Module or a cnnlab\.numpy_nn Module"):
        predict(object(), np.zeros((1, 1, 2, 2), np.float32))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown when no GPU is present")
def test_cuda_without_gpu_is_a_clear_error():
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        resolve_device("cuda")


def numpy_net(seed: int = 0):
    from cnnlab import numpy_nn

    numpy_nn.init.manual_seed(seed)
    return numpy_nn.Sequential(numpy_nn.Flatten(), numpy_nn.Linear(4, 8), numpy_nn.ReLU(), numpy_nn.Linear(8, 2))


def train_numpy(model, epochs: int = 3, **kwargs) -> History:
    from cnnlab import numpy_nn

    opt = numpy_nn.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return fit(model, numpy_nn.CrossEntropyLoss(), opt, blobs(), blobs(seed=1), epochs=epochs, batch_size=16,
               progress=False, **kwargs)


def test_numpy_engine_learns_and_matches_torch_epoch_for_epoch():
    from cnnlab import numpy_nn

    np_model, torch_model = numpy_net(), tiny_net()
    np_model.load_state_dict(torch_model.state_dict())
    ours, theirs = train_numpy(np_model, seed=2), train(torch_model, seed=2)
    assert ours.val_acc[-1] > 0.95
    np.testing.assert_allclose(ours.train_loss, theirs.train_loss, rtol=1e-4)
    np.testing.assert_allclose(ours.val_acc, theirs.val_acc)
    loss, acc = evaluate(np_model, numpy_nn.CrossEntropyLoss(), blobs(seed=1))
    assert acc == pytest.approx(ours.val_acc[-1]) and loss == pytest.approx(ours.val_loss[-1], rel=1e-5)


def test_numpy_engine_resume_is_exact(tmp_path):
    straight = numpy_net()
    full = train_numpy(straight, epochs=3, seed=5)
    train_numpy(numpy_net(), epochs=2, seed=5, checkpoint_dir=tmp_path)
    resumed = numpy_net(seed=9)
    history = train_numpy(resumed, epochs=3, seed=5, checkpoint_dir=tmp_path, resume=True)
    assert history.train_loss == full.train_loss
    for key, value in straight.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value)


def test_numpy_engine_refuses_cuda():
    with pytest.raises(ValueError, match="NumPy engine runs on the CPU only"):
        predict(numpy_net(), blobs()[0], device="cuda")
