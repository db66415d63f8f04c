"""A training run end to end: load the data a :class:`TrainConfig` names, build the model, fit, test, and write the
run's folder -- ``model.pt`` (the trained ``state_dict`` as torch tensors, loadable by every layer family),
``config.json`` and ``checkpoints/`` (for ``resume``). Figures are drawn by the callers (``cnnlab.plots``).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cnnlab import data
from cnnlab.models import Model, build_model, count_parameters, get_family
from cnnlab.numpy_nn import to_torch_state_dict
from cnnlab.training.config import TrainConfig, build_training_kit
from cnnlab.training.loop import Arrays, History, evaluate, fit

MODEL_FILE, CONFIG_FILE = "model.pt", "config.json"


@dataclass
class TrainResult:
    """A finished training run: settings, per-epoch history, test metrics and the files written."""

    config: TrainConfig
    history: History
    test_loss: float | None
    test_acc: float | None
    parameters: int
    train_size: int
    val_size: int
    test_size: int
    seconds: float
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "dataset": self.config.dataset, "history": self.history.to_dict(),
                "test_loss": self.test_loss, "test_acc": self.test_acc, "parameters": self.parameters,
                "train_size": self.train_size, "val_size": self.val_size, "test_size": self.test_size,
                "seconds": self.seconds, "files": {k: str(v) for k, v in self.files.items()}}


def training_kit(config: TrainConfig, model: Model, steps_total: int) -> tuple[Any, Any, Any]:
    """``(optimizer, loss_fn, scheduler or None)`` for ``model`` from its family's training classes (see
    :func:`cnnlab.training.config.build_training_kit`)."""
    return build_training_kit(config, get_family(config.engine).classes(), model.parameters(), steps_total)


def load_data(config: TrainConfig, root: str | Path | None, progress: bool = False) -> dict[str, Arrays]:
    """Train / val / test arrays ``(x float32 (N, C, H, W), y int64)`` for ``config`` (may raise DataError).

    ``max_datapoints`` keeps the first N images of every split (as the seed's ``--max_datapoints`` limits what is
    trained and validated on); the CIFAR-10 holdout is the fixed default one (seed 0), so runs with different
    training seeds validate on the same images.
    """
    datasets = data.load_splits(config.dataset, root=root, max_datapoints=config.max_datapoints,
                                val_source=config.val_source, progress=progress)
    return {split: data.prepare(ds, normalization=config.normalization) for split, ds in datasets.items()}


def train_model(config: TrainConfig, out_dir: str | Path, *, root: str | Path | None = None, resume: bool = False,
                progress: bool = True, arrays: dict[str, Arrays] | None = None) -> TrainResult:
    """Train ``config.model`` on its dataset, evaluate on the test split, write ``model.pt`` and ``config.json``.

    ``arrays`` may supply pre-loaded ``{"train", "val", "test"}`` arrays (else they are read from ``root``).
    """
    config.validate()
    start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    splits = arrays if arrays is not None else load_data(config, root, progress)
    device = None if not get_family(config.engine).autograd else config.device
    model = build_model(config.model, config.engine, conv_algorithm=config.conv_algorithm, seed=config.seed)
    if config.channels_last:  # the weights' layout makes every convolution's output channels-last too
        assert isinstance(model, torch.nn.Module), "validate() allows channels_last for the torch engines only"
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # (not in the stubs)
    steps_total = config.epochs * math.ceil(len(splits["train"][1]) / config.batch_size)
    optimizer, loss_fn, scheduler = training_kit(config, model, steps_total)
    history = fit(model, loss_fn, optimizer, splits["train"], splits["val"], epochs=config.epochs,
                  batch_size=config.batch_size, seed=config.seed, scheduler=scheduler,
                  augment=config.augmentation(), device=device, progress=progress,
                  checkpoint_dir=out_dir / "checkpoints", resume=resume,
                  label=f"{config.model} ({config.engine})")
    test_loss, test_acc = evaluate(model, loss_fn, splits["test"], device=device)
    files = {"model": out_dir / MODEL_FILE, "config": out_dir / CONFIG_FILE}
    torch.save(to_torch_state_dict(model.state_dict()), files["model"])
    files["config"].write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    return TrainResult(config, history, test_loss, test_acc, count_parameters(model), len(splits["train"][1]),
                       len(splits["val"][1]), len(splits["test"][1]), time.perf_counter() - start, out_dir, files)


def read_config(folder: str | Path) -> TrainConfig:
    """The :class:`TrainConfig` of the run in ``folder`` (its ``config.json``), with a clear error otherwise."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: point at the folder of a 'cnnlab train' run "
                                f"(it holds {MODEL_FILE} and {CONFIG_FILE})")
    try:
        return TrainConfig.from_dict(json.loads(path.read_text()))
    except (ValueError, TypeError) as error:
        raise ValueError(f"{path} is not a cnnlab training config: {error}") from None


def load_trained(path: str | Path, engine: str = "torch", conv_algorithm: str | None = None) -> tuple[Model,
                                                                                                     TrainConfig]:
    """A network saved by :func:`train_model` (``path``: its folder or its ``model.pt``), built from ``engine``'s
    layers, and the config it was trained with (from ``config.json`` beside it)."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    weights = folder / MODEL_FILE
    config = read_config(folder)
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} not found: point at the folder of a 'cnnlab train' run "
                                f"(it holds {MODEL_FILE} and {CONFIG_FILE})")
    model = build_model(config.model, engine, conv_algorithm=conv_algorithm)
    model.load_state_dict(torch.load(weights, weights_only=True))
    return model, config

