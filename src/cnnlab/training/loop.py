"""Training and evaluation loops for both engines: ``fit`` / ``evaluate`` / ``predict`` and ``History``.

One loop serves the NumPy engine (``cnnlab.numpy_nn``: explicit ``loss.backward()`` and ``model.backward``) and
torch ``nn.Module``s (autograd), so both are trained, checkpointed and reported the same way. Data are NumPy arrays:
images ``x`` float32 ``(N, C, H, W)`` (finite) and labels ``y`` int64 ``(N,)`` in ``0..classes-1``. Torch models also
train data-parallel over the processes of a :class:`~cnnlab.training.distributed.World` (``world=``; see
:mod:`cnnlab.training.distributed` for how that stays the single-process run).
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from cnnlab import numpy_nn
from cnnlab.errors import DeviceUnavailable
from cnnlab.numpy_nn._checks import NonFiniteError
from cnnlab.threads import blas_threads
from cnnlab.training.checkpoints import CHECKPOINT_NAME, CheckpointError, load_checkpoint, save_checkpoint
from cnnlab.training.distributed import SINGLE, World

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
    """The loss, the activations or the weights became NaN or infinite; ``history`` holds the epochs finished
    before (and the model is back at the weights of the last of them)."""

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
        #: What the training steps run: the model, or its DistributedDataParallel wrapper (:meth:`distribute`).
        self.trained: torch.nn.Module = self.model

    def distribute(self, world: World) -> None:
        """Train through ``DistributedDataParallel`` over ``world``: every backward pass averages the gradients of
        the ranks (and the wrapper starts every rank from rank 0's weights)."""
        from torch.nn.parallel import DistributedDataParallel

        self.trained = DistributedDataParallel(self.model,
                                               device_ids=[self.device] if self.device.type == "cuda" else None)

    def _tensors(self, x: np.ndarray, y: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        xb = torch.from_numpy(np.ascontiguousarray(x)).to(self.device, non_blocking=True)
        yb = None if y is None else torch.from_numpy(np.ascontiguousarray(y)).to(self.device, non_blocking=True)
        return xb, yb

    def set_training(self, training: bool) -> None:
        self.model.train(training)

    def train_step(self, optimizer: Any, x: np.ndarray, y: np.ndarray, weight: float = 1.0) -> tuple[float, int]:
        """One optimizer step on ``(x, y)``; the mean loss and the number of correct predictions. The gradient is
        that of ``weight`` times the mean loss (see :meth:`shared_step`)."""
        xb, yb = self._tensors(x, y)
        assert yb is not None
        optimizer.zero_grad(set_to_none=True)
        logits = self.trained(xb)
        if len(yb) == 0:  # an empty share of a small last batch: zero gradients, but a part in DDP's averaging
            (logits.sum() * 0.0).backward()
            optimizer.step()
            return 0.0, 0
        loss = self.loss_fn(logits, yb)
        (loss if weight == 1.0 else loss * weight).backward()
        optimizer.step()
        return float(loss.item()), int((logits.argmax(1) == yb).sum().item())

    def shared_step(self, optimizer: Any, x: np.ndarray, y: np.ndarray, world: World) -> tuple[float, int]:
        """One step on the global batch ``(x, y)``, of which this rank trains its share ``b`` of ``B`` images; the
        mean loss and correct predictions of the whole batch (summed over the ranks).

        DDP averages the ranks' gradients; weighting this rank's mean loss by ``W * b / B`` makes that average
        ``(1/W) sum_r (W b_r / B) mean_r = (1/B) sum of all B losses``: the single-process gradient, whatever the
        shares."""
        share = world.shard(len(y))
        xs, ys = x[share], y[share]
        loss, correct = self.train_step(optimizer, xs, ys, weight=world.size * len(ys) / len(y))
        loss_sum, correct_sum = world.all_sum([loss * len(ys), correct])
        return loss_sum / len(y), round(correct_sum)

    def logits(self, x: np.ndarray) -> np.ndarray:
        xb, _ = self._tensors(x)
        with torch.inference_mode():
            return self.model(xb).float().cpu().numpy()

    def batch_loss(self, logits: np.ndarray, y: np.ndarray) -> float:
        with torch.inference_mode():
            return float(self.loss_fn(torch.from_numpy(logits), torch.from_numpy(np.asarray(y))).item())

    def snapshot(self) -> dict[str, Any]:
        """A copy of the model's weights (and buffers), for :meth:`restore`."""
        return {key: value.detach().clone() for key, value in self.model.state_dict().items()}

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.model.load_state_dict(snapshot)

    def weights_finite(self) -> bool:
        with torch.no_grad():
            return all(bool(torch.isfinite(p).all()) for p in self.model.parameters())


class _NumpySteps:
    """Batch-level operations of a NumPy-engine model (hand-written backward)."""

    @staticmethod
    @contextlib.contextmanager
    def threads() -> Iterator[None]:
        """One BLAS thread: the engine's matrix products are small (cache-sized chunks), and splitting them over
        threads gains little while making every call wait for descheduled helpers on a busy machine. NumPy's
        overflow warnings are off: the layers' input checks stop a diverging run with a clearer message."""
        with blas_threads(1), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            yield

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

    def snapshot(self) -> dict[str, Any]:
        return dict(self.model.state_dict())  # already copies

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.model.load_state_dict(snapshot)

    def weights_finite(self) -> bool:
        return all(bool(np.isfinite(p.data).all()) for p in self.model.parameters())


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
    if not (np.isfinite(x.min()) and np.isfinite(x.max())):  # two reductions: no copy of the data
        bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
        raise ValueError(f"{what}: {int(bad.sum())} image(s) contain NaN or inf, the first is image "
                         f"{int(np.argmax(bad))}; fix the data (e.g. a normalisation that divides by a zero std)")
    if y.min() < 0:
        index = int(np.argmax(y < 0))
        raise ValueError(f"{what}: label {int(y[index])} of image {index} is negative; labels are class indices "
                         "0, 1, ..., classes - 1")
    return x, y.astype(np.int64, copy=False)


def _check_label_range(steps: _TorchSteps | _NumpySteps, x: np.ndarray, y: np.ndarray, what: str) -> None:
    """Labels must index the model's outputs: one probe forward pass (evaluation mode) tells how many there are."""
    steps.set_training(False)
    with steps.threads():
        logits = steps.logits(x[:1])
    if logits.ndim == 2 and int(y.max()) >= logits.shape[1]:
        index = int(np.argmax(y >= logits.shape[1]))
        raise ValueError(f"{what}: label {int(y[index])} of image {index} is out of range for a model with "
                         f"{logits.shape[1]} outputs (classes 0..{logits.shape[1] - 1}); does the model fit the "
                         "dataset?")


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
             device: str | torch.device | None = None, world: World | None = None) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``data = (x, y)``, in evaluation mode.

    ``world``: every rank evaluates its contiguous share of the data (:meth:`World.shard`) and the sums are added
    up, so all ranks return the numbers of one process evaluating everything (every rank must call this).
    """
    x, y = _check_data(data, "evaluate data")
    world = world if world is not None else SINGLE
    steps = _steps(model, loss_fn, device)
    _check_label_range(steps, x, y, "evaluate data")
    steps.set_training(False)
    share = world.shard(len(y))
    xs, ys = x[share], y[share]
    total_loss, correct = 0.0, 0
    with steps.threads():
        for index in _batches(len(xs), batch_size):
            logits = steps.logits(xs[index])
            total_loss += steps.batch_loss(logits, ys[index]) * len(ys[index])
            correct += int((logits.argmax(1) == ys[index]).sum())
    total_loss, total_correct = world.all_sum([total_loss, correct])
    return total_loss / len(y), total_correct / len(y)


class _NonFinite(ArithmeticError):
    """Batch ``batch`` (1-based) of an epoch went non-finite; ``what`` says how (``"the loss became nan"``)."""

    def __init__(self, what: str, batch: int) -> None:
        super().__init__(f"{what} at batch {batch}")
        self.what, self.batch = what, batch


def _non_finite_activations(error: NonFiniteError) -> str:
    """``"NaN/inf values reached the input of conv2: Conv2d(...)"``, from a NumPy-engine layer's input check."""
    return f"NaN/inf values reached the {error.what or 'input'} of {error.layer or 'a layer'}"


@contextlib.contextmanager
def _deferred_interrupt() -> Iterator[None]:
    """Hold back Ctrl-C for the block (a checkpoint write and the bookkeeping of a finished epoch), then deliver it:
    an epoch is either finished everywhere (history, checkpoint, model) or nowhere. Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[object] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt


def _train_epoch(steps: _TorchSteps | _NumpySteps, optimizer: Any, scheduler: Any, x: np.ndarray, y: np.ndarray,
                 batches: list[np.ndarray | slice], augment: Augment | None, rng: np.random.Generator, where: str,
                 progress: bool, world: World) -> tuple[float, float]:
    """One pass over ``batches`` of ``(x, y)``: a step per batch (and a scheduler step after it); returns the mean
    training loss and accuracy. Raises :class:`_NonFinite` at the first NaN / infinite loss or activation.

    Distributed, every rank augments the whole global batch (the same draws as one process) and trains its share.
    """
    total_loss, correct, seen = 0.0, 0, 0
    bar = tqdm(batches, desc=where, disable=not progress, leave=False, unit="batch", dynamic_ncols=True)
    try:
        for batch_number, index in enumerate(bar, start=1):
            xb, yb = x[index], y[index]
            if augment is not None:
                xb = augment(xb, rng)
            try:
                if world.distributed:
                    assert isinstance(steps, _TorchSteps)  # fit refuses the NumPy engine
                    loss, batch_correct = steps.shared_step(optimizer, xb, yb, world)
                else:
                    loss, batch_correct = steps.train_step(optimizer, xb, yb)
            except NonFiniteError as error:  # the NumPy engine's layers refuse NaN/inf inputs
                raise _NonFinite(_non_finite_activations(error), batch_number) from None
            if not math.isfinite(loss):
                raise _NonFinite(f"the loss became {loss}", batch_number)
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
    world: World | None = None,
) -> History:
    """Train ``model`` for ``epochs`` epochs of seeded shuffled mini-batches and return its :class:`History`.

    - The data are checked first: images finite, labels integers in ``0..outputs-1`` (one probe forward pass).
    - The last batch of an epoch may be smaller: the dataset size need not divide ``batch_size``.
    - ``scheduler.step()`` is called after every optimizer step (per batch, as OneCycleLR expects).
    - ``augment(x_batch, rng)`` transforms each training batch (e.g. random crop and flip).
    - ``checkpoint_dir``: after every epoch the model, optimizer, scheduler, history and RNG states are written to
      ``checkpoint_dir/checkpoint.pt`` (:mod:`cnnlab.training.checkpoints`: no code, atomic); ``resume=True``
      continues from there to ``epochs`` (bit for bit as an uninterrupted run). ``epochs`` may be more than the
      run was started with: a scheduler with ``total_steps`` (one-cycle) built for the new total then continues
      from the step reached (the learning rate moves to that step's value on the longer cycle).
    - Ctrl-C ends training early: the finished epochs are returned with ``history.interrupted = True`` and the
      model is put back to the weights of the last finished epoch (those of the checkpoint).
    - A NaN or infinite loss, NaN/inf activations (the NumPy engine's layers refuse them) or weights raise
      :class:`TrainingDiverged` naming the epoch and batch, carrying the history so far; the model is put back to
      the weights of the last finished epoch.
    - ``label`` names the network in the progress bar and the epoch lines (e.g. ``"lenet (torch)"``).
    - ``world`` (:mod:`cnnlab.training.distributed`): train a torch model data-parallel, every rank calling ``fit``
      alike (same data, seed and ``batch_size``, the *global* batch, of at least ``world.size`` images); the
      history and weights are those of one process training alone (up to float rounding). Rank 0 alone writes
      the checkpoint and shows progress; every rank reads the checkpoint on ``resume``.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    x, y = _check_data(train_data, "train_data")
    val = _check_data(val_data, "val_data") if val_data is not None else None
    world = world if world is not None else SINGLE
    if world.distributed:
        device = _distributed_device(device, world, model, batch_size)
    steps = _steps(model, loss_fn, device)
    _check_label_range(steps, x, y, "train_data")
    if val is not None:
        _check_label_range(steps, *val, "val_data")
    rng = np.random.default_rng(seed)
    if isinstance(steps, _TorchSteps):
        torch.manual_seed(seed)
    history = History()
    checkpoint = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    if resume:
        if checkpoint is None:
            raise ValueError("resume=True needs checkpoint_dir")
        history = _resume(checkpoint, model, optimizer, scheduler, rng, epochs)
    if world.distributed:
        assert isinstance(steps, _TorchSteps)
        steps.distribute(world)
    progress = progress and world.is_main
    prefix = f"{label}: " if label else ""
    n_batches = math.ceil(len(x) / batch_size)
    last_good = steps.snapshot()  # the weights of the last finished epoch (or the initial ones)
    with steps.threads():
        try:
            for epoch in range(history.epochs + 1, epochs + 1):
                start = time.perf_counter()
                steps.set_training(True)
                batches = _batches(len(x), batch_size, rng.permutation(len(x)))
                where = f"{prefix}epoch {epoch}/{epochs}"
                try:
                    train_loss, train_acc = _train_epoch(steps, optimizer, scheduler, x, y, batches, augment, rng,
                                                         where, progress, world)
                    if not steps.weights_finite():
                        raise _NonFinite("the weights became NaN or inf", n_batches)
                    val_loss, val_acc = (evaluate(model, loss_fn, val, eval_batch_size, device=device, world=world)
                                         if val is not None else (None, None))
                except (_NonFinite, NonFiniteError) as bad:
                    steps.restore(last_good)
                    what, batch = ((bad.what, bad.batch) if isinstance(bad, _NonFinite)
                                   else (_non_finite_activations(bad) + " while validating", n_batches))
                    raise TrainingDiverged(
                        f"training stopped: {what} at {prefix}epoch {epoch}, batch {batch}/{n_batches} (learning "
                        f"rate {_current_lr(optimizer):g}); the {history.epochs} finished epochs are kept. Lower the "
                        "learning rate or check the inputs for NaN/inf.", history) from None
                record = EpochRecord(epoch, train_loss, train_acc, val_loss, val_acc, _current_lr(optimizer),
                                     time.perf_counter() - start)
                with _deferred_interrupt():  # the epoch counts everywhere (checkpoint, history, model) or nowhere
                    if checkpoint is not None and world.is_main:
                        save_checkpoint(checkpoint, _state(steps, model, optimizer, scheduler, rng,
                                                           History([*history.records, record])))
                    history.records.append(record)
                    last_good = steps.snapshot()
                if progress:
                    val_text = f", val loss {val_loss:.4f}, val acc {val_acc:.4f}" if val is not None else ""
                    tqdm.write(f"{where}: train loss {record.train_loss:.4f}, train acc {record.train_acc:.4f}"
                               f"{val_text} ({record.seconds:.1f} s)", file=sys.stderr)
        except KeyboardInterrupt:
            steps.restore(last_good)
            history.interrupted = True
    return history


def _distributed_device(device: str | torch.device | None, world: World, model: Any,
                        batch_size: int) -> torch.device:
    """The device of this rank (``world.device``); ``ValueError`` for a NumPy-engine model, another device, or a
    global batch smaller than the number of ranks."""
    if not _is_torch(model):
        raise ValueError("the NumPy engine does not train distributed (it has no process groups); train it in one "
                         "process")
    if device is not None and str(device) != "auto" and resolve_device(device).type != world.device.type:
        raise ValueError(f"device={str(device)!r}, but the process group of this run works on {world.device}")
    if batch_size < world.size:
        raise ValueError(f"batch_size={batch_size}: the global batch is shared by {world.size} processes, so it needs "
                         f"at least {world.size} images")
    return world.device


def _state(steps: _TorchSteps | _NumpySteps, model: Any, optimizer: Any, scheduler: Any, rng: np.random.Generator,
           history: History) -> dict[str, Any]:
    """Everything a checkpoint holds (see :mod:`cnnlab.training.checkpoints`)."""
    torch_engine = isinstance(steps, _TorchSteps)
    return {
        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": rng.bit_generator.state, "history": history.to_dict(),
        "torch_rng": torch.get_rng_state() if torch_engine else None,
        "cuda_rng": (torch.cuda.get_rng_state_all() if isinstance(steps, _TorchSteps) and steps.device.type == "cuda"
                     else None),
        # the NumPy engine draws its dropout masks from its own generator
        "numpy_nn_rng": None if torch_engine else numpy_nn.init.default_generator().bit_generator.state,
    }


def _resume(path: Path, model: Any, optimizer: Any, scheduler: Any, rng: np.random.Generator,
            epochs: int) -> History:
    """Put model, optimizer, scheduler and random generators where the checkpoint at ``path`` left them; its
    history. A checkpoint of another network is a :class:`CheckpointError`."""
    state = load_checkpoint(path)
    history = History.from_dict(state["history"])
    if epochs < history.epochs:
        raise ValueError(f"epochs={epochs}, but the checkpoint has already finished {history.epochs} epochs; "
                         f"resume with epochs of at least {history.epochs}")
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    except (RuntimeError, ValueError, KeyError, TypeError) as error:
        detail = " ".join(str(error).split())[:240]
        raise CheckpointError(f"{path}: the checkpoint does not fit this network and optimizer ({detail}); it is "
                              "another run's. Start afresh with --overwrite, or point --out at that run") from None
    if scheduler is not None and state.get("scheduler") is not None:
        _restore_scheduler(scheduler, state["scheduler"])
    rng.bit_generator.state = state["rng"]
    if state.get("torch_rng") is not None:
        torch.set_rng_state(state["torch_rng"])
    if state.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    if state.get("numpy_nn_rng") is not None:
        numpy_nn.init.default_generator().bit_generator.state = state["numpy_nn_rng"]
    return history


def _restore_scheduler(scheduler: Any, saved: dict[str, Any]) -> None:
    """Load a scheduler's saved state; when it was planned for another number of steps (``epochs`` changed on
    resume), keep the new plan and move it to the step reached instead (one-cycle: the rest of a longer cycle)."""
    total = getattr(scheduler, "total_steps", None)
    if total is None or saved.get("total_steps") in (None, total):
        scheduler.load_state_dict(saved)
        return
    reached = int(saved["last_epoch"])
    if reached > total:
        raise ValueError(f"the scheduler has already taken {reached} steps, more than the {total} it is planned for")
    scheduler.last_epoch = reached - 1
    with warnings.catch_warnings():  # torch warns about a scheduler step before an optimizer step
        warnings.simplefilter("ignore")
        scheduler.step()  # sets the lr (and momentum) of step `reached` of the new plan
