"""Helpers of the experiment tests (this folder is on ``sys.path``, as ``tests/numpy_nn`` is for ``nnhelpers``)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from cnnlab.models import build_model
from cnnlab.numpy_nn import to_torch_state_dict
from cnnlab.training import TrainConfig


def write_run(folder: Path, model: str, engine: str = "torch", seed: int = 0, **settings: object) -> Path:
    """A run folder as ``cnnlab train`` leaves it (``config.json`` and ``model.pt``) with an untrained ``model``
    initialised with ``seed``; ``settings`` go into the config."""
    folder.mkdir(parents=True, exist_ok=True)
    config = TrainConfig(model=model, engine=engine, seed=seed, **settings)
    network = build_model(model, engine, seed=seed)
    torch.save(to_torch_state_dict(network.state_dict()), folder / "model.pt")
    (folder / "config.json").write_text(json.dumps(config.to_dict()))
    return folder
