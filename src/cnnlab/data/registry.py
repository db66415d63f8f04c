"""The dataset registry: every name the data API accepts maps to one :class:`~cnnlab.data.spec.DatasetSpec`.

``DATASETS`` is a read-only mapping ``name -> spec`` in registration order (iterating it yields the names:
``tuple(DATASETS) == ("mnist", "cifar10")``); :func:`register_dataset` adds a spec, :func:`get_dataset` finds one by
name or alias in any case.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from cnnlab.data.cifar10 import CIFAR10
from cnnlab.data.mnist import MNIST
from cnnlab.data.spec import DatasetSpec

_SPECS: dict[str, DatasetSpec] = {}
_NAMES: dict[str, str] = {}  # lower-case name or alias -> canonical name

DATASETS: Mapping[str, DatasetSpec] = MappingProxyType(_SPECS)


def _keys(spec: DatasetSpec) -> list[str]:
    return list(dict.fromkeys(k.strip().lower() for k in (spec.name, *spec.aliases)))


def register_dataset(spec: DatasetSpec, *, replace: bool = False) -> DatasetSpec:
    """Make ``spec`` loadable under its name and aliases; returns it.

    Registering an equal spec again does nothing. A different spec under a taken name raises ``ValueError``
    unless ``replace=True`` (the new spec then takes the old one's place in :data:`DATASETS`).
    """
    old = _SPECS.get(spec.name)
    if old == spec:
        return spec
    if old is not None and not replace:
        raise ValueError(f"dataset {spec.name!r} is already registered with another spec; pass replace=True "
                         "to replace it")
    for key in _keys(spec):
        owner = _NAMES.get(key)
        if owner is not None and owner != spec.name:
            raise ValueError(f"cannot register dataset {spec.name!r}: the name {key!r} already means {owner!r}")
    if old is not None:
        for key in _keys(old):
            del _NAMES[key]
    _SPECS[spec.name] = spec
    _NAMES.update(dict.fromkeys(_keys(spec), spec.name))
    return spec


def unregister_dataset(name: str) -> DatasetSpec:
    """Remove a dataset (by name or alias) from the registry; returns its spec."""
    spec = get_dataset(name)
    for key in _keys(spec):
        del _NAMES[key]
    del _SPECS[spec.name]
    return spec


def get_dataset(name: str) -> DatasetSpec:
    """The spec registered under ``name`` or one of its aliases (any case); ``ValueError`` listing the choices."""
    key = str(name).strip().lower()
    if key not in _NAMES:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(_SPECS)}")
    return _SPECS[_NAMES[key]]


def canonical_name(name: str) -> str:
    """The canonical name of a dataset given by name or alias (``"CIFAR-10"`` -> ``"cifar10"``)."""
    return get_dataset(name).name


register_dataset(MNIST)
register_dataset(CIFAR10)
