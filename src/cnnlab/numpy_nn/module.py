"""The engine's building blocks: :class:`Parameter`, :class:`Module` and :class:`Sequential`.

The contract (the same for every layer, so a naive and a fast layer can be swapped, diffed and timed):

- ``y = module(x)`` runs ``forward(x)`` and remembers what the backward pass needs;
- ``dx = module.backward(dy)`` takes dL/dy of the *most recent* forward call, returns dL/dx and **adds**
  dL/dparameter to each parameter's ``.grad`` (gradients accumulate as in torch; ``zero_grad()`` clears them);
- ``module.backward(dy, need_input_grad=False)`` does the same but returns ``None`` and may skip computing dL/dx
  (nobody needs the gradient of the training data); every module has this one signature
  ``backward(grad_out, *, need_input_grad=True) -> dL/dx | None``;
- parameters carry torch's names and shapes, so ``state_dict()`` / ``load_state_dict()`` move weights between
  this engine and ``torch.nn`` in both directions (:func:`to_torch_state_dict`, :func:`to_numpy_state_dict`);
- *buffers* are arrays that are state but not trained (BatchNorm's ``running_mean``, ``running_var``,
  ``num_batches_tracked``): registered with :meth:`Module.register_buffer` and, unless ``persistent=False``, saved
  in ``state_dict`` after the module's parameters, as torch does.

Containers: :class:`Sequential` (a chain) and :class:`Residual` (a block plus a shortcut, summed: the skip
connection of a ResNet).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

DEFAULT_DTYPE = np.float32


class Parameter:
    """A trainable array: ``.data`` (float32 unless ``dtype`` says otherwise) and ``.grad`` of the same shape.

    ``.grad`` starts at zero and accumulates over backward calls until :meth:`zero_grad`.
    """

    __slots__ = ("data", "grad")

    def __init__(self, data: Any, dtype: Any = None) -> None:
        if hasattr(data, "detach"):  # a torch tensor
            data = data.detach().cpu().numpy()
        raw = np.asarray(data)
        target = np.dtype(dtype or DEFAULT_DTYPE)
        if not (np.issubdtype(raw.dtype, np.number) and np.issubdtype(target, np.floating)):
            raise TypeError(f"Parameter: data must be numeric and stored as floating point, got data of dtype "
                            f"{raw.dtype} and dtype={target}")
        array = np.array(raw, dtype=target, copy=True)
        self.data: np.ndarray = array
        self.grad: np.ndarray = np.zeros_like(array)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return int(self.data.size)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        """Number of scalars (as ``torch.Tensor.numel``)."""
        return int(self.data.size)

    def zero_grad(self) -> None:
        """Set the accumulated gradient to zero (in place)."""
        if self.grad.shape != self.data.shape or self.grad.dtype != self.data.dtype:
            self.grad = np.zeros_like(self.data)
        else:
            self.grad.fill(0)

    def astype_(self, dtype: Any) -> Parameter:
        """Convert data and gradient to ``dtype`` in place (used by :meth:`Module.to`)."""
        self.data = self.data.astype(dtype, copy=False)
        self.grad = self.grad.astype(dtype, copy=False)
        return self

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class _IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]


def _to_numpy(value: Any, key: str) -> np.ndarray:
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor, without importing torch
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"state_dict entry {key!r}: expected a numeric array, got dtype {array.dtype}")
    return array


class Module:
    """Base class of every layer and network of the NumPy engine (modelled on ``torch.nn.Module``).

    Subclasses call ``super().__init__()``, assign :class:`Parameter` s and sub-modules as attributes (they are
    registered under those names, which become the ``state_dict`` keys), and implement :meth:`forward` and
    :meth:`backward`.
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_name", None)
        object.__setattr__(self, "training", True)

    # ----------------------------------------------------------------------------------------------------------
    # registration
    def _registry(self, kind: str) -> OrderedDict:
        registry = self.__dict__.get(kind)
        if registry is None:
            raise AttributeError(
                f"cannot assign parameters or sub-modules before {type(self).__name__}.__init__() has called "
                f"super().__init__()"
            )
        return registry

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, Parameter):
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            self.add_module(name, value)
        else:
            params = self.__dict__.get("_parameters")
            modules = self.__dict__.get("_modules")
            buffers = self.__dict__.get("_buffers")
            if buffers is not None and name in buffers:
                if value is not None and not isinstance(value, np.ndarray):
                    raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} (a NumPy array or None "
                                    f"is required)")
                buffers[name] = value
            elif params is not None and name in params:
                if value is not None:
                    raise TypeError(f"cannot assign {type(value).__name__} as parameter {name!r} "
                                    f"(a Parameter or None is required)")
                params[name] = None
            elif modules is not None and name in modules:
                if value is not None:
                    raise TypeError(f"cannot assign {type(value).__name__} as child module {name!r} "
                                    f"(a Module or None is required)")
                modules[name] = None
            else:
                object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: parameters, buffers and modules live in the registries.
        for kind in ("_parameters", "_buffers", "_modules"):
            registry = self.__dict__.get(kind)
            if registry is not None and name in registry:
                return registry[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        self.__dict__.get("_non_persistent_buffers", set()).discard(name)
        for kind in ("_parameters", "_buffers", "_modules"):
            registry = self.__dict__.get(kind)
            if registry is not None and name in registry:
                del registry[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or ``None``, e.g. ``bias=False``) under ``name``."""
        params = self._registry("_parameters")
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"parameter name must be a non-empty string without '.', got {name!r}")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} as parameter {name!r} (Parameter or None)")
        self.__dict__.pop(name, None)
        self._registry("_modules").pop(name, None)
        self._registry("_buffers").pop(name, None)
        params[name] = param

    def register_buffer(self, name: str, tensor: np.ndarray | None, persistent: bool = True) -> None:
        """Register the array ``tensor`` (or ``None``: declared but absent) as buffer ``name``: state that is not
        trained. Persistent buffers are saved in ``state_dict`` under ``prefix.name`` (after the parameters);
        ``persistent=False`` keeps one out of it. Assigning ``module.name = array`` later replaces it."""
        buffers = self._registry("_buffers")
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"buffer name must be a non-empty string without '.', got {name!r}")
        if tensor is not None and not isinstance(tensor, np.ndarray):
            raise TypeError(f"cannot assign {type(tensor).__name__} as buffer {name!r} (a NumPy array or None)")
        self.__dict__.pop(name, None)
        self._registry("_parameters").pop(name, None)
        self._registry("_modules").pop(name, None)
        buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register the sub-module ``module`` under ``name`` (its ``state_dict`` keys get the prefix ``name.``)."""
        modules = self._registry("_modules")
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"module name must be a non-empty string without '.', got {name!r}")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a cnnlab.numpy_nn Module (child {name!r})")
        self.__dict__.pop(name, None)
        self._registry("_parameters").pop(name, None)
        self._registry("_buffers").pop(name, None)
        modules[name] = module
        if module is not None:
            object.__setattr__(module, "_name", name)

    # ----------------------------------------------------------------------------------------------------------
    # the forward/backward contract
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def backward(self, grad_out: Any, *, need_input_grad: bool = True) -> np.ndarray | None:
        """Add dL/dparameter to each parameter's ``.grad``; return dL/dinput, or ``None`` (and possibly skip
        computing it) if ``need_input_grad`` is false."""
        raise NotImplementedError(f"{type(self).__name__} does not implement backward()")

    def _label(self) -> str:
        """How error messages name this layer, e.g. ``conv2: Conv2d(8, 16, kernel_size=(5, 5), stride=(1, 1))``."""
        text = f"{type(self).__name__}({self.extra_repr()})"
        name = self.__dict__.get("_name")
        return f"{name}: {text}" if name is not None else text

    # ----------------------------------------------------------------------------------------------------------
    # traversal
    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(name, Parameter)`` pairs with torch's dotted names (``conv1.weight``)."""
        seen: set[int] = set()
        modules = self.named_modules(prefix=prefix) if recurse else iter([(prefix, self)])
        for module_prefix, module in modules:
            for name, param in module._parameters.items():
                if param is None or (remove_duplicate and id(param) in seen):
                    continue
                seen.add(id(param))
                yield (f"{module_prefix}.{name}" if module_prefix else name), param

    def parameters(self, recurse: bool = True) -> list[Parameter]:
        """All trainable parameters (each once), in registration order."""
        return [p for _, p in self.named_parameters(recurse=recurse)]

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, np.ndarray]]:
        """``(name, array)`` pairs of every buffer that is not ``None`` (persistent or not), with dotted names."""
        modules = self.named_modules(prefix=prefix) if recurse else iter([(prefix, self)])
        for module_prefix, module in modules:
            for name, buffer in module._buffers.items():
                if buffer is not None:
                    yield (f"{module_prefix}.{name}" if module_prefix else name), buffer

    def buffers(self, recurse: bool = True) -> list[np.ndarray]:
        """All buffers that are not ``None``, in registration order."""
        return [b for _, b in self.named_buffers(recurse=recurse)]

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """``(name, module)`` of the direct sub-modules."""
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and all sub-modules, depth first, with dotted names (``''`` for this one)."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{child_name}" if name else child_name, child)
                        for child_name, child in module.named_children()]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    # ----------------------------------------------------------------------------------------------------------
    # state
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active, batch norm on batch statistics, updating its running ones) when ``mode``
        is true, else evaluation mode; returns ``self``."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode (dropout off, batch norm on its running statistics); returns ``self``."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Set every parameter's gradient to zero."""
        for param in self.parameters():
            param.zero_grad()

    def to(self, dtype: Any) -> Module:
        """Convert every parameter (data and gradient) and every floating-point buffer to floating ``dtype`` in
        place (integer buffers such as ``num_batches_tracked`` stay as they are, as in torch); returns ``self``."""
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            raise TypeError(f"{type(self).__name__}.to: dtype must be floating point, got {dtype}")
        for param in self.parameters():
            param.astype_(dtype)
        for module in self.modules():
            for name, buffer in module._buffers.items():
                if buffer is not None and np.issubdtype(buffer.dtype, np.floating):
                    module._buffers[name] = buffer.astype(dtype, copy=False)
        return self

    def float(self) -> Module:
        """Parameters to float32 (the engine's default)."""
        return self.to(np.float32)

    def double(self) -> Module:
        """Parameters to float64 (gradient checks)."""
        return self.to(np.float64)

    def _state_items(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        """``(key, array)`` of everything ``state_dict`` holds, in torch's order: module by module (depth first),
        its parameters, then its persistent buffers. The arrays are the module's own (loading writes into them)."""
        for module_prefix, module in self.named_modules(prefix=prefix):
            dot = f"{module_prefix}." if module_prefix else ""
            for name, param in module._parameters.items():
                if param is not None:
                    yield dot + name, param.data
            for name, buffer in module._buffers.items():
                if buffer is not None and name not in module._non_persistent_buffers:
                    yield dot + name, buffer

    def state_dict(self, prefix: str = "") -> OrderedDict[str, np.ndarray]:
        """Copies of all parameters and persistent buffers under torch's keys and shapes (``conv1.weight`` ->
        (out, in, kh, kw), ``bn1.running_mean`` -> (C,), ``bn1.num_batches_tracked`` -> () int64)."""
        return OrderedDict((name, array.copy()) for name, array in self._state_items(prefix))

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> _IncompatibleKeys:
        """Copy values (NumPy arrays or torch tensors) into the parameters and buffers, converting to their dtype.

        ``strict=True``: missing or unexpected keys raise ``RuntimeError`` listing them. A wrong shape raises
        ``RuntimeError`` naming the key, the expected and the received shape, whatever ``strict`` says. Nothing is
        changed unless every entry fits. Returns ``(missing_keys, unexpected_keys)`` like torch.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict: expected a mapping of names to arrays, got {type(state_dict).__name__}")
        own = OrderedDict(self._state_items())
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        errors = []
        if strict and unexpected:
            errors.append("Unexpected key(s) in state_dict: " + ", ".join(repr(k) for k in unexpected) + ".")
        if strict and missing:
            errors.append("Missing key(s) in state_dict: " + ", ".join(repr(k) for k in missing) + ".")
        values = {}
        for key, array in own.items():
            if key not in state_dict:
                continue
            value = _to_numpy(state_dict[key], key)
            if value.shape != array.shape:
                errors.append(f"size mismatch for {key}: copying a param with shape {value.shape} from checkpoint, "
                              f"the shape in current model is {array.shape}.")
            values[key] = value
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        for key, value in values.items():
            np.copyto(own[key], value, casting="unsafe")
        return _IncompatibleKeys(missing, unexpected)

    # ----------------------------------------------------------------------------------------------------------
    # printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        if self.extra_repr():
            lines.append("  " + self.extra_repr())
        for name, child in children:
            child_text = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_text}")
        lines.append(")")
        return "\n".join(lines)


class Sequential(Module):
    """A chain of modules: ``Sequential(m0, m1, ...)`` (keys ``0.weight``, ...) or ``Sequential(OrderedDict)``.

    ``forward`` feeds each module's output to the next; ``backward`` runs the chain in reverse.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], Mapping):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(args):
                self.add_module(str(index), module)
        for name, module in self._modules.items():
            if module is None:
                raise TypeError(f"Sequential: child {name!r} is None")

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x

    def backward(self, grad_out: Any, *, need_input_grad: bool = True) -> np.ndarray | None:
        """Backward through the chain in reverse order; returns dL/dinput.

        ``need_input_grad=False`` (the training loop's case: nobody needs the gradient of the data, and torch does
        not compute it either) stops at the first module with parameters, which is asked to skip its input
        gradient too; the modules before it have nothing to compute. Returns ``None`` then.
        """
        modules = list(self._modules.values())
        first = 0
        if not need_input_grad:
            first = next((i for i, m in enumerate(modules) if m.parameters()), len(modules))
        grad = grad_out
        for index in range(len(modules) - 1, first - 1, -1):
            grad = modules[index].backward(grad, need_input_grad=need_input_grad or index > first)
        return grad if need_input_grad else None

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int | slice) -> Any:
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        if not isinstance(index, int | np.integer):
            raise TypeError(f"Sequential indices must be integers or slices, not {type(index).__name__}")
        if not -len(items) <= index < len(items):
            raise IndexError(f"index {index} is out of range for a Sequential of length {len(items)}")
        return items[index][1]


