"""A training run end to end: load the data a :class:`TrainConfig` names, build the model, fit, test, and write the
run's folder -- ``config.json`` (written first), ``checkpoints/`` (after every epoch, for ``resume``) and
``model.pt`` (the trained ``state_dict`` as torch tensors, loadable by every layer family). Figures are drawn by the
callers (``cnnlab.plots``).

The folder belongs to one run (:func:`cnnlab.training.folders.claim_folder`): a second process cannot write into it
at the same time, and an earlier run in it is continued (``resume``) or replaced (``overwrite``) only when asked.
A resumed run keeps its settings (``config.json``); only ``epochs`` may grow (:func:`resume_config`). After Ctrl-C
``model.pt`` holds the weights of the last finished epoch, and the result says that it was interrupted.

Under torchrun (``world``, :mod:`cnnlab.training.distributed`) every rank calls :func:`train_model` alike; rank 0
claims the folder and writes every file, the others train and evaluate their shares.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cnnlab import data
from cnnlab.errors import UserError
from cnnlab.files import atomic_write, write_text_atomic
from cnnlab.models import Model, build_model, count_parameters, get_family
from cnnlab.numpy_nn import to_torch_state_dict
from cnnlab.options import cli_name
from cnnlab.training.checkpoints import CHECKPOINT_NAME, load_checkpoint, refused_object
from cnnlab.training.config import TrainConfig, build_training_kit
from cnnlab.training.distributed import SINGLE, World, check_distributable
from cnnlab.training.folders import CHECKPOINT_DIR, claim_folder
from cnnlab.training.loop import Arrays, History, evaluate, fit

MODEL_FILE, CONFIG_FILE = "model.pt", "config.json"
#: Settings a resumed run may change: ``epochs`` (upward) and where it runs.
RESUMABLE_CHANGES = ("epochs", "device")


class ResumeConflictError(UserError, ValueError):
    """Settings given for a resumed run differ from the run's own."""


class RunFilesError(UserError):
    """A run folder's files cannot be used (damaged ``model.pt``, weights of another network, ...)."""


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

    @property
    def interrupted(self) -> bool:
        """Ctrl-C ended training early: the model and test metrics are those of epoch :attr:`model_epoch`."""
        return self.history.interrupted

    @property
    def model_epoch(self) -> int:
        """The epoch whose weights are in ``model.pt`` (the last finished one); 0: none finished, none saved."""
        return self.history.epochs

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "dataset": self.config.dataset, "history": self.history.to_dict(),
                "interrupted": self.interrupted, "model_epoch": self.model_epoch,
                "test_loss": self.test_loss, "test_acc": self.test_acc, "parameters": self.parameters,
                "train_size": self.train_size, "val_size": self.val_size, "test_size": self.test_size,
                "seconds": self.seconds, "files": {k: str(v) for k, v in self.files.items()}}


def training_kit(config: TrainConfig, model: Model, steps_total: int) -> tuple[Any, Any, Any]:
    """``(optimizer, loss_fn, scheduler or None)`` for ``model`` from its family's training classes (see
    :func:`cnnlab.training.config.build_training_kit`)."""
    return build_training_kit(config, get_family(config.engine).classes(), model.parameters(), steps_total)


def load_data(config: TrainConfig, root: str | Path | None, progress: bool = False) -> dict[str, Arrays]:
    """Train / val / test arrays ``(x float32 (N, C, H, W), y int64)`` for ``config`` (may raise DataError).

    ``max_datapoints`` keeps the first N images of every split (as the assignment's ``--max_datapoints`` limits what is
    trained and validated on); the CIFAR-10 holdout is the fixed default one (seed 0), so runs with different
    training seeds validate on the same images.
    """
    datasets = data.load_splits(config.dataset, root=root, max_datapoints=config.max_datapoints,
                                val_source=config.val_source, progress=progress)
    return {split: data.prepare(ds, normalization=config.normalization) for split, ds in datasets.items()}


def resume_conflicts(saved: TrainConfig, wanted: TrainConfig) -> list[str]:
    """The settings in which ``wanted`` differs from the run's ``saved`` ones, as ``"--lr 0.5 (the run: 0.01)"``,
    besides those a resumed run may change (:data:`RESUMABLE_CHANGES`)."""
    return [f"{cli_name(f.name)} {getattr(wanted, f.name)} (the run: {getattr(saved, f.name)})"
            for f in dataclasses.fields(TrainConfig)
            if f.name not in RESUMABLE_CHANGES and getattr(wanted, f.name) != getattr(saved, f.name)]


def _conflict_message(folder: Path, conflicts: list[str]) -> str:
    return (f"--resume continues the run in {folder} with its own settings, but {'; '.join(conflicts)} differ; "
            "drop those options (only --epochs may grow), or start afresh with --overwrite")


def resume_config(folder: str | Path, given: Mapping[str, Any]) -> tuple[TrainConfig, int]:
    """The settings to resume the run in ``folder`` with, and its finished epochs: the run's ``config.json`` with
    ``given`` applied (only ``epochs`` -- at least the finished epochs -- and ``device`` may differ; ``None``
    values mean "not given"). :class:`ResumeConflictError` names each conflicting setting with both values."""
    folder = Path(folder)
    state = load_checkpoint(folder / CHECKPOINT_DIR / CHECKPOINT_NAME)
    saved = read_config(folder)
    finished = History.from_dict(state["history"]).epochs
    values = {key: value for key, value in given.items() if value is not None}
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown:
        raise ValueError(f"unknown training settings {unknown}")
    wanted = dataclasses.replace(saved, **values)
    conflicts = resume_conflicts(saved, wanted)
    if conflicts:
        raise ResumeConflictError(_conflict_message(folder, conflicts))
    if wanted.epochs < finished:
        raise ResumeConflictError(f"--epochs {wanted.epochs}: the run in {folder} has already finished {finished} "
                                  f"epochs; give --epochs {finished} or more")
    return wanted, finished


