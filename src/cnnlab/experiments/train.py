"""Train a seed network on its dataset with either engine: named recipes, curves, final test accuracy.

The seeds' training runs (seed 000 task 1.2: LeNet on CIFAR-10; seed 004 task 5: the CNN on MNIST) as one
configurable experiment. Everything it produces lands in ``out_dir``: ``model.pt`` (the trained state_dict, as torch
tensors, loadable by every engine), ``curves.png`` and ``checkpoints/`` for ``resume``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnnlab import data
from cnnlab.models import MODELS, build_model, count_parameters
from cnnlab.training import History, evaluate, fit, resolve_device

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("none", "onecycle")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (the dataset follows from the model)."""

    model: str = "mnist-cnn"
    engine: str = "torch"
    epochs: int = 10
    batch_size: int = 50
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "none"
    normalization: str = "unit"
    augment: bool = False
    max_datapoints: int | None = None
    val_source: str = "holdout"
    seed: int = 0
    device: str = "auto"
    conv_algorithm: str | None = None

    @property
    def dataset(self) -> str:
        return MODELS[self.model].dataset

    def validate(self) -> None:
        """Raise ``ValueError`` naming the bad setting."""
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {', '.join(MODELS)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be positive, got {self.epochs} and {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        if self.engine == "numpy" and self.device not in ("auto", "cpu"):
            raise ValueError(f"the NumPy engine runs on the CPU only; got device {self.device!r}")


#: Named recipes; ``train`` starts from one and applies the user's overrides.
RECIPES: dict[str, TrainConfig] = {
    # Seed 004 task 5: SGD lr 0.01 momentum 0.9, batch 50, 10 epochs, the first 10000 training images, pixels in
    # [0, 1]; validation on the 10000 held-out training images.
    "mnist-seed": TrainConfig(model="mnist-cnn", engine="numpy", epochs=10, batch_size=50, lr=0.01, momentum=0.9,
                              max_datapoints=10_000),
    # Same net and data, better recipe: standardised inputs and a one-cycle learning-rate schedule.
    "mnist-better": TrainConfig(model="mnist-cnn", engine="numpy", epochs=10, batch_size=50, lr=0.05, momentum=0.9,
                                schedule="onecycle", normalization="standard", max_datapoints=10_000),
    # Seed 004's MLP baseline with the seed's optimiser settings.
    "mlp-seed": TrainConfig(model="mnist-mlp", engine="numpy", epochs=10, batch_size=50, lr=0.01, momentum=0.9,
                            max_datapoints=10_000),
    # Seed 000 task 1.2: the LeNet on CIFAR-10, standardised inputs, crop+flip augmentation, one-cycle SGD.
    "cifar-lenet": TrainConfig(model="lenet", engine="torch", epochs=25, batch_size=64, lr=0.05, momentum=0.9,
                               weight_decay=5e-4, schedule="onecycle", normalization="standard", augment=True),
}


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
        return {"config": asdict(self.config), "dataset": self.config.dataset, "history": self.history.to_dict(),
                "test_loss": self.test_loss, "test_acc": self.test_acc, "parameters": self.parameters,
                "train_size": self.train_size, "val_size": self.val_size, "test_size": self.test_size,
                "seconds": self.seconds, "files": {k: str(v) for k, v in self.files.items()}}


def _optimizer_and_loss(config: TrainConfig, model: Any, steps_total: int) -> tuple[Any, Any, Any]:
    if config.engine == "numpy":
        from cnnlab import numpy_nn as lib
        from cnnlab.numpy_nn import optim

        loss_fn = lib.CrossEntropyLoss()
        one_cycle = optim.OneCycleLR
    else:
        optim = torch.optim
        loss_fn = torch.nn.CrossEntropyLoss()
        one_cycle = torch.optim.lr_scheduler.OneCycleLR
    params = model.parameters()
    if config.optimizer == "sgd":
        opt = optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    else:
        opt = optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = one_cycle(opt, max_lr=config.lr, total_steps=steps_total) if config.schedule == "onecycle" else None
    return opt, loss_fn, scheduler


def state_dict_as_torch(model: Any) -> dict[str, torch.Tensor]:
    """The model's state_dict with torch tensors, whatever the engine (for ``model.pt``)."""
    return {k: torch.as_tensor(np.asarray(v)) if isinstance(v, np.ndarray) else v.detach().cpu()
            for k, v in model.state_dict().items()}


def load_data(config: TrainConfig, root: str | Path | None, progress: bool = False) -> dict[str, tuple]:
    """Train / val / test arrays ``(x float32 (N, C, H, W), y int64)`` for ``config`` (may raise DataError).

    ``max_datapoints`` limits the training split only; the CIFAR-10 holdout is the fixed default one (seed 0), so
    runs with different training seeds validate on the same images.
    """
    datasets = data.load_splits(config.dataset, root=root, max_datapoints={"train": config.max_datapoints},
                                val_source=config.val_source, progress=progress)
    return {split: data.prepare(ds, normalization=config.normalization) for split, ds in datasets.items()}


def train_model(config: TrainConfig, out_dir: str | Path, *, root: str | Path | None = None, resume: bool = False,
                progress: bool = True, arrays: dict[str, tuple] | None = None) -> TrainResult:
    """Train ``config.model`` on its dataset, evaluate on the test split, write ``model.pt`` and ``curves.png``.

    ``arrays`` may supply pre-loaded ``{"train", "val", "test"}`` arrays (else they are read from ``root``).
    """
    from cnnlab.plots.curves import plot_history

    config.validate()
    start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    splits = arrays if arrays is not None else load_data(config, root, progress)
    engine_device = None if config.engine == "numpy" else resolve_device(config.device)
    model = build_model(config.model, config.engine, conv_algorithm=config.conv_algorithm, seed=config.seed)
    steps_total = config.epochs * math.ceil(len(splits["train"][1]) / config.batch_size)
    optimizer, loss_fn, scheduler = _optimizer_and_loss(config, model, steps_total)
    augment = data.random_crop_flip(padding=4, flip=True) if config.augment else None
    history = fit(model, loss_fn, optimizer, splits["train"], splits["val"], epochs=config.epochs,
                  batch_size=config.batch_size, seed=config.seed, scheduler=scheduler, augment=augment,
                  device=engine_device, progress=progress, checkpoint_dir=out_dir / "checkpoints", resume=resume)
    test_loss, test_acc = evaluate(model, loss_fn, splits["test"], device=engine_device)
    files = {"model": out_dir / "model.pt", "config": out_dir / "config.json"}
    torch.save(state_dict_as_torch(model), files["model"])
    files["config"].write_text(json.dumps(asdict(config), indent=2) + "\n")
    title = f"{config.model} ({config.engine} engine) on {config.dataset}"
    files["curves"] = plot_history(history, out_dir / "curves.png", title=title)
    return TrainResult(config, history, test_loss, test_acc, count_parameters(model), len(splits["train"][1]),
                       len(splits["val"][1]), len(splits["test"][1]), time.perf_counter() - start, out_dir, files)


def load_trained(path: str | Path, engine: str = "torch", conv_algorithm: str | None = None) -> tuple[Any, TrainConfig]:
    """A network saved by :func:`train_model` (``path``: its folder or its ``model.pt``), built from ``engine``'s
    layers, and the config it was trained with (from ``config.json`` beside it)."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    weights, config_file = folder / "model.pt", folder / "config.json"
    for needed in (weights, config_file):
        if not needed.exists():
            raise FileNotFoundError(f"{needed} not found: point at the folder of a 'cnnlab train' run "
                                    "(it holds model.pt and config.json)")
    config = TrainConfig(**json.loads(config_file.read_text()))
    model = build_model(config.model, engine, conv_algorithm=conv_algorithm)
    model.load_state_dict(torch.load(weights, weights_only=True))
    return model, config


def recipe(name: str, **overrides: Any) -> TrainConfig:
    """The named recipe with the given settings replaced (``None`` values are ignored)."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
    return replace(RECIPES[name], **{k: v for k, v in overrides.items() if v is not None})


def section(title: str, intro: str, runs: dict[str, TrainResult], figure: Path | None = None, *,
            seconds: float | None = None) -> Any:
    """A report section for one or more training runs: final metrics, per-epoch table, curves, settings."""
    from cnnlab.report import Figure, Section, Table

    def last(values: list) -> Any:
        return values[-1] if values else None

    summary = [[name, r.config.engine, r.train_size, r.history.epochs, last(r.history.train_acc),
                last(r.history.val_acc), r.test_acc, r.history.seconds] for name, r in runs.items()]
    tables = [Table(["run", "engine", "train images", "epochs", "final train acc", "final val acc", "test acc",
                     "training s"], summary, caption="Final metrics (accuracies in [0, 1])")]
    for name, r in runs.items():
        rows = [[e.epoch, e.train_loss, e.train_acc, e.val_loss, e.val_acc, e.lr, e.seconds] for e in r.history.records]
        tables.append(Table(["epoch", "train loss", "train acc", "val loss", "val acc", "lr (end)", "s"], rows,
                            caption=f"{name}: per epoch"))
    paragraphs = [f"{name}: {_describe(r.config)}." for name, r in runs.items()]
    paragraphs += [f"{name} was interrupted after {r.history.epochs} epochs." for name, r in runs.items()
                   if r.history.interrupted]
    figures = [Figure(figure, "Loss and accuracy per epoch, training and validation")] if figure else []
    first = next(iter(runs.values()))
    settings = {"model": first.config.model, "dataset": first.config.dataset, "parameters": first.parameters,
                "validation images": first.val_size, "test images": first.test_size}
    return Section(title=title, intro=intro, paragraphs=paragraphs, tables=tables, figures=figures,
                   settings=settings, seconds=seconds)


def _describe(config: TrainConfig) -> str:
    optimizer = (f"SGD lr {config.lr:g}, momentum {config.momentum:g}" if config.optimizer == "sgd"
                 else f"Adam lr {config.lr:g}")
    parts = [f"{config.model} on the {config.engine} engine", f"{config.epochs} epochs of batch {config.batch_size}",
             optimizer + (f", weight decay {config.weight_decay:g}" if config.weight_decay else ""),
             "one-cycle schedule (peak = lr)" if config.schedule == "onecycle" else "constant lr",
             "inputs standardised per channel" if config.normalization == "standard" else "pixels scaled to [0, 1]"]
    if config.augment:
        parts.append("random crop (padding 4) and horizontal flip")
    if config.max_datapoints:
        parts.append(f"first {config.max_datapoints} training images")
    parts.append(f"seed {config.seed}")
    return ", ".join(parts)
