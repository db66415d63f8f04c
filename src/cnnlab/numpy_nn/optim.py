"""Optimizers following ``torch.optim`` step for step: ``SGD``, ``Adam``, ``AdamW``, ``RMSprop``, with parameter
groups (per-group options) as torch has them.

The update rules are torch's single-tensor implementations, computed in the parameters' dtype (float32); ``g`` is
the gradient (negated with ``maximize=True``), ``p`` the parameter, ``t`` the step count:

- SGD: ``g = g + wd * p``; with momentum ``buf = g`` on the first step, then ``buf = m * buf + (1 - dampening) * g``;
  ``g = g + m * buf`` (Nesterov) or ``g = buf``; ``p -= lr * g``.
- Adam: ``g = g + wd * p``; ``m = m + (1 - b1) * (g - m)``; ``v = b2 * v + (1 - b2) * g^2``;
  ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`` (``amsgrad`` uses the running max of ``v``).
- AdamW: Adam with *decoupled* weight decay: ``p *= 1 - lr * wd`` first, and no ``wd * p`` in the gradient.
- RMSprop: ``g = g + wd * p``; ``v = alpha * v + (1 - alpha) * g^2``; ``a = sqrt(v - gbar^2) + eps`` with
  ``gbar = gbar + (1 - alpha) * (g - gbar)`` (``centered``) or ``a = sqrt(v) + eps``; with momentum
  ``buf = m * buf + g / a``, ``p -= lr * buf``, else ``p -= lr * g / a``.

``params`` is an iterable of :class:`Parameter` s or of dicts ``{"params": [...], "lr": ...}`` (parameter groups; a
group's options override the constructor's defaults). Hyper-parameters live in ``optimizer.param_groups[i]``
(schedulers change them there). ``state_dict()`` uses torch's layout (``{'state': {index: {...}},
'param_groups': [{..., 'params': [indices]}]}``) and state names (``momentum_buffer``, ``step``, ``exp_avg``,
``exp_avg_sq``, ``max_exp_avg_sq``, ``square_avg``, ``grad_avg``), so the two load each other's state.

The learning-rate schedules are in :mod:`cnnlab.numpy_nn.lr_scheduler`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from cnnlab.numpy_nn.module import Parameter, _to_numpy

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "RMSprop"]

ParamGroup = dict[str, Any]


def _check_number(name: str, value: Any, what: str, low: float = 0.0) -> None:
    """torch's wording: ``ValueError("Invalid learning rate: -1")``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= low:
        raise ValueError(f"{name}: Invalid {what}: {value}")