def train_model(config: TrainConfig, out_dir: str | Path, *, root: str | Path | None = None, resume: bool = False,
                overwrite: bool = False, progress: bool = True, arrays: dict[str, Arrays] | None = None,
                world: World | None = None) -> TrainResult:
    """Train ``config.model`` on its dataset, evaluate on the test split, write ``config.json`` (first),
    ``checkpoints/`` (every epoch) and ``model.pt`` into ``out_dir``.

    ``resume``: continue the run in ``out_dir`` (its settings must equal ``config`` except ``epochs``, which may
    grow, and ``device``); ``overwrite``: replace the run in ``out_dir``; without either, a folder holding a run is
    refused (:class:`~cnnlab.training.folders.RunExistsError`). ``arrays`` may supply pre-loaded
    ``{"train", "val", "test"}`` arrays (else they are read from ``root``). After Ctrl-C the result is
    :attr:`TrainResult.interrupted`; ``model.pt`` and the test metrics are then those of the last finished epoch
    (none are written when no epoch finished).

    ``world``: one of the ranks of a torchrun launch (a torch engine; see :mod:`cnnlab.training.distributed`).
    Rank 0 claims ``out_dir``, writes the files and loads the data first (it may download them); the others wait
    for it, then all train and evaluate together. After Ctrl-C rank 0 alone tests the last finished epoch.
    """
    config.validate()
    world = world if world is not None else SINGLE
    check_distributable(config.engine, config.batch_size, world.size)
    start = time.perf_counter()
    out_dir = Path(out_dir)
    files = {"model": out_dir / MODEL_FILE, "config": out_dir / CONFIG_FILE}
    with world.main_holds(lambda: claim_folder(out_dir, resume=resume, overwrite=overwrite)):
        with world.main_first():
            if world.is_main:
                if resume:
                    resume_config(out_dir, config.to_dict())  # raises unless config is the run's (but epochs, device)
                write_text_atomic(files["config"], json.dumps(config.to_dict(), indent=2) + "\n")
            splits = arrays if arrays is not None else load_data(config, root, progress and world.is_main)
        device: str | torch.device | None = None if not get_family(config.engine).autograd else config.device
        model = build_model(config.model, config.engine, conv_algorithm=config.conv_algorithm, seed=config.seed)
        if config.channels_last:  # the weights' layout makes every convolution's output channels-last too
            assert isinstance(model, torch.nn.Module), "check() allows channels_last for the torch engines only"
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # (not in the stubs)
        steps_total = config.epochs * math.ceil(len(splits["train"][1]) / config.batch_size)
        optimizer, loss_fn, scheduler = training_kit(config, model, steps_total)
        history = fit(model, loss_fn, optimizer, splits["train"], splits["val"], epochs=config.epochs,
                      batch_size=config.batch_size, seed=config.seed, scheduler=scheduler,
                      augment=config.augmentation(), device=device, progress=progress,
                      checkpoint_dir=out_dir / CHECKPOINT_DIR, resume=resume,
                      label=f"{config.model} ({config.engine})", world=world)
        device = world.device if world.distributed else device
        test_loss = test_acc = None
        if history.epochs and world.is_main:  # the weights of the last finished epoch (fit restores them after Ctrl-C)
            state = to_torch_state_dict(model.state_dict())
            atomic_write(files["model"], lambda file: torch.save(state, file))
        if not history.epochs:
            del files["model"]
        elif not history.interrupted:
            test_loss, test_acc = evaluate(model, loss_fn, splits["test"], device=device, world=world)
        elif world.is_main:  # after Ctrl-C the other ranks may be gone: no collectives
            test_loss, test_acc = evaluate(model, loss_fn, splits["test"], device=device)
    return TrainResult(config, history, test_loss, test_acc, count_parameters(model), len(splits["train"][1]),
                       len(splits["val"][1]), len(splits["test"][1]), time.perf_counter() - start, out_dir, files)


def read_config(folder: str | Path) -> TrainConfig:
    """The :class:`TrainConfig` of the run in ``folder`` (its ``config.json``), with a clear error otherwise."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: point at the folder of a 'cnnlab train' run "
                                f"(it holds {MODEL_FILE} and {CONFIG_FILE})")
    try:
        values = json.loads(path.read_text())
        if not isinstance(values, dict):
            raise ValueError(f"expected a JSON object of settings, got {type(values).__name__}")
        return TrainConfig.from_dict(values)
    except (ValueError, TypeError, UnicodeDecodeError) as error:
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
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile, OSError, pickle.UnpicklingError) as error:
        refused = refused_object(error)
        if refused is not None:
            raise RunFilesError(f"{weights}: holds a Python object ({refused}) besides tensors; it was not loaded, "
                                "as that could run code") from None
        detail = "the file is empty" if isinstance(error, EOFError) else str(error).split(". ")[0][:160]
        raise RunFilesError(f"{weights}: damaged or not a weights file, not a readable {MODEL_FILE} ({detail}); "
                            "train the run again (cnnlab train --overwrite --out ...)") from None
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise RunFilesError(f"{weights}: expected a state_dict of tensors for a {architecture}, got "
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
        raise RunFilesError(f"{weights}: these are not the weights of a {architecture}, which {CONFIG_FILE} beside "
                            f"it names ({'; '.join(problems)}); was the file copied from a run of another network?")
    return state

