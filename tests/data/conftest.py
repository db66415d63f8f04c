"""Fixtures for the data tests; the file builders live in ``datafixtures.py`` (importable by the tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from datafixtures import FixtureServer


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
