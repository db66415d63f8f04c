"""Optimizers and the one-cycle learning-rate schedule, following ``torch.optim`` step for step.

The update rules are torch's (single-tensor implementations), computed in the parameters' dtype (float32):

- SGD: ``g = grad + wd * p``; with momentum ``buf = g`` on the first step, then ``buf = m * buf + (1 - dampening) * g``;
  ``g = g + m * buf`` (Nesterov) or ``g = buf``; ``p -= lr * g``.
- Adam: ``g = grad + wd * p``; ``m = m + (1 - b1) * (g - m)``; ``v = b2 * v + (1 - b2) * g^2``;
  ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`` (``amsgrad`` uses the running max of ``v``).

``state_dict()`` uses torch's layout (``{'state': {index: {...}}, 'param_groups': [{..., 'params': [...]}]}``) and
state names (``momentum_buffer``, ``step``, ``exp_avg``, ``exp_avg_sq``), so checkpoints can even be exchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from cnnlab.numpy_nn.module import Parameter, _to_numpy

__all__ = ["SGD", "Adam", "OneCycleLR", "Optimizer"]


class Optimizer:
    """Base class: holds the parameters, their per-parameter state and the hyper-parameters (attributes)."""

    #: hyper-parameter names saved in ``state_dict()['param_groups'][0]`` (besides ``params``)
    hyperparameters: tuple[str, ...] = ("lr",)

    def __init__(self, params: Iterable[Parameter], lr: float) -> None:
        name = type(self).__name__
        if isinstance(params, Parameter):
            raise TypeError(f"{name}: params must be an iterable of Parameters (e.g. model.parameters()), got a single "
                            f"Parameter")
        self.params: list[Parameter] = list(params)
        if not self.params:
            raise ValueError(f"{name}: optimizer got an empty parameter list")
        for index, param in enumerate(self.params):
            if not isinstance(param, Parameter):
                raise TypeError(f"{name}: params[{index}] is a {type(param).__name__}, expected a "
                                f"cnnlab.numpy_nn Parameter (a torch model needs torch.optim)")
        if len({id(p) for p in self.params}) != len(self.params):
            raise ValueError(f"{name}: some parameters appear more than once")
        if not lr >= 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        self.lr = float(lr)
        self.state: dict[int, dict[str, Any]] = {}

    @property
    def defaults(self) -> dict[str, Any]:
        """Hyper-parameters by name (as ``torch.optim.Optimizer.defaults``)."""
        return {name: getattr(self, name) for name in self.hyperparameters}

    def zero_grad(self, set_to_none: bool = False) -> None:
        """Zero every parameter's gradient (``set_to_none`` is accepted for torch compatibility; grads stay arrays)."""
        for param in self.params:
            param.zero_grad()

    def step(self) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """``{'state': {index: {name: copy}}, 'param_groups': [{hyper-parameters..., 'params': [0, 1, ...]}]}``."""
        state = {index: {key: (value.copy() if isinstance(value, np.ndarray) else value)
                         for key, value in entry.items()} for index, entry in self.state.items()}
        group = {name: getattr(self, name) for name in self.hyperparameters}
        group["params"] = list(range(len(self.params)))
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyper-parameters and state (arrays or torch tensors), checking counts and shapes."""
        name = type(self).__name__
        groups = state_dict.get("param_groups")
        if not isinstance(groups, list) or len(groups) != 1:
            raise ValueError(f"{name}.load_state_dict: expected exactly one param group, got {groups!r:.200}")
        group = groups[0]
        if len(group.get("params", [])) != len(self.params):
            raise ValueError(f"{name}.load_state_dict: the state is for {len(group.get('params', []))} parameters, "
                             f"this optimizer has {len(self.params)}")
        new_state: dict[int, dict[str, Any]] = {}
        for position, key in enumerate(group["params"]):
            entry = state_dict.get("state", {}).get(key)
            if entry is None:
                continue
            param = self.params[position]
            restored: dict[str, Any] = {}
            for item, value in entry.items():
                if item == "step":
                    restored[item] = float(_to_numpy(value, item))
                    continue
                array = _to_numpy(value, f"state[{key}][{item}]")
                if array.shape != param.data.shape:
                    raise ValueError(f"{name}.load_state_dict: state {item!r} of parameter {position} has shape "
                                     f"{array.shape}, the parameter has shape {param.data.shape}")
                restored[item] = array.astype(param.data.dtype, copy=True)
            new_state[position] = restored
        for hyper in self.hyperparameters:
            if hyper in group:
                value = group[hyper]
                setattr(self, hyper, tuple(float(v) for v in value) if isinstance(value, tuple | list) else value)
        self.state = new_state

    def __repr__(self) -> str:
        settings = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.hyperparameters)
        return f"{type(self).__name__}({len(self.params)} parameters, {settings})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, dampening and L2 weight decay (as torch)."""

    hyperparameters = ("lr", "momentum", "dampening", "nesterov", "weight_decay")

    def __init__(self, params: Iterable[Parameter], lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        self.momentum, self.dampening = float(momentum), float(dampening)
        self.nesterov, self.weight_decay = bool(nesterov), float(weight_decay)

    def step(self) -> None:
        lr, momentum, weight_decay = self.lr, self.momentum, self.weight_decay
        for index, param in enumerate(self.params):
            grad = param.grad
            if weight_decay != 0:
                grad = grad + weight_decay * param.data
            if momentum != 0:
                state = self.state.setdefault(index, {})
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = grad.copy()
                else:
                    buf *= momentum
                    buf += (1.0 - self.dampening) * grad
                grad = grad + momentum * buf if self.nesterov else buf
            param.data -= lr * grad


class Adam(Optimizer):
    """Adam (Kingma & Ba) with torch's bias correction, ``eps`` placement, L2 ``weight_decay`` and ``amsgrad``."""

    hyperparameters = ("lr", "betas", "eps", "weight_decay", "amsgrad")

    def __init__(self, params: Iterable[Parameter], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        super().__init__(params, lr)
        if not eps >= 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        for index, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {index}: {beta}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps, self.weight_decay, self.amsgrad = float(eps), float(weight_decay), bool(amsgrad)

    def step(self) -> None:
        beta1, beta2 = self.betas
        for index, param in enumerate(self.params):
            grad = param.grad
            if self.weight_decay != 0:
                grad = grad + self.weight_decay * param.data
            state = self.state.setdefault(index, {})
            if not state:
                state["step"] = 0.0
                state["exp_avg"] = np.zeros_like(param.data)
                state["exp_avg_sq"] = np.zeros_like(param.data)
                if self.amsgrad:
                    state["max_exp_avg_sq"] = np.zeros_like(param.data)
            state["step"] += 1
            step = state["step"]
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            exp_avg += (1.0 - beta1) * (grad - exp_avg)
            exp_avg_sq *= beta2
            exp_avg_sq += (1.0 - beta2) * (grad * grad)
            step_size = self.lr / (1.0 - beta1**step)
            bias_correction2_sqrt = (1.0 - beta2**step) ** 0.5
            second = exp_avg_sq
            if self.amsgrad:
                np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
                second = state["max_exp_avg_sq"]
            denom = np.sqrt(second) / bias_correction2_sqrt + self.eps
            update = exp_avg / denom
            update *= -step_size
            param.data += update


class OneCycleLR:
    """The 1cycle policy (Smith & Topin), the same lr (and momentum) sequence as
    ``torch.optim.lr_scheduler.OneCycleLR``: warm up from ``max_lr / div_factor`` to ``max_lr`` over
    ``pct_start`` of the steps, then anneal to ``max_lr / div_factor / final_div_factor`` (cosine or linear).

    Call :meth:`step` once per batch, after ``optimizer.step()``. With ``cycle_momentum=True`` (torch's default) the
    momentum (SGD) or ``beta1`` (Adam) cycles inversely between ``max_momentum`` and ``base_momentum``, exactly as
    torch does -- note that, as in torch, this switches momentum on even for ``SGD(momentum=0)``.
    """

    def __init__(self, optimizer: Optimizer, max_lr: float, total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum: float = 0.85, max_momentum: float = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not a cnnlab.numpy_nn Optimizer")
        self.optimizer = optimizer
        if total_steps is not None:
            if not isinstance(total_steps, int) or total_steps <= 0:
                raise ValueError(f"Expected positive integer total_steps, but got {total_steps}")
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            if not isinstance(epochs, int) or epochs <= 0:
                raise ValueError(f"Expected positive integer epochs, but got {epochs}")
            if not isinstance(steps_per_epoch, int) or steps_per_epoch <= 0:
                raise ValueError(f"Expected positive integer steps_per_epoch, but got {steps_per_epoch}")
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        self.anneal_strategy = anneal_strategy
        self.initial_lr = max_lr / div_factor
        self.max_lr = float(max_lr)
        self.min_lr = self.initial_lr / final_div_factor
        total = self.total_steps
        if three_phase:
            self.phases = [
                (float(pct_start * total) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (float(2 * pct_start * total) - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                (total - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
            ]
        else:
            self.phases = [
                (float(pct_start * total) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (total - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
            ]
        self.cycle_momentum = cycle_momentum
        self.base_momentum, self.max_momentum = float(base_momentum), float(max_momentum)
        if cycle_momentum:
            if not (hasattr(optimizer, "momentum") or hasattr(optimizer, "betas")):
                raise ValueError("optimizer must support momentum or beta1 with `cycle_momentum` option enabled")
            self.use_beta1 = hasattr(optimizer, "betas")
            self._set_momentum(self.max_momentum)
        self.last_epoch = -1
        self._last_lr: list[float] = []
        self.step()

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _set_momentum(self, value: float) -> None:
        if self.use_beta1:
            self.optimizer.betas = (value, *self.optimizer.betas[1:])  # type: ignore[attr-defined]
        else:
            self.optimizer.momentum = value  # type: ignore[attr-defined]

    def get_lr(self) -> list[float]:
        """The lr for the current step (``last_epoch``); cycles the momentum as a side effect (as torch)."""
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"Tried to step {step} times. The specified number of total steps is {self.total_steps}")
        start_step = 0.0
        values = {"initial_lr": self.initial_lr, "max_lr": self.max_lr, "min_lr": self.min_lr,
                  "base_momentum": self.base_momentum, "max_momentum": self.max_momentum}
        for index, (end_step, start_lr, end_lr, start_m, end_m) in enumerate(self.phases):
            if step <= end_step or index == len(self.phases) - 1:
                pct = (step - start_step) / (end_step - start_step)
                lr = self._anneal(values[start_lr], values[end_lr], pct)
                if self.cycle_momentum:
                    self._set_momentum(self._anneal(values[start_m], values[end_m], pct))
                return [lr]
            start_step = end_step
        raise AssertionError("unreachable")  # pragma: no cover

    def step(self) -> None:
        """Advance one step and set the optimizer's lr (and momentum)."""
        self.last_epoch += 1
        lr = self.get_lr()[0]
        self.optimizer.lr = lr
        self._last_lr = [lr]

    def get_last_lr(self) -> list[float]:
        """The lr set by the last :meth:`step` (a one-element list, as torch)."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)
