"""Training and evaluation loops for both engines: ``fit`` / ``evaluate`` / ``predict`` and ``History``.

One loop serves the NumPy engine (``cnnlab.numpy_nn``: explicit ``loss.backward()`` and ``model.backward``) and
torch ``nn.Module``s (autograd), so both are trained, checkpointed and reported the same way. Data are NumPy arrays:
images ``x`` float32 ``(N, C, H, W)`` and labels ``y`` int64 ``(N,)``.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from cnnlab import numpy_nn
from cnnlab.errors import DeviceUnavailable
from cnnlab.threads import blas_threads
from cnnlab.training.checkpoints import CHECKPOINT_NAME, load_checkpoint, save_checkpoint

Arrays = tuple[np.ndarray, np.ndarray]
Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]

@dataclass
class EpochRecord:
    """Metrics of one finished epoch (losses are means per sample, accuracies in [0, 1])."""

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float | None
    val_acc: float | None
    lr: float
    seconds: float


@dataclass
class History:
    """Per-epoch metrics of a training run; ``interrupted`` is set when Ctrl-C ended it early."""

    records: list[EpochRecord] = field(default_factory=list)
    interrupted: bool = False

    @property
    def epochs(self) -> int:
        return len(self.records)

    @property
    def train_loss(self) -> list[float]:
        return [r.train_loss for r in self.records]

    @property
    def train_acc(self) -> list[float]:
        return [r.train_acc for r in self.records]

    @property
    def val_loss(self) -> list[float | None]:
        return [r.val_loss for r in self.records]

    @property
    def val_acc(self) -> list[float | None]:
        return [r.val_acc for r in self.records]

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.records)

    def to_dict(self) -> dict[str, Any]:
        return {"records": [asdict(r) for r in self.records], "interrupted": self.interrupted}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        return cls([EpochRecord(**r) for r in data["records"]], bool(data.get("interrupted", False)))


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; ``history`` holds the epochs finished before."""

    def __init__(self, message: str, history: History) -> None:
        super().__init__(message)
        self.history = history


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``'auto'``/``None`` -> CUDA when available else CPU; ``'cuda'`` without a GPU -> a one-line
    :class:`~cnnlab.errors.DeviceUnavailable` (a ``RuntimeError``)."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable(f"--device {device!s}: CUDA is not available here (torch {torch.__version__}); "
                                "use --device cpu or auto")
    return resolved


def _is_torch(model: object) -> bool:
    if isinstance(model, torch.nn.Module):
        return True
    if isinstance(model, numpy_nn.Module):
        return False
    raise TypeError(f"expected a torch.nn.Module or a cnnlab.numpy_nn Module, got {type(model).__name__}")