class Optimizer:
    """Base class: the parameter groups, the per-parameter state (keyed by the :class:`Parameter`, as torch keys it
    by tensor) and torch's ``state_dict`` layout. Subclasses define ``step`` and validate their options."""

    def __init__(self, params: Iterable[Parameter] | Iterable[ParamGroup], defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        if isinstance(params, Parameter):
            raise TypeError(f"{name}: params must be an iterable of Parameters (e.g. model.parameters()) or of "
                            f"parameter groups (dicts), got a single Parameter")
        self.defaults = dict(defaults)
        self._check_options(self.defaults)
        self.param_groups: list[ParamGroup] = []
        self.state: dict[Parameter, dict[str, Any]] = {}
        items = list(params)
        if not items:
            raise ValueError(f"{name}: optimizer got an empty parameter list")
        groups = items if all(isinstance(item, dict) for item in items) else [{"params": items}]
        for group in groups:
            self.add_param_group(group)  # type: ignore[arg-type]

    def _check_options(self, options: dict[str, Any]) -> None:
        """``ValueError`` (torch's wording) for an invalid hyper-parameter of a group or the defaults."""
        if "lr" in options:
            _check_number(type(self).__name__, options["lr"], "learning rate")
        if "weight_decay" in options:
            _check_number(type(self).__name__, options["weight_decay"], "weight_decay value")

    def add_param_group(self, param_group: ParamGroup) -> None:
        """Add a group ``{"params": [...], option: value, ...}``; options it does not set take the defaults."""
        name = type(self).__name__
        if not isinstance(param_group, dict) or "params" not in param_group:
            raise TypeError(f"{name}: a parameter group must be a dict with a 'params' entry, got {param_group!r:.80}")
        params = param_group["params"]
        params = [params] if isinstance(params, Parameter) else list(params)
        for index, param in enumerate(params):
            if not isinstance(param, Parameter):
                raise TypeError(f"{name}: params[{index}] is a {type(param).__name__}, expected a cnnlab.numpy_nn "
                                f"Parameter (a torch model needs torch.optim)")
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if len({id(p) for p in params}) != len(params) or seen & {id(p) for p in params}:
            raise ValueError(f"{name}: some parameters appear more than once")
        unknown = sorted(set(param_group) - set(self.defaults) - {"params"})
        if unknown:
            raise ValueError(f"{name}: unknown options {unknown} in a parameter group; the options are "
                             f"{sorted(self.defaults)}")
        group = {**self.defaults, **param_group, "params": params}
        self._check_options(group)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = False) -> None:
        """Zero every parameter's gradient (``set_to_none`` is accepted for torch compatibility; grads stay arrays)."""
        for group in self.param_groups:
            for param in group["params"]:
                param.zero_grad()

    def step(self) -> None:
        raise NotImplementedError

    def _state(self, param: Parameter) -> dict[str, Any]:
        return self.state.setdefault(param, {})

    def state_dict(self) -> dict[str, Any]:
        """``{'state': {index: {name: copy}}, 'param_groups': [{options..., 'params': [indices]}]}`` (indices count
        the parameters through the groups in order, as torch)."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {key: value for key, value in group.items() if key != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {index[id(param)]: {key: (value.copy() if isinstance(value, np.ndarray) else value)
                                    for key, value in entry.items()}
                 for param, entry in self.state.items() if id(param) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the groups' options and the state (arrays or torch tensors) of a ``state_dict`` -- this
        engine's or torch's -- checking group sizes and state shapes; nothing changes unless all of it fits."""
        name = type(self).__name__
        saved_groups = state_dict.get("param_groups")
        if not isinstance(saved_groups, list) or len(saved_groups) != len(self.param_groups):
            count = len(saved_groups) if isinstance(saved_groups, list) else saved_groups
            raise ValueError(f"{name}.load_state_dict: the state has {count} parameter groups, this optimizer has "
                             f"{len(self.param_groups)}")
        new_groups: list[ParamGroup] = []
        new_state: dict[Parameter, dict[str, Any]] = {}
        saved_state = state_dict.get("state", {})
        for position, (group, saved) in enumerate(zip(self.param_groups, saved_groups, strict=True)):
            keys = list(saved.get("params", []))
            if len(keys) != len(group["params"]):
                where = f"group {position} of " if len(self.param_groups) > 1 else ""
                raise ValueError(f"{name}.load_state_dict: {where}the state is for {len(keys)} parameters, this "
                                 f"optimizer has {len(group['params'])}")
            options = {key: _plain(value) for key, value in saved.items() if key != "params"}
            new_groups.append({**options, "params": group["params"]})
            for key, param in zip(keys, group["params"], strict=True):
                entry = saved_state.get(key)
                if entry is not None:
                    new_state[param] = self._restore(entry, param, key)
        self.param_groups = new_groups
        self.state = new_state

    def _restore(self, entry: dict[str, Any], param: Parameter, key: Any) -> dict[str, Any]:
        restored: dict[str, Any] = {}
        for item, value in entry.items():
            if item == "step":
                restored[item] = float(_to_numpy(value, item))
                continue
            if value is None:
                restored[item] = None
                continue
            array = _to_numpy(value, f"state[{key}][{item}]")
            if array.shape != param.data.shape:
                raise ValueError(f"{type(self).__name__}.load_state_dict: state {item!r} of parameter {key} has shape "
                                 f"{array.shape}, the parameter has shape {param.data.shape}")
            restored[item] = array.astype(param.data.dtype, copy=True)
        return restored

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for index, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {index}")
            lines += [f"    {key}: {value}" for key, value in sorted(group.items()) if key != "params"]
        return "\n".join([*lines, ")"])


def _plain(value: Any) -> Any:
    """An option of a loaded group as a plain Python value (torch tensors -> floats, lists of numbers -> tuples)."""
    if hasattr(value, "detach"):
        return float(value.detach().cpu())
    if isinstance(value, list) and all(isinstance(v, int | float) for v in value):
        return tuple(float(v) for v in value)
    return value


