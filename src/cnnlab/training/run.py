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
from types import SimpleNamespace
from typing import Any

import torch

from cnnlab import data
from cnnlab.errors import UserError
from cnnlab.models import Model, build_model, count_parameters, get_family
from cnnlab.numpy_nn import to_torch_state_dict
from cnnlab.training.config import TrainConfig
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
    """``(optimizer, loss_fn, scheduler or None)`` for ``model`` from its family's training classes."""
    kit: SimpleNamespace = get_family(config.engine).classes()
    params = model.parameters()
    if config.optimizer == "sgd":
        optimizer = kit.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    else:
        optimizer = kit.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = (kit.OneCycleLR(optimizer, max_lr=config.lr, total_steps=steps_total)
                 if config.schedule == "onecycle" else None)
    return optimizer, kit.CrossEntropyLoss(), scheduler


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
    model.load_state_dict(read_weights(weights, model, config.model))
    return model, config


def read_weights(weights: Path, model: Model, architecture: str) -> dict[str, torch.Tensor]:
    """The tensors of ``weights`` (a ``model.pt``), checked against ``model``'s parameter names and shapes; a
    :class:`~cnnlab.errors.UserError` naming the file and what was expected when it is unreadable or holds another
    network (e.g. a ``model.pt`` copied from another run beside this ``config.json``)."""
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated, not a torch file, or pickled objects: torch raises several kinds
        raise UserError(f"{weights}: not a readable {MODEL_FILE} of 'cnnlab train' ({type(error).__name__}: "
                        f"{error}); train the network again") from None
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise UserError(f"{weights}: expected a state_dict of tensors for a {architecture}, got "
                        f"{type(state).__name__}")
    found = {key: tuple(value.shape) for key, value in state.items()}
    if found != expected:
        def shapes(keys: list[str], table: dict[str, tuple[int, ...]]) -> str:
            return ", ".join(f"{key} {list(table[key])}" for key in keys[:4]) + (" ..." if len(keys) > 4 else "")

        problems = []
        missing = [key for key in expected if key not in found]
        unexpected = [key for key in found if key not in expected]
        wrong = [key for key in expected if key in found and found[key] != expected[key]]
        if missing:
            problems.append(f"missing {shapes(missing, expected)}")
        if unexpected:
            problems.append(f"unexpected {shapes(unexpected, found)}")
        if wrong:
            problems.append("wrong shapes: " + ", ".join(f"{key} is {list(found[key])}, expected "
                                                          f"{list(expected[key])}" for key in wrong[:4]))
        raise UserError(f"{weights}: these are not the weights of a {architecture}, which {CONFIG_FILE} beside it "
                        f"names ({'; '.join(problems)}); was the file copied from a run of another network?")
    return state

