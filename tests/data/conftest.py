"""Fixtures for the data tests; the file builders live in ``datafixtures.py`` (importable by the tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from datafixtures import FixtureServer

from cnnlab.data import DATASETS, DatasetSpec, register_dataset, unregister_dataset


@pytest.fixture
def http_server() -> Iterator[FixtureServer]:
    server = FixtureServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


@pytest.fixture
def no_data_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests with explicit roots must not see the real $CNNLAB_DATA or mirrors."""
    monkeypatch.delenv("CNNLAB_DATA", raising=False)
    monkeypatch.delenv("CNNLAB_DATA_MIRRORS", raising=False)


@pytest.fixture
def use_spec() -> Iterator[Callable[[DatasetSpec], DatasetSpec]]:
    """``use_spec(spec)`` registers ``spec`` for this test only (replacing a registered spec of the same name,
    e.g. MNIST with fixture md5s); the registry is restored afterwards, in its order."""
    saved: list[tuple[str, DatasetSpec | None]] = []

    def use(spec: DatasetSpec) -> DatasetSpec:
        saved.append((spec.name, DATASETS.get(spec.name)))
        return register_dataset(spec, replace=True)

    yield use
    for name, old in reversed(saved):
        if old is None:
            unregister_dataset(name)
        else:
            register_dataset(old, replace=True)
