"""How many threads NumPy's BLAS (OpenBLAS) uses for the engine's matrix products.

The engine's matrix products are small on purpose (im2col works on ~2 MB chunks so that the columns are still in
the CPU cache when they are multiplied): a few MFLOP each, thousands per epoch. Splitting such a product over
threads gains little, and on a busy machine -- e.g. pytest running two workers on two cores -- every call waits for
descheduled helper threads: the seed's MNIST run took 41 s with 2 OpenBLAS threads on a loaded 2-core machine and
5.7 s with 1; a LeNet conv1 forward+backward 1.3 s instead of 20 ms.

So the layers run their matrix products with :data:`engine_blas_threads` threads (1 by default), setting OpenBLAS
for the duration of the call and restoring it after (about a microsecond). ``set_engine_blas_threads(None)`` leaves
NumPy's setting alone; :func:`blas_threads` sets it for a block of code::

    with blas_threads(4):
        ...

This talks to the OpenBLAS library that NumPy loaded (through ``ctypes``, as ``threadpoolctl`` does). With another
BLAS (MKL, Accelerate) the functions do nothing and :func:`get_blas_threads` returns ``None``.
"""

from __future__ import annotations

import ctypes
import glob
import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

__all__ = ["blas_threads", "engine_blas", "get_blas_threads", "set_blas_threads", "set_engine_blas_threads"]

#: OpenBLAS threads inside the engine's layers; ``None``: use NumPy's setting as it is.
engine_blas_threads: int | None = 1

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
            "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads", "openblas_get_num_threads64_",
            "openblas_get_num_threads")
_library: tuple[object, object] | bool | None = False  # False: not looked up yet


def _candidates() -> list[str]:
    paths = []
    try:  # the libraries this process has loaded (Linux)
        with open("/proc/self/maps") as maps:
            paths += sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line})
    except OSError:
        pass
    base = os.path.dirname(os.path.dirname(np.__file__))
    for folder in (os.path.join(base, "numpy.libs"), os.path.join(os.path.dirname(np.__file__), ".dylibs")):
        paths += sorted(glob.glob(os.path.join(folder, "*openblas*")))
    return paths


def _find() -> tuple[object, object] | None:
    global _library
    if _library is False:
        _library = None
        for path in _candidates():
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            setter = next((getattr(lib, n) for n in _SETTERS if hasattr(lib, n)), None)
            getter = next((getattr(lib, n) for n in _GETTERS if hasattr(lib, n)), None)
            if setter is not None and getter is not None:
                setter.argtypes, getter.restype = [ctypes.c_int], ctypes.c_int
                _library = (setter, getter)
                break
    return _library  # type: ignore[return-value]


def get_blas_threads() -> int | None:
    """Threads OpenBLAS uses now, or ``None`` when NumPy's BLAS is not an OpenBLAS we can talk to."""
    found = _find()
    return None if found is None else int(found[1]())  # type: ignore[operator]


def set_blas_threads(threads: int) -> int | None:
    """Set OpenBLAS's thread count for the whole process; returns the previous count (``None``: no OpenBLAS)."""
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    found = _find()
    if found is None:
        return None
    previous = int(found[1]())  # type: ignore[operator]
    found[0](threads)  # type: ignore[operator]
    return previous


@contextmanager
def blas_threads(threads: int) -> Iterator[int | None]:
    """Use ``threads`` OpenBLAS threads inside the ``with`` block, then restore the previous count."""
    previous = set_blas_threads(threads)
    try:
        yield previous
    finally:
        if previous is not None:
            set_blas_threads(previous)


def set_engine_blas_threads(threads: int | None) -> int | None:
    """Threads for the engine's matrix products (``None``: NumPy's setting); returns the previous value."""
    global engine_blas_threads
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive int or None, got {threads!r}")
    previous, engine_blas_threads = engine_blas_threads, threads
    return previous


@contextmanager
def engine_blas() -> Iterator[None]:
    """Run a layer's matrix products with :data:`engine_blas_threads` threads (restored afterwards)."""
    wanted = engine_blas_threads
    found = _find() if wanted is not None else None
    if found is None:
        yield
        return
    previous = int(found[1]())  # type: ignore[operator]
    if previous == wanted:
        yield
        return
    found[0](wanted)  # type: ignore[operator]
    try:
        yield
    finally:
        found[0](previous)  # type: ignore[operator]
