"""What cnnlab needs of a model, whatever its layer family: the :class:`Model` protocol.

``torch.nn.Module`` and ``cnnlab.numpy_nn.Module`` both satisfy it, so library code is typed against it rather than
``Any``. Which engine a model belongs to is told by :func:`cnnlab.models.introspect.is_torch_module`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Model(Protocol):
    """A network: callable on a batch, with parameters, a ``state_dict``, named children and train/eval modes."""

    training: bool

    def __call__(self, x: Any, /) -> Any: ...

    def parameters(self) -> Iterable[Any]: ...

    def state_dict(self) -> Mapping[str, Any]: ...

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> Any: ...

    def named_children(self) -> Iterator[tuple[str, Any]]: ...

    def train(self, mode: bool = True) -> Any: ...

    def eval(self) -> Any: ...
