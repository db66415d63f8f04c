"""Fixtures of the experiment tests: no downloads, and finished ``cnnlab train`` run folders written by hand."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from exphelpers import write_run


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Downloads go to a closed loopback port: no internet is ever tried, and the failure is immediate."""
    monkeypatch.setenv("CNNLAB_DATA_MIRRORS", "http://127.0.0.1:9/")
    monkeypatch.delenv("CNNLAB_DATA", raising=False)


@pytest.fixture
def run_folder(tmp_path: Path) -> Callable[..., Path]:
    """``run_folder(name, model, engine=..., seed=...)``: :func:`write_run` into ``tmp_path / "runs" / name``."""
    def make(name: str, model: str, engine: str = "torch", seed: int = 0, **settings: object) -> Path:
        return write_run(tmp_path / "runs" / name, model, engine, seed, **settings)

    return make
