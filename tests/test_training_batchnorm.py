"""The training loop with BatchNorm in both engines (training mode while fitting, running statistics when
evaluating, buffers in checkpoints), and the training kit of the new options (AdamW, RMSprop, warm-up, cosine and
step schedules, label smoothing) built alike from torch and the NumPy engine."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cnnlab import numpy_nn
from cnnlab.models import get_family
from cnnlab.training import RECIPES, TrainConfig, evaluate, fit, recipe
from cnnlab.training.config import build_training_kit


def blobs(n: int = 203, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two classes of tiny 2x3x3 'images' (class = sign of the pixel sum), off-centre and scaled so that
    normalisation matters."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(3.0, 2.0, (n, 2, 3, 3)) + np.where(y == 1, 1.5, -1.5)[:, None, None, None]
    return x.astype(np.float32), y.astype(np.int64)


def bn_net(lib):
    return lib.Sequential(lib.Conv2d(2, 4, 3, padding=1, bias=False), lib.BatchNorm2d(4), lib.ReLU(), lib.Flatten(),
                          lib.Linear(36, 2))


def _train(model, lib, opt_lib, epochs=3, **kwargs):
    opt = opt_lib.SGD(model.parameters(), lr=0.05, momentum=0.9)
    return fit(model, lib.CrossEntropyLoss(), opt, blobs(), blobs(seed=1), epochs=epochs, batch_size=16,
               progress=False, **kwargs)


def test_batchnorm_nets_train_alike_in_both_engines_and_evaluate_on_running_statistics():
    numpy_nn.init.manual_seed(0)
    ours, theirs = bn_net(numpy_nn), bn_net(torch.nn)
    theirs.load_state_dict(numpy_nn.to_torch_state_dict(ours.state_dict()))
    history, history_t = _train(ours, numpy_nn, numpy_nn, seed=2), _train(theirs, torch.nn, torch.optim, seed=2)
    assert history.val_acc[-1] > 0.9
    np.testing.assert_allclose(history.train_loss, history_t.train_loss, rtol=1e-3)
    np.testing.assert_allclose(history.val_loss, history_t.val_loss, rtol=1e-3)
    assert int(ours[1].num_batches_tracked) == 3 * math.ceil(203 / 16)  # every training batch, no evaluation one
    np.testing.assert_allclose(ours[1].running_mean, theirs[1].running_mean.numpy(), rtol=1e-3, atol=1e-5)
    # evaluation is deterministic and per image: the running statistics, not those of the evaluated batch
    x, y = blobs(seed=1)
    loss_all, acc_all = evaluate(ours, numpy_nn.CrossEntropyLoss(), (x, y), batch_size=1000)
    loss_one, acc_one = evaluate(ours, numpy_nn.CrossEntropyLoss(), (x, y), batch_size=1)
    assert loss_all == pytest.approx(loss_one, rel=1e-5) and acc_all == acc_one == history.val_acc[-1]


def test_numpy_batchnorm_resume_restores_the_running_statistics(tmp_path):
    def net():
        numpy_nn.init.manual_seed(0)
        return bn_net(numpy_nn)

    straight = net()
    full = _train(straight, numpy_nn, numpy_nn, epochs=3, seed=5)
    _train(net(), numpy_nn, numpy_nn, epochs=2, seed=5, checkpoint_dir=tmp_path)
    resumed = net()
    history = _train(resumed, numpy_nn, numpy_nn, epochs=3, seed=5, checkpoint_dir=tmp_path, resume=True)
    assert history.train_loss == full.train_loss
    for key, value in straight.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value, err_msg=key)


KITS = [
    dict(optimizer="sgd", nesterov=True, schedule="cosine", warmup_epochs=1),
    dict(optimizer="adamw", weight_decay=0.05, schedule="step", lr_step_epochs=1, lr_gamma=0.5),
    dict(optimizer="rmsprop", lr=1e-3, momentum=0.5, warmup_epochs=2),
    dict(optimizer="adam", schedule="onecycle", label_smoothing=0.1),
]


@pytest.mark.parametrize("settings", KITS, ids=str)
def test_the_kit_is_the_same_in_both_engines(settings):
    config = TrainConfig(model="bnres-bn-skip", epochs=3, **settings)
    config.validate()
    steps = 3 * 4
    kits = [build_training_kit(config, get_family(engine).classes(), model.parameters(), steps)
            for engine, model in (("numpy", bn_net(numpy_nn)), ("torch", bn_net(torch.nn)))]
    (opt, loss, sched), (opt_t, loss_t, sched_t) = kits
    assert type(opt).__name__ == type(opt_t).__name__ and loss.label_smoothing == loss_t.label_smoothing
    assert (sched is None) == (sched_t is None)
    for _ in range(steps):
        assert opt.param_groups[0]["lr"] == pytest.approx(opt_t.param_groups[0]["lr"], rel=1e-12)
        opt_t.step()
        if sched is not None:
            sched.step()
            sched_t.step()
    if config.schedule == "cosine":
        assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("settings, message", [
    (dict(schedule="onecycle", warmup_epochs=1), "onecycle schedule warms up by itself"),
    (dict(warmup_epochs=5, epochs=5), "must be fewer than --epochs"),
    (dict(optimizer="adam", nesterov=True), "--nesterov needs --optimizer sgd"),
    (dict(label_smoothing=1.5), "--label-smoothing must be at most 1"),
    (dict(optimizer="lamb"), "--optimizer: 'lamb' is not one of"),
])
def test_bad_combinations_are_named(settings, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**settings).validate()


def test_old_configs_without_the_new_fields_still_load():
    data = TrainConfig().to_dict()
    for name in ("nesterov", "warmup_epochs", "lr_step_epochs", "lr_gamma", "label_smoothing"):
        del data[name]
    assert TrainConfig.from_dict(data) == TrainConfig()


def test_the_cifar_resnet_recipe_and_its_quick_version():
    config = recipe("cifar-resnet")
    config.validate()
    assert config.model == "cifar-resnet" and config.engine == "torch"
    assert "BatchNorm" in RECIPES["cifar-resnet"].summary or "residual" in RECIPES["cifar-resnet"].summary
    quick = recipe("cifar-resnet", quick=True)
    assert quick.epochs < config.epochs and quick.max_datapoints is not None
    on_numpy = recipe("cifar-resnet", engine="numpy")
    assert on_numpy.describe().startswith("cifar-resnet on the numpy engine") and not on_numpy.channels_last
    with pytest.raises(ValueError, match="--channels-last applies to the torch engines"):
        recipe("cifar-resnet", engine="numpy", channels_last=True)
