"""Fixtures of the experiment tests: no downloads, and finished ``cnnlab train`` run folders written by hand."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from cnnlab.models import build_model
from cnnlab.numpy_nn import to_torch_state_dict
from cnnlab.training import TrainConfig


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Downloads go to a closed loopback port: no internet is ever tried, and the failure is immediate."""
    monkeypatch.setenv("CNNLAB_DATA_MIRRORS", "http://127.0.0.1:9/")
    monkeypatch.delenv("CNNLAB_DATA", raising=False)


def write_run(folder: Path, model: str, engine: str = "torch", seed: int = 0, **settings: object) -> Path:
    """A run folder as ``cnnlab train`` leaves it (``config.json`` and ``model.pt``) with an untrained ``model``
    initialised with ``seed``; ``settings`` go into the config."""
    folder.mkdir(parents=True, exist_ok=True)
    config = TrainConfig(model=model, engine=engine, seed=seed, **settings)
    network = build_model(model, engine, seed=seed)
    torch.save(to_torch_state_dict(network.state_dict()), folder / "model.pt")
    (folder / "config.json").write_text(json.dumps(config.to_dict()))
    return folder


@pytest.fixture
def run_folder(tmp_path: Path) -> Callable[..., Path]:
    """``run_folder(name, model, engine=..., seed=...)``: :func:`write_run` into ``tmp_path / "runs" / name``."""
    def make(name: str, model: str, engine: str = "torch", seed: int = 0, **settings: object) -> Path:
        return write_run(tmp_path / "runs" / name, model, engine, seed, **settings)

    return make