def _gradient(param: Parameter, group: ParamGroup) -> np.ndarray:
    """The gradient the rules start from: ``-grad`` for ``maximize``, plus ``wd * p`` for L2 weight decay."""
    grad = -param.grad if group.get("maximize") else param.grad
    if group["weight_decay"] != 0 and not group.get("decoupled_weight_decay", False):
        grad = grad + group["weight_decay"] * param.data
    return grad


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, dampening and L2 weight decay (as torch)."""

    def __init__(self, params: Iterable[Parameter] | Iterable[ParamGroup], lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize})

    def _check_options(self, options: dict[str, Any]) -> None:
        super()._check_options(options)
        _check_number("SGD", options["momentum"], "momentum value")
        if options["nesterov"] and (options["momentum"] <= 0 or options["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")

    def step(self) -> None:
        for group in self.param_groups:
            lr, momentum = group["lr"], group["momentum"]
            for param in group["params"]:
                grad = _gradient(param, group)
                if momentum != 0:
                    state = self._state(param)
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = grad.copy()
                    else:
                        buf *= momentum
                        buf += (1.0 - group["dampening"]) * grad
                    grad = grad + momentum * buf if group["nesterov"] else buf
                param.data -= lr * grad


class Adam(Optimizer):
    """Adam (Kingma & Ba) with torch's bias correction, ``eps`` placement, ``amsgrad`` and weight decay -- L2 (added
    to the gradient) by default, decoupled (AdamW's) with ``decoupled_weight_decay=True``."""

    def __init__(self, params: Iterable[Parameter] | Iterable[ParamGroup], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 amsgrad: bool = False, *, maximize: bool = False, decoupled_weight_decay: bool = False) -> None:
        super().__init__(params, {"lr": lr, "betas": (float(betas[0]), float(betas[1])), "eps": eps,
                                  "weight_decay": weight_decay, "amsgrad": amsgrad, "maximize": maximize,
                                  "decoupled_weight_decay": decoupled_weight_decay})

    def _check_options(self, options: dict[str, Any]) -> None:
        super()._check_options(options)
        name = type(self).__name__
        _check_number(name, options["eps"], "epsilon value")
        for index, beta in enumerate(options["betas"]):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name}: Invalid beta parameter at index {index}: {beta}")

    def step(self) -> None:
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            for param in group["params"]:
                if group["decoupled_weight_decay"] and group["weight_decay"] != 0:
                    param.data *= 1.0 - lr * group["weight_decay"]
                grad = _gradient(param, group)
                state = self._state(param)
                if not state:
                    state["step"] = 0.0
                    state["exp_avg"] = np.zeros_like(param.data)
                    state["exp_avg_sq"] = np.zeros_like(param.data)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = np.zeros_like(param.data)
                state["step"] += 1
                step = state["step"]
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg += (1.0 - beta1) * (grad - exp_avg)
                exp_avg_sq *= beta2
                exp_avg_sq += (1.0 - beta2) * (grad * grad)
                step_size = lr / (1.0 - beta1**step)
                bias_correction2_sqrt = (1.0 - beta2**step) ** 0.5
                second = exp_avg_sq
                if group["amsgrad"]:
                    np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
                    second = state["max_exp_avg_sq"]
                denom = np.sqrt(second) / bias_correction2_sqrt + eps
                update = exp_avg / denom
                update *= -step_size
                param.data += update


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter; torch's ``AdamW``, default ``weight_decay=1e-2``):
    the parameters shrink by ``lr * weight_decay`` each step instead of the decay entering the moments."""

    def __init__(self, params: Iterable[Parameter] | Iterable[ParamGroup], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 amsgrad: bool = False, *, maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """As :meth:`Optimizer.load_state_dict`; the weight decay stays decoupled whatever the state says (as
        torch's AdamW)."""
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True


class RMSprop(Optimizer):
    """RMSprop (Hinton) as torch's: a running mean of squared gradients (``alpha``) scales each step; optionally
    ``centered`` (divided by an estimate of the variance instead) and with ``momentum``."""

    def __init__(self, params: Iterable[Parameter] | Iterable[ParamGroup], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
                                  "momentum": momentum, "centered": centered, "maximize": maximize})

    def _check_options(self, options: dict[str, Any]) -> None:
        super()._check_options(options)
        _check_number("RMSprop", options["eps"], "epsilon value")
        _check_number("RMSprop", options["momentum"], "momentum value")
        _check_number("RMSprop", options["alpha"], "alpha value")

    def step(self) -> None:
        for group in self.param_groups:
            lr, alpha, momentum = group["lr"], group["alpha"], group["momentum"]
            for param in group["params"]:
                state = self._state(param)
                if not state:
                    state["step"] = 0.0
                    state["square_avg"] = np.zeros_like(param.data)
                    if momentum > 0:
                        state["momentum_buffer"] = np.zeros_like(param.data)
                    if group["centered"]:
                        state["grad_avg"] = np.zeros_like(param.data)
                state["step"] += 1
                grad = _gradient(param, group)
                square_avg = state["square_avg"]
                square_avg *= alpha
                square_avg += (1.0 - alpha) * (grad * grad)
                if group["centered"]:
                    grad_avg = state["grad_avg"]
                    grad_avg += (1.0 - alpha) * (grad - grad_avg)
                    avg = np.sqrt(square_avg - grad_avg * grad_avg)
                else:
                    avg = np.sqrt(square_avg)
                avg += group["eps"]
                if momentum > 0:
                    buf = state["momentum_buffer"]
                    buf *= momentum
                    buf += grad / avg
                    param.data -= lr * buf
                else:
                    param.data -= lr * (grad / avg)