class Residual(Module):
    """A skip connection: ``y = block(x) + shortcut(x)``, with ``shortcut`` the identity when it is ``None``.

    The two branches must give the same shape (a shortcut such as a strided 1x1 ``Conv2d`` adapts ``x`` where the
    block changes channels or resolution). A ResNet basic block is
    ``Sequential(Residual(Sequential(conv, bn, relu, conv, bn)), ReLU())``. The sub-modules are called ``block``
    and ``shortcut`` (``state_dict`` keys ``block.0.weight``, ...), as in :class:`cnnlab.torch_nn.Residual`.

    Backward: the sum passes dL/dy unchanged to both branches, and x receives the sum of what comes back,
    ``dL/dx = block.backward(dL/dy) + shortcut.backward(dL/dy)`` (``+ dL/dy`` for the identity) -- the gradient
    highway that lets deep networks train.
    """

    def __init__(self, block: Module, shortcut: Module | None = None) -> None:
        super().__init__()
        if not isinstance(block, Module):
            raise TypeError(f"Residual: block must be a cnnlab.numpy_nn Module, got {type(block).__name__}")
        self.add_module("block", block)
        self.add_module("shortcut", shortcut)
        self._shapes: tuple[tuple[int, ...], tuple[int, ...]] | None = None

    def forward(self, x: Any) -> Any:
        out = self.block(x)
        skip = x if self.shortcut is None else self.shortcut(x)
        out_shape, skip_shape = np.shape(out), np.shape(skip)
        if out_shape != skip_shape:
            what = "the input" if self.shortcut is None else "the shortcut's output"
            raise ValueError(f"{self._label()}: the block's output {out_shape} and {what} {skip_shape} cannot be "
                             f"summed; where the block changes channels or size, give a shortcut that does the same "
                             f"(e.g. Sequential(Conv2d(in, out, 1, stride=s, bias=False), BatchNorm2d(out)))")
        self._shapes = (np.shape(x), out_shape)
        return out + skip

    def backward(self, grad_out: Any, *, need_input_grad: bool = True) -> np.ndarray | None:
        """dL/dy to both branches; returns the sum of their input gradients (``None`` if ``need_input_grad`` is
        false: the branches still add their parameter gradients)."""
        if self._shapes is None:
            raise RuntimeError(f"{self._label()}: backward() called before forward(); run a forward pass first")
        grad = np.asarray(grad_out)
        if grad.shape != self._shapes[1]:
            raise ValueError(f"{self._label()}: backward expected grad_out of shape {self._shapes[1]} (the shape of "
                             f"the last forward output), got {grad.shape}")
        through_block = self.block.backward(grad, need_input_grad=need_input_grad)
        if self.shortcut is None:
            through_shortcut = grad
        else:
            through_shortcut = self.shortcut.backward(grad, need_input_grad=need_input_grad)
        if not need_input_grad:
            return None
        return through_block + through_shortcut


def to_torch_state_dict(state_dict: Mapping[str, Any]) -> OrderedDict[str, Any]:
    """The same state_dict with ``torch.Tensor`` values (copies), for ``torch_module.load_state_dict``."""
    import torch

    return OrderedDict((key, torch.from_numpy(np.array(_to_numpy(value, key), copy=True)))
                       for key, value in state_dict.items())


def to_numpy_state_dict(state_dict: Mapping[str, Any]) -> OrderedDict[str, np.ndarray]:
    """The same state_dict with NumPy values (copies), e.g. from ``torch_module.state_dict()``."""
    return OrderedDict((key, np.array(_to_numpy(value, key), copy=True)) for key, value in state_dict.items())
