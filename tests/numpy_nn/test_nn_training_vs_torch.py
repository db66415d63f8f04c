"""A whole CNN, its optimizer steps and the one-cycle schedule stay identical to torch's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nnhelpers import assert_close, step_side_by_side

from cnnlab import numpy_nn as nn
from cnnlab.models import MODELS, build_model


def _twins(name: str, seed: int = 0):
    ours = build_model(name, engine="numpy", seed=seed)
    theirs = build_model(name, engine="torch")
    theirs.load_state_dict(nn.to_torch_state_dict(ours.state_dict()))
    return ours, theirs


def _batch(name: str, n: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, *MODELS[name].input_shape)).astype(np.float32), rng.integers(0, 10, n)


@pytest.mark.parametrize("name", ["lenet", "mnist-cnn", "mnist-mlp", "cifar-resnet", "bnres-bn-skip"])
def test_whole_network_logits_and_gradients_equal_torch(name):
    ours, theirs = _twins(name)
    x, y = _batch(name)
    crit = nn.CrossEntropyLoss()
    logits = ours(x)
    loss = crit(logits, y)
    dx = ours.backward(crit.backward())
    xt = torch.tensor(x, requires_grad=True)
    logits_t = theirs(xt)
    loss_t = torch.nn.functional.cross_entropy(logits_t, torch.from_numpy(y))
    loss_t.backward()
    assert_close(logits, logits_t, what="logits")
    assert loss == pytest.approx(loss_t.item(), rel=1e-5)
    assert_close(dx, xt.grad, what="dx")
    grads_t = dict(theirs.named_parameters())
    for key, param in ours.named_parameters():
        assert_close(param.grad, grads_t[key].grad, what=key)


OPTIMIZERS = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=5e-4)),
    ("Adam", dict(lr=1e-3)),
    ("Adam", dict(lr=2e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2)),
    ("Adam", dict(lr=1e-3, amsgrad=True)),
]


@pytest.mark.parametrize(("optimizer", "kwargs"), OPTIMIZERS, ids=lambda v: str(v))
def test_optimizer_steps_stay_identical_to_torch(optimizer, kwargs):
    ours, theirs = _twins("mnist-cnn", seed=1)
    opt = getattr(nn, optimizer)(ours.parameters(), **kwargs)
    opt_t = getattr(torch.optim, optimizer)(theirs.parameters(), **kwargs)
    for step in range(5):
        step_side_by_side(ours, theirs, opt, opt_t, *_batch("mnist-cnn", n=16, seed=step))
    theirs_sd = theirs.state_dict()
    for key, value in ours.state_dict().items():
        assert_close(value, theirs_sd[key], rtol=1e-4, atol=2e-6, what=f"{key} after 5 steps")


def test_optimizer_state_dict_round_trip_continues_identically():
    a, _ = _twins("mnist-cnn", seed=2)
    b, _ = _twins("mnist-cnn", seed=2)
    opt_a = nn.Adam(a.parameters(), lr=1e-2)
    crit = nn.CrossEntropyLoss()

    def step(model, opt, seed):
        x, y = _batch("mnist-cnn", n=8, seed=seed)
        opt.zero_grad()
        crit(model(x), y)
        model.backward(crit.backward())
        opt.step()

    step(a, opt_a, 0)
    b.load_state_dict(a.state_dict())
    opt_b = nn.Adam(b.parameters(), lr=0.5)
    opt_b.load_state_dict(opt_a.state_dict())
    assert opt_b.param_groups[0]["lr"] == 1e-2
    step(a, opt_a, 1)
    step(b, opt_b, 1)
    for key, value in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[key], value)
    with pytest.raises(ValueError, match="the state is for 6 parameters, this optimizer has 2"):
        nn.Adam(nn.Linear(2, 2).parameters()).load_state_dict(opt_a.state_dict())


def test_torch_optimizer_state_loads_into_ours():
    ours, theirs = _twins("mnist-mlp", seed=3)
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    x, y = _batch("mnist-mlp", n=4)
    torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    opt_t.step()
    opt = nn.SGD(ours.parameters(), lr=0.0, momentum=0.0)
    opt.load_state_dict(opt_t.state_dict())
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["momentum"] == 0.9
    assert_close(opt.state[ours.fc1.weight]["momentum_buffer"], opt_t.state[theirs.fc1.weight]["momentum_buffer"])


SCHEDULES = [
    dict(max_lr=0.1, total_steps=100),
    dict(max_lr=0.05, total_steps=37, pct_start=0.25, anneal_strategy="linear"),
    dict(max_lr=1.0, total_steps=50, three_phase=True, div_factor=10.0, final_div_factor=100.0),
    dict(max_lr=0.2, epochs=3, steps_per_epoch=7, cycle_momentum=False),
]


@pytest.mark.parametrize("kwargs", SCHEDULES, ids=str)
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_one_cycle_lr_and_momentum_sequence_equals_torch(kwargs, optimizer):
    extra = {"momentum": 0.9} if optimizer == "SGD" else {}
    opt = getattr(nn, optimizer)(nn.Linear(2, 2).parameters(), lr=0.01, **extra)
    opt_t = getattr(torch.optim, optimizer)(torch.nn.Linear(2, 2).parameters(), lr=0.01, **extra)
    sched = nn.OneCycleLR(opt, **kwargs)
    sched_t = torch.optim.lr_scheduler.OneCycleLR(opt_t, **kwargs)
    total = kwargs.get("total_steps") or kwargs["epochs"] * kwargs["steps_per_epoch"]
    for _ in range(total):
        group, group_t = opt.param_groups[0], opt_t.param_groups[0]
        assert group["lr"] == pytest.approx(group_t["lr"], rel=1e-12, abs=1e-15)
        if optimizer == "SGD":
            assert group["momentum"] == pytest.approx(group_t["momentum"], rel=1e-12)
        else:
            assert group["betas"][0] == pytest.approx(group_t["betas"][0], rel=1e-12)
        assert sched.get_last_lr() == pytest.approx(sched_t.get_last_lr(), rel=1e-12)
        sched.step()
        opt_t.step()
        sched_t.step()
    with pytest.raises(ValueError, match="Tried to step"):
        sched.step()


def test_one_cycle_state_dict_resumes():
    opt = nn.SGD(nn.Linear(2, 2).parameters(), lr=0.1, momentum=0.9)
    sched = nn.OneCycleLR(opt, max_lr=0.1, total_steps=20)
    for _ in range(7):
        sched.step()
    state = sched.state_dict()
    opt2 = nn.SGD(nn.Linear(2, 2).parameters(), lr=0.1, momentum=0.9)
    sched2 = nn.OneCycleLR(opt2, max_lr=0.1, total_steps=20)
    sched2.load_state_dict(state)
    sched.step()
    sched2.step()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    assert opt2.param_groups[0]["momentum"] == opt.param_groups[0]["momentum"]


def test_the_modern_net_trains_identically_to_torch_for_a_few_steps():
    """cifar-resnet (BatchNorm, residual blocks, global pooling): after the same state_dict, the same logits and
    gradients at every step, the same weights and running statistics after four SGD steps, the same eval logits."""
    ours, theirs = _twins("cifar-resnet", seed=4)
    kwargs = dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    opt, opt_t = nn.SGD(ours.parameters(), **kwargs), torch.optim.SGD(theirs.parameters(), **kwargs)
    crit, crit_t = nn.CrossEntropyLoss(label_smoothing=0.1), torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    for step in range(4):
        x, y = _batch("cifar-resnet", n=8, seed=step)
        opt.zero_grad()
        logits = ours(x)
        crit(logits, y)
        ours.backward(crit.backward(), need_input_grad=False)
        opt_t.zero_grad()
        logits_t = theirs(torch.from_numpy(x))
        crit_t(logits_t, torch.from_numpy(y)).backward()
        assert_close(logits, logits_t, rtol=1e-3, atol=1e-4, what=f"logits at step {step}")
        grads_t = dict(theirs.named_parameters())
        for key, param in ours.named_parameters():
            assert_close(param.grad, grads_t[key].grad, rtol=1e-3, atol=1e-4, what=f"{key} grad at step {step}")
        opt.step()
        opt_t.step()
    theirs_state = theirs.state_dict()
    assert list(ours.state_dict()) == list(theirs_state)
    for key, value in ours.state_dict().items():
        assert_close(value, theirs_state[key], rtol=1e-3, atol=1e-4, what=f"{key} after 4 steps")
    ours.eval()
    theirs.eval()
    x, _ = _batch("cifar-resnet", n=4, seed=9)
    with torch.no_grad():
        assert_close(ours(x), theirs(torch.from_numpy(x)), rtol=1e-3, atol=1e-4, what="eval logits")
