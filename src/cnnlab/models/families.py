"""Layer families: the namespaces of layer classes a model can be built from, and their conv algorithms.

A *layer family* offers ``Conv2d``, ``Linear``, ``ReLU``, ``MaxPool2d``, ``AvgPool2d``, ``Flatten``, ``Dropout``,
``BatchNorm2d``, ``BatchNorm1d``, ``AdaptiveAvgPool2d``, ``Identity``, ``Residual`` and ``Sequential`` -- and the
training kit ``CrossEntropyLoss``, ``SGD``, ``Adam``, ``AdamW``, ``RMSprop`` and the schedules ``OneCycleLR``,
``StepLR``, ``CosineAnnealingLR``, ``LinearLR``, ``SequentialLR`` -- with torch's signatures, so one model
definition (see :mod:`cnnlab.models.zoo`) and one training setup serve every family:

- ``"torch"``: ``torch.nn`` itself (the library reference; its convolution has no algorithm choice);
- ``"torch-own"``: cnnlab's own ``torch_nn.Linear`` / ``torch_nn.Conv2d`` (tensor ops, autograd) with ``torch.nn``
  for the rest;
- ``"numpy"``: the NumPy engine ``cnnlab.numpy_nn`` (hand-written forward and backward, CPU only).

``torch.nn`` has no residual (skip-connection) module, so both torch families take :class:`cnnlab.torch_nn.Residual`
(the twin of :class:`cnnlab.numpy_nn.Residual`: ``block`` and ``shortcut`` sub-modules, their outputs summed).

All families name their layers alike, so ``state_dict`` keys and shapes are identical and weights move freely.
:meth:`LayerFamily.check` validates a configuration (algorithm, device) before anything expensive happens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from types import SimpleNamespace
from typing import Any

#: Layer kinds and the namespace attributes that hold their classes.
KIND_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "conv": ("Conv2d",),
    "pool": ("MaxPool2d", "AvgPool2d"),
    "relu": ("ReLU",),
    "linear": ("Linear",),
    "flatten": ("Flatten",),
    "dropout": ("Dropout",),
    "batchnorm": ("BatchNorm2d", "BatchNorm1d"),
    "residual": ("Residual",),
    "global-pool": ("AdaptiveAvgPool2d",),
}

#: The training-kit attributes of every family (optimizers, schedules, the loss), as torch names them.
_KIT = ("CrossEntropyLoss", "SGD", "Adam", "AdamW", "RMSprop", "OneCycleLR", "StepLR", "CosineAnnealingLR", "LinearLR",
        "SequentialLR")


_LAYERS = ("Conv2d", "Linear", "ReLU", "MaxPool2d", "AvgPool2d", "Flatten", "Dropout", "Sequential", "BatchNorm2d",
           "BatchNorm1d", "AdaptiveAvgPool2d", "Identity")


def _torch_layers() -> SimpleNamespace:
    import torch
    from torch import nn

    from cnnlab import torch_nn

    sources = {name: nn for name in (*_LAYERS, "CrossEntropyLoss")}
    sources.update({name: torch.optim for name in ("SGD", "Adam", "AdamW", "RMSprop")})
    sources.update({name: torch.optim.lr_scheduler for name in ("OneCycleLR", "StepLR", "CosineAnnealingLR",
                                                                 "LinearLR", "SequentialLR")})
    return SimpleNamespace(**{name: getattr(module, name) for name, module in sources.items()},
                           Residual=torch_nn.Residual)


def _torch_own_layers() -> SimpleNamespace:
    from cnnlab import torch_nn

    return SimpleNamespace(**{**vars(_torch_layers()), "Conv2d": torch_nn.Conv2d, "Linear": torch_nn.Linear})


def _numpy_layers() -> SimpleNamespace:
    from cnnlab import numpy_nn

    return SimpleNamespace(**{name: getattr(numpy_nn, name) for name in (*_LAYERS, "Residual", *_KIT)})


def _torch_own_algorithms() -> tuple[str, ...]:
    from cnnlab import torch_nn

    return tuple(torch_nn.CONV_ALGORITHMS)


def _numpy_algorithms() -> tuple[str, ...]:
    from cnnlab import numpy_nn

    return tuple(numpy_nn.CONV_ALGORITHMS)


@dataclass(frozen=True)
class LayerFamily:
    """One family of layer classes: its name, what it is, its conv algorithms and where it runs.

    ``autograd``: its models are ``torch.nn.Module`` s (autograd backward, any torch device); otherwise they are
    NumPy-engine modules (explicit ``backward``, CPU only).
    """

    name: str
    summary: str
    autograd: bool
    _classes: Callable[[], SimpleNamespace]
    _algorithms: Callable[[], tuple[str, ...]] | None = None
    default_algorithm: str | None = None

    @property
    def conv_algorithms(self) -> tuple[str, ...]:
        """The algorithms its own ``Conv2d`` offers (empty for ``torch.nn``, whose convolution is the library's)."""
        return self._algorithms() if self._algorithms is not None else ()

    @property
    def devices(self) -> tuple[str, ...]:
        return ("auto", "cpu", "cuda") if self.autograd else ("auto", "cpu")

    def classes(self) -> SimpleNamespace:
        """The family's layer classes (``Conv2d``, ``Linear``, ``ReLU``, ``MaxPool2d``, ``AvgPool2d``, ...)."""
        return _cached_classes(self.name, self._classes)

    def check(self, conv_algorithm: str | None = None, device: str | None = None) -> None:
        """Raise ``ValueError`` naming the option when ``conv_algorithm`` or ``device`` does not fit the family."""
        if conv_algorithm is not None and conv_algorithm not in self.conv_algorithms:
            if not self.conv_algorithms:
                raise ValueError(f"engine {self.name!r} uses the library's own convolution: --conv-algorithm "
                                 f"{conv_algorithm!r} applies to the engines "
                                 f"{', '.join(f.name for f in FAMILIES.values() if f.conv_algorithms)}")
            raise ValueError(f"engine {self.name!r} has no conv algorithm {conv_algorithm!r}; choose one of "
                             f"{', '.join(self.conv_algorithms)}")
        if device is not None and device not in self.devices and not device.startswith(tuple(self.devices)):
            raise ValueError(f"engine {self.name!r} runs on {' or '.join(d for d in self.devices if d != 'auto')} "
                             f"only; got device {device!r}")

    def layers(self, conv_algorithm: str | None = None) -> SimpleNamespace:
        """Constructors for a model definition: the classes, with ``Conv2d`` bound to ``conv_algorithm``."""
        self.check(conv_algorithm)
        classes = self.classes()
        if conv_algorithm is None:
            return classes
        conv = classes.Conv2d

        def conv2d(*args: Any, **kwargs: Any) -> Any:
            return conv(*args, algorithm=conv_algorithm, **kwargs)

        return SimpleNamespace(**{**vars(classes), "Conv2d": conv2d})

    def manual_seed(self, seed: int) -> None:
        """Fix the initial weights of the next models built: torch's global generator, or the NumPy engine's."""
        if self.autograd:
            import torch

            torch.manual_seed(seed)
        else:
            from cnnlab.numpy_nn import init

            init.manual_seed(seed)

    def kinds(self) -> dict[type, str]:
        """Layer class -> kind (``conv``, ``pool``, ``relu``, ``linear``, ``flatten``, ``dropout``, ``batchnorm``,
        ``residual``, ``global-pool``)."""
        classes = vars(self.classes())
        return {classes[attribute]: kind for kind, attributes in KIND_ATTRIBUTES.items() for attribute in attributes
                if attribute in classes}


@cache
def _cached_classes(name: str, factory: Callable[[], SimpleNamespace]) -> SimpleNamespace:
    return factory()


#: The layer families, by engine name (the CLI's ``--engine`` choices).
FAMILIES: dict[str, LayerFamily] = {
    family.name: family
    for family in (
        LayerFamily("torch", "torch.nn, the library reference", True, _torch_layers),
        LayerFamily("torch-own", "cnnlab.torch_nn Linear/Conv2d (tensor ops, autograd) with torch.nn for the rest",
                    True, _torch_own_layers, _torch_own_algorithms, "im2col"),
        LayerFamily("numpy", "cnnlab.numpy_nn, the NumPy engine (hand-written backward, CPU)", False, _numpy_layers,
                    _numpy_algorithms, "fast"),
    )
}


def get_family(name: str) -> LayerFamily:
    """The family called ``name``; ``ValueError`` listing the choices otherwise."""
    if name not in FAMILIES:
        raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


def all_conv_algorithms() -> tuple[str, ...]:
    """Every algorithm name any family offers (the CLI's choices; :meth:`LayerFamily.check` narrows them)."""
    return tuple(dict.fromkeys(a for family in FAMILIES.values() for a in family.conv_algorithms))
