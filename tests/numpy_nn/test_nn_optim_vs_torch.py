"""AdamW, RMSprop, parameter groups and the learning-rate schedules (StepLR, CosineAnnealingLR, LinearLR,
SequentialLR, OneCycleLR with several groups) follow torch step for step; optimizer and scheduler state moves
between the engines and resumes identically.

The networks train in float64 here: RMSprop's first steps divide each gradient by its own magnitude, so in float32
the rounding differences of near-zero gradients grow into visible weight differences; in float64 the two engines
agree to many digits, which is what "the same update rule" means."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from nnhelpers import assert_close, step_side_by_side

from cnnlab import numpy_nn as nn
from cnnlab.models import build_model


def _twins(seed: int = 0):
    ours = build_model("mnist-cnn", engine="numpy", seed=seed).double()
    theirs = build_model("mnist-cnn", engine="torch").double()
    theirs.load_state_dict(nn.to_torch_state_dict(ours.state_dict()))
    return ours, theirs


def _batch(seed: int, n: int = 16):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 28, 28)), rng.integers(0, 10, n)


def _groups(model, lib_params):
    """Two parameter groups as people write them: weights with weight decay, biases without and a larger lr."""
    named = dict(lib_params(model))
    weights = [p for k, p in named.items() if k.endswith("weight")]
    biases = [p for k, p in named.items() if k.endswith("bias")]
    return [{"params": weights}, {"params": biases, "weight_decay": 0.0, "lr": 0.05}]


def _train_both(ours, theirs, opt, opt_t, steps=5, scheduler=None, scheduler_t=None):
    for step in range(steps):
        step_side_by_side(ours, theirs, opt, opt_t, *_batch(step))
        if scheduler is not None:
            scheduler.step()
            scheduler_t.step()
            assert scheduler.get_last_lr() == pytest.approx(scheduler_t.get_last_lr(), rel=1e-12)


def _assert_same_weights(ours, theirs, what):
    theirs_sd = theirs.state_dict()
    for key, value in ours.state_dict().items():
        assert_close(value, theirs_sd[key], rtol=1e-9, atol=1e-11, what=f"{key} {what}")


OPTIMIZERS = [
    ("AdamW", dict(lr=1e-3)),
    ("AdamW", dict(lr=2e-3, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=1e-3, weight_decay=1e-2, decoupled_weight_decay=True)),
    ("RMSprop", dict(lr=1e-3)),
    ("RMSprop", dict(lr=1e-3, alpha=0.9, momentum=0.8, weight_decay=1e-3)),
    ("RMSprop", dict(lr=5e-4, centered=True, momentum=0.5)),
    ("SGD", dict(lr=0.05, momentum=0.9, maximize=True)),
]


@pytest.mark.parametrize(("optimizer", "kwargs"), OPTIMIZERS, ids=str)
def test_optimizer_steps_equal_torch(optimizer, kwargs):
    ours, theirs = _twins(seed=1)
    opt = getattr(nn, optimizer)(ours.parameters(), **kwargs)
    opt_t = getattr(torch.optim, optimizer)(theirs.parameters(), **kwargs)
    _train_both(ours, theirs, opt, opt_t)
    _assert_same_weights(ours, theirs, f"after 5 {optimizer} steps")


@pytest.mark.parametrize("optimizer", ["SGD", "AdamW", "RMSprop"])
def test_parameter_groups_with_their_own_options_equal_torch(optimizer):
    ours, theirs = _twins(seed=2)
    kwargs = dict(lr=0.01, weight_decay=1e-2) | ({"momentum": 0.9} if optimizer != "AdamW" else {})
    opt = getattr(nn, optimizer)(_groups(ours, nn.Module.named_parameters), **kwargs)
    opt_t = getattr(torch.optim, optimizer)(_groups(theirs, torch.nn.Module.named_parameters), **kwargs)
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in opt_t.param_groups] == [0.01, 0.05]
    _train_both(ours, theirs, opt, opt_t)
    _assert_same_weights(ours, theirs, f"after 5 {optimizer} steps with two groups")


@pytest.mark.parametrize("optimizer", ["AdamW", "RMSprop"])
def test_state_moves_between_the_engines_both_ways(optimizer):
    kwargs = {"momentum": 0.9, "centered": True} if optimizer == "RMSprop" else {}
    ours, theirs = _twins(seed=3)
    opt = getattr(nn, optimizer)(_groups(ours, nn.Module.named_parameters), **kwargs)
    opt_t = getattr(torch.optim, optimizer)(_groups(theirs, torch.nn.Module.named_parameters), **kwargs)
    _train_both(ours, theirs, opt, opt_t, steps=2)
    # swap: ours continues from torch's state and torch from ours; the weights stay together
    ours_state, theirs_state = opt.state_dict(), opt_t.state_dict()
    opt.load_state_dict(theirs_state)
    opt_t.load_state_dict({"state": {k: {n: torch.as_tensor(v) for n, v in entry.items()}
                                     for k, entry in ours_state["state"].items()},
                           "param_groups": ours_state["param_groups"]})
    _train_both(ours, theirs, opt, opt_t, steps=2)
    _assert_same_weights(ours, theirs, "after exchanging optimizer states")
    assert [g["lr"] for g in opt.param_groups] == [0.001 if optimizer == "AdamW" else 0.01, 0.05]


def test_optimizer_argument_errors():
    params = nn.Linear(2, 2).parameters()
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        nn.AdamW(params, lr=-1)
    with pytest.raises(ValueError, match="Invalid alpha value"):
        nn.RMSprop(params, alpha=-0.5)
    with pytest.raises(ValueError, match=r"unknown options \['betas'\]"):
        nn.SGD([{"params": params, "betas": (0.9, 0.99)}], lr=0.1)
    with pytest.raises(ValueError, match="appear more than once"):
        nn.SGD([{"params": params}, {"params": params[:1]}], lr=0.1)
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum"):
        nn.SGD(params, lr=0.1, nesterov=True)
    opt = nn.SGD([{"params": params[:1]}, {"params": params[1:]}], lr=0.1)
    with pytest.raises(ValueError, match="the state has 1 parameter groups, this optimizer has 2"):
        opt.load_state_dict(nn.SGD(params, lr=0.1).state_dict())


# --- schedules -----------------------------------------------------------------------------------------------------

def _schedulers(lib, opt, name):
    sched = lib.optim.lr_scheduler if lib is torch else lib
    if name == "step":
        return sched.StepLR(opt, step_size=4, gamma=0.5)
    if name == "cosine":
        return sched.CosineAnnealingLR(opt, T_max=7, eta_min=1e-4)  # 20 steps: down, up again, down
    if name == "linear":
        return sched.LinearLR(opt, start_factor=0.1, total_iters=6)
    if name == "warmup-cosine":
        return sched.SequentialLR(opt, [sched.LinearLR(opt, start_factor=0.01, total_iters=5),
                                        sched.CosineAnnealingLR(opt, T_max=15)], milestones=[5])
    return sched.OneCycleLR(opt, max_lr=[0.1, 0.3], total_steps=20, three_phase=True)


@pytest.mark.parametrize("name", ["step", "cosine", "linear", "warmup-cosine", "onecycle-two-groups"])
@pytest.mark.parametrize("optimizer", ["SGD", "AdamW"])
def test_schedules_give_torchs_lr_sequence_for_every_group(name, optimizer):
    extra = {"momentum": 0.9} if optimizer == "SGD" else {}
    ours_params, theirs_params = nn.Linear(3, 2).parameters(), list(torch.nn.Linear(3, 2).parameters())
    opt = getattr(nn, optimizer)([{"params": ours_params[:1]}, {"params": ours_params[1:], "lr": 0.02}], lr=0.1,
                                 **extra)
    opt_t = getattr(torch.optim, optimizer)([{"params": theirs_params[:1]}, {"params": theirs_params[1:], "lr": 0.02}],
                                            lr=0.1, **extra)
    sched, sched_t = _schedulers(nn, opt, name), _schedulers(torch, opt_t, name)
    for step in range(20):
        for group, group_t in zip(opt.param_groups, opt_t.param_groups, strict=True):
            assert group["lr"] == pytest.approx(group_t["lr"], rel=1e-12, abs=1e-16), f"step {step}"
            momentum = "momentum" if optimizer == "SGD" else "betas"
            assert np.ravel(group[momentum])[0] == pytest.approx(np.ravel(group_t[momentum])[0], rel=1e-12)
        opt_t.step()
        sched.step()
        sched_t.step()
        assert sched.get_last_lr() == pytest.approx(sched_t.get_last_lr(), rel=1e-12, abs=1e-16)


def test_sequential_schedule_resumes_from_its_state_dict():
    def make():
        opt = nn.SGD(nn.Linear(2, 2).parameters(), lr=0.1, momentum=0.9)
        return opt, _schedulers(nn, opt, "warmup-cosine")

    opt, sched = make()
    for _ in range(7):
        sched.step()
    opt2, sched2 = make()
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(sched.state_dict())
    for _ in range(5):
        sched.step()
        sched2.step()
        assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def test_schedule_argument_errors():
    opt = nn.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    with pytest.raises(ValueError, match="step_size must be a positive integer"):
        nn.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        nn.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match="number of milestone points"):
        nn.SequentialLR(opt, [nn.StepLR(opt, 2)], milestones=[3])
    with pytest.raises(TypeError, match=r"is not a cnnlab\.numpy_nn Optimizer"):
        nn.CosineAnnealingLR(torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1), T_max=3)


# --- generated configurations ---------------------------------------------------------------------------------------

@st.composite
def optimizer_configs(draw):
    name = draw(st.sampled_from(["SGD", "Adam", "AdamW", "RMSprop"]))
    kwargs = {"lr": draw(st.floats(1e-4, 0.5)), "weight_decay": draw(st.sampled_from([0.0, 1e-3, 0.1]))}
    if name == "SGD":
        kwargs["momentum"] = draw(st.sampled_from([0.0, 0.5, 0.9]))
        kwargs["nesterov"] = kwargs["momentum"] > 0 and draw(st.booleans())
        if not kwargs["nesterov"]:
            kwargs["dampening"] = draw(st.sampled_from([0.0, 0.3]))
    elif name in ("Adam", "AdamW"):
        kwargs["betas"] = (draw(st.floats(0.0, 0.99)), draw(st.floats(0.5, 0.9999)))
        kwargs["eps"] = draw(st.sampled_from([1e-8, 1e-3]))
        kwargs["amsgrad"] = draw(st.booleans())
    else:
        kwargs.update(alpha=draw(st.floats(0.5, 0.999)), momentum=draw(st.sampled_from([0.0, 0.7])),
                      centered=draw(st.booleans()), eps=draw(st.sampled_from([1e-8, 1e-2])))
    kwargs["maximize"] = draw(st.booleans())
    return name, kwargs, draw(st.integers(0, 2**16))


@settings(max_examples=60, deadline=None)
@given(optimizer_configs())
def test_generated_optimizer_configurations_follow_torch(config):
    """Five steps on given gradients (float64): the parameters and every state entry equal torch's."""
    name, kwargs, seed = config
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((3, 4))
    ours, theirs = nn.Parameter(values, dtype=np.float64), torch.nn.Parameter(torch.tensor(values))
    opt, opt_t = getattr(nn, name)([ours], **kwargs), getattr(torch.optim, name)([theirs], **kwargs)
    for _ in range(5):
        grad = rng.standard_normal((3, 4))
        ours.grad[...] = grad
        theirs.grad = torch.tensor(grad)
        opt.step()
        opt_t.step()
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    state, state_t = opt.state_dict()["state"].get(0, {}), opt_t.state_dict()["state"].get(0, {})
    state_t = {key: value for key, value in state_t.items() if value is not None}
    assert set(state) == set(state_t)
    for key, value in state_t.items():
        np.testing.assert_allclose(np.asarray(state[key]), value.numpy(), rtol=1e-10, atol=1e-12, err_msg=key)