class _TorchSteps:
    """Batch-level operations of a torch model (autograd backward)."""

    #: torch's thread pool is left as the caller set it.
    threads = staticmethod(nullcontext)

    def __init__(self, model: torch.nn.Module, loss_fn: Any, device: str | torch.device | None) -> None:
        self.device = resolve_device(device)
        self.model = model.to(self.device)
        self.loss_fn = loss_fn

    def _tensors(self, x: np.ndarray, y: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        xb = torch.from_numpy(np.ascontiguousarray(x)).to(self.device, non_blocking=True)
        yb = None if y is None else torch.from_numpy(np.ascontiguousarray(y)).to(self.device, non_blocking=True)
        return xb, yb

    def set_training(self, training: bool) -> None:
        self.model.train(training)

    def train_step(self, optimizer: Any, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
        xb, yb = self._tensors(x, y)
        optimizer.zero_grad(set_to_none=True)
        logits = self.model(xb)
        loss = self.loss_fn(logits, yb)
        loss.backward()
        optimizer.step()
        return float(loss.item()), int((logits.argmax(1) == yb).sum().item())

    def logits(self, x: np.ndarray) -> np.ndarray:
        xb, _ = self._tensors(x)
        with torch.inference_mode():
            return self.model(xb).float().cpu().numpy()

    def batch_loss(self, logits: np.ndarray, y: np.ndarray) -> float:
        with torch.inference_mode():
            return float(self.loss_fn(torch.from_numpy(logits), torch.from_numpy(np.asarray(y))).item())


class _NumpySteps:
    """Batch-level operations of a NumPy-engine model (hand-written backward)."""

    @staticmethod
    def threads() -> AbstractContextManager[object]:
        """One BLAS thread: the engine's matrix products are small (cache-sized chunks), and splitting them over
        threads gains little while making every call wait for descheduled helpers on a busy machine."""
        return blas_threads(1)

    def __init__(self, model: Any, loss_fn: Any, device: str | torch.device | None) -> None:
        if device is not None and str(device) not in ("auto", "cpu"):
            raise ValueError(f"the NumPy engine runs on the CPU only; got device={str(device)!r}")
        self.model = model
        self.loss_fn = loss_fn

    def set_training(self, training: bool) -> None:
        self.model.train() if training else self.model.eval()

    def train_step(self, optimizer: Any, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
        optimizer.zero_grad()
        logits = self.model(x)
        loss = float(self.loss_fn(logits, y))
        # Like torch, skip dL/dx of the data: nothing uses it, and it is the costliest gradient of a first conv.
        self.model.backward(self.loss_fn.backward(), need_input_grad=False)
        optimizer.step()
        return loss, int((logits.argmax(1) == y).sum())

    def logits(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model(x))

    def batch_loss(self, logits: np.ndarray, y: np.ndarray) -> float:
        return float(self.loss_fn(logits, y))


def _steps(model: Any, loss_fn: Any, device: str | torch.device | None) -> _TorchSteps | _NumpySteps:
    return _TorchSteps(model, loss_fn, device) if _is_torch(model) else _NumpySteps(model, loss_fn, device)


def _check_data(data: Arrays, what: str) -> Arrays:
    if not (isinstance(data, tuple | list) and len(data) == 2):
        raise TypeError(f"{what} must be a pair (x, y) of arrays, got {type(data).__name__}")
    x, y = (np.asarray(a) for a in data)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{what}: images must be floating point (e.g. float32 in [0, 1] or standardised), got "
                        f"{x.dtype}; convert uint8 images with cnnlab.data.prepare or to_float first")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{what}: labels must be a 1-D integer array, got dtype {y.dtype} and shape {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"{what}: {len(x)} images but {len(y)} labels")
    if len(x) == 0:
        raise ValueError(f"{what} is empty")
    return x, y.astype(np.int64, copy=False)


def _batches(n: int, batch_size: int, order: np.ndarray | None = None) -> list[np.ndarray | slice]:
    """Index batches of ``batch_size`` over ``range(n)`` (in ``order`` when given); the last may be smaller."""
    return [slice(start, start + batch_size) if order is None else order[start:start + batch_size]
            for start in range(0, n, batch_size)]


def _current_lr(optimizer: Any) -> float:
    if hasattr(optimizer, "param_groups"):
        return float(optimizer.param_groups[0]["lr"])
    return float(optimizer.lr)


def predict(model: Any, x: np.ndarray, batch_size: int = 1000, device: str | torch.device | None = None) -> np.ndarray:
    """Logits ``(N, classes)`` of ``model`` in evaluation mode for images ``x`` ``(N, C, H, W)``."""
    steps = _steps(model, None, device)
    steps.set_training(False)
    with steps.threads():
        return np.concatenate([steps.logits(x[index]) for index in _batches(len(x), batch_size)])


def evaluate(model: Any, loss_fn: Any, data: Arrays, batch_size: int = 1000,
             device: str | torch.device | None = None) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``data = (x, y)``, in evaluation mode."""
    x, y = _check_data(data, "evaluate data")
    steps = _steps(model, loss_fn, device)
    steps.set_training(False)
    total_loss, correct = 0.0, 0
    with steps.threads():
        for index in _batches(len(x), batch_size):
            logits = steps.logits(x[index])
            total_loss += steps.batch_loss(logits, y[index]) * len(y[index])
            correct += int((logits.argmax(1) == y[index]).sum())
    return total_loss / len(y), correct / len(y)


class _NonFiniteLoss(ArithmeticError):
    """The loss of batch ``batch`` (1-based) became NaN or infinite."""

    def __init__(self, loss: float, batch: int) -> None:
        super().__init__(f"non-finite loss {loss} at batch {batch}")
        self.loss, self.batch = loss, batch


def _train_epoch(steps: _TorchSteps | _NumpySteps, optimizer: Any, scheduler: Any, x: np.ndarray, y: np.ndarray,
                 batches: list[np.ndarray | slice], augment: Augment | None, rng: np.random.Generator, where: str,
                 progress: bool) -> tuple[float, float]:
    """One pass over ``batches`` of ``(x, y)``: a step per batch (and a scheduler step after it); returns the mean
    training loss and accuracy. Raises :class:`_NonFiniteLoss` at the first NaN / infinite loss."""
    total_loss, correct, seen = 0.0, 0, 0
    bar = tqdm(batches, desc=where, disable=not progress, leave=False, unit="batch", dynamic_ncols=True)
    try:
        for batch_number, index in enumerate(bar, start=1):
            xb, yb = x[index], y[index]
            if augment is not None:
                xb = augment(xb, rng)
            loss, batch_correct = steps.train_step(optimizer, xb, yb)
            if not math.isfinite(loss):
                raise _NonFiniteLoss(loss, batch_number)
            if scheduler is not None:
                scheduler.step()
            total_loss += loss * len(yb)
            correct += batch_correct
            seen += len(yb)
            if batch_number % 20 == 0 or batch_number == len(batches):
                bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}")
    finally:
        bar.close()
    return total_loss / seen, correct / seen


def fit(
    model: Any,
    loss_fn: Any,
    optimizer: Any,
    train_data: Arrays,
    val_data: Arrays | None = None,
    *,
    epochs: int,
    batch_size: int,
    seed: int = 0,
    scheduler: Any = None,
    augment: Augment | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    eval_batch_size: int = 1000,
    label: str = "",
) -> History:
    """Train ``model`` for ``epochs`` epochs of seeded shuffled mini-batches and return its :class:`History`.

    - The last batch of an epoch may be smaller: the dataset size need not divide ``batch_size``.
    - ``scheduler.step()`` is called after every optimizer step (per batch, as OneCycleLR expects).
    - ``augment(x_batch, rng)`` transforms each training batch (e.g. random crop and flip).
    - ``checkpoint_dir``: after every epoch the model, optimizer, scheduler, history and RNG state are written to
      ``checkpoint_dir/checkpoint.pt``; ``resume=True`` continues from there to ``epochs``.
    - Ctrl-C ends training early: the finished epochs are returned with ``history.interrupted = True`` (the
      checkpoint holds the last finished epoch; the model keeps the weights of the interrupted one).
    - A NaN or infinite loss raises :class:`TrainingDiverged` carrying the history so far.
    - ``label`` names the network in the progress bar and the epoch lines (e.g. ``"lenet (torch)"``).
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    x, y = _check_data(train_data, "train_data")
    val = _check_data(val_data, "val_data") if val_data is not None else None
    steps = _steps(model, loss_fn, device)
    rng = np.random.default_rng(seed)
    if isinstance(steps, _TorchSteps):
        torch.manual_seed(seed)
    history = History()
    checkpoint = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    if resume:
        if checkpoint is None:
            raise ValueError("resume=True needs checkpoint_dir")
        state = load_checkpoint(checkpoint)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        rng.bit_generator.state = state["rng"]
        if state.get("torch_rng") is not None:
            torch.set_rng_state(state["torch_rng"])
        history = History.from_dict(state["history"])
    prefix = f"{label}: " if label else ""
    with steps.threads():
        try:
            for epoch in range(history.epochs + 1, epochs + 1):
                start = time.perf_counter()
                steps.set_training(True)
                batches = _batches(len(x), batch_size, rng.permutation(len(x)))
                where = f"{prefix}epoch {epoch}/{epochs}"
                try:
                    train_loss, train_acc = _train_epoch(steps, optimizer, scheduler, x, y, batches, augment, rng,
                                                         where, progress)
                except _NonFiniteLoss as bad:
                    raise TrainingDiverged(
                        f"training stopped: the loss became {bad.loss} at {prefix}epoch {epoch}, batch {bad.batch}/"
                        f"{math.ceil(len(x) / batch_size)} (learning rate {_current_lr(optimizer):g}); "
                        f"{history.epochs} finished epochs are kept. Lower the learning rate or check the inputs for "
                        "NaN/inf.", history) from None
                val_loss, val_acc = (evaluate(model, loss_fn, val, eval_batch_size, device=device)
                                     if val is not None else (None, None))
                record = EpochRecord(epoch, train_loss, train_acc, val_loss, val_acc, _current_lr(optimizer),
                                     time.perf_counter() - start)
                history.records.append(record)
                if progress:
                    val_text = f", val loss {val_loss:.4f}, val acc {val_acc:.4f}" if val is not None else ""
                    tqdm.write(f"{where}: train loss {record.train_loss:.4f}, train acc {record.train_acc:.4f}"
                               f"{val_text} ({record.seconds:.1f} s)", file=sys.stderr)
                if checkpoint is not None:
                    save_checkpoint(checkpoint, {
                        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict() if scheduler is not None else None,
                        "rng": rng.bit_generator.state, "history": history.to_dict(),
                        "torch_rng": torch.get_rng_state() if isinstance(steps, _TorchSteps) else None,
                    })
        except KeyboardInterrupt:
            history.interrupted = True
    return history
