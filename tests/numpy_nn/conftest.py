"""The NumPy-engine tests run with one BLAS thread, as an entry point of the library would set it.

Their matrix products are tiny, and with pytest-xdist workers on a few cores every multi-threaded product waits for
descheduled helper threads; the thread policy belongs to the entry point (:mod:`cnnlab.threads`), and this
directory's tests are one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cnnlab.threads import blas_threads


@pytest.fixture(autouse=True)
def _one_blas_thread() -> Iterator[None]:
    with blas_threads(1):
        yield