@st.composite
def schedule_configs(draw):
    kind = draw(st.sampled_from(["StepLR", "CosineAnnealingLR", "LinearLR", "warmup+cosine"]))
    if kind == "StepLR":
        return kind, {"step_size": draw(st.integers(1, 7)), "gamma": draw(st.floats(0.05, 1.0))}
    if kind == "CosineAnnealingLR":
        return kind, {"T_max": draw(st.integers(1, 12)), "eta_min": draw(st.sampled_from([0.0, 1e-3]))}
    if kind == "LinearLR":
        return kind, {"start_factor": draw(st.floats(0.01, 1.0)), "end_factor": draw(st.floats(0.0, 1.0)),
                      "total_iters": draw(st.integers(1, 10))}
    return kind, {"warmup": draw(st.integers(1, 6)), "T_max": draw(st.integers(1, 12))}


def _make_schedule(sched_lib, opt, kind, kwargs):
    if kind != "warmup+cosine":
        return getattr(sched_lib, kind)(opt, **kwargs)
    warm = sched_lib.LinearLR(opt, start_factor=0.01, total_iters=kwargs["warmup"])
    return sched_lib.SequentialLR(opt, [warm, sched_lib.CosineAnnealingLR(opt, T_max=kwargs["T_max"])],
                                  milestones=[kwargs["warmup"]])


@settings(max_examples=60, deadline=None)
@given(schedule_configs(), st.floats(1e-3, 1.0))
def test_generated_schedules_give_torchs_sequence(config, lr):
    kind, kwargs = config
    opt = nn.SGD(nn.Linear(2, 2).parameters(), lr=lr)
    opt_t = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=lr)
    sched, sched_t = _make_schedule(nn, opt, kind, kwargs), _make_schedule(torch.optim.lr_scheduler, opt_t, kind,
                                                                            kwargs)
    for step in range(25):
        assert opt.param_groups[0]["lr"] == pytest.approx(opt_t.param_groups[0]["lr"], rel=1e-12, abs=1e-15), step
        opt_t.step()
        sched.step()
        sched_t.step()
