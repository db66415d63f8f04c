"""Data-parallel training over several processes: ``torchrun --nproc-per-node N -m cnnlab train ...``.

torchrun starts ``N`` copies of the command and tells each its place through the environment (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``). :func:`process_group` reads it and joins the
processes into one group -- gloo on the CPU, nccl on CUDA with one GPU per local rank -- and yields the
:class:`World` that the training loop and the run use:

- **The same run as one process.** Every rank draws the same seeded permutation and cuts the same global batches of
  ``batch_size`` images as a single process would; rank ``r`` trains on its contiguous share
  (:meth:`World.shard`: ``[r*B//W, (r+1)*B//W)`` of a batch of ``B``, so shares differ by at most one image).
  ``DistributedDataParallel`` averages the gradients over the ``W`` ranks; each rank's mean loss is weighted by
  ``W * b_r / B`` (its share ``b_r`` of the batch), so the average is exactly the gradient of the mean loss over the
  whole global batch -- also when ``B`` does not divide by ``W`` and for the smaller last batch of an epoch (a rank
  whose share is empty contributes zeros). The result equals the single-process run up to float rounding (the
  order of the gradient sums differs). The exception are networks with BatchNorm (``cifar-resnet``, the ``bnres-*``
  study nets): as with plain ``DistributedDataParallel``, each rank normalises with its share's statistics and keeps
  its own running statistics (rank 0's are saved), so their runs match a single process only statistically.
- **Augmentation**: every rank augments the whole global batch with the shared generator and keeps its share, so
  the random draws are those of the single-process run and an augmented run is the same run too (the augmentation
  is repeated on every rank; it is cheap next to a training step). torch's generator is seeded alike on every rank
  (dropout would draw the same masks on every rank's share, unlike one process; the zoo has no dropout).
- **Metrics**: the training loss and accuracy of every batch are summed over the ranks (so a NaN stops every rank
  at the same batch); validation and test sets are split into contiguous shares, evaluated in parallel and summed
  (:func:`cnnlab.training.evaluate` with ``world``), giving the single-process numbers.
- **Files**: rank 0 alone claims the run folder, writes ``config.json``, checkpoints, ``model.pt``, results and
  figures, and prints; where the others depend on it (the folder claim, loading -- perhaps downloading -- the data)
  they wait for it (:meth:`World.main_first`) and stop quietly with :class:`PeerFailed` when it failed. On resume
  every rank reads the checkpoint (the folder must be visible to all ranks, as it is on one machine).

The NumPy engine has no process groups: under torchrun it is refused (:func:`check_distributable`).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TypeVar

import torch
import torch.distributed as dist

from cnnlab.errors import UserError

#: Seconds a rank waits for the others at a collective before giving up (default 30 minutes, as torch's).
TIMEOUT_ENV = "CNNLAB_DIST_TIMEOUT"
#: How long a rank that fails only because rank 0 did waits before it exits (see :func:`let_main_fail_first`).
PEER_GRACE_SECONDS = 3.0
T = TypeVar("T")


class DistributedError(UserError):
    """Distributed training cannot start as asked (a backend or device missing, too few GPUs, ...)."""


class PeerFailed(UserError):
    """Rank 0 failed at a step the other ranks waited for; rank 0 says why, the others stop quietly."""


@dataclass(frozen=True)
class World:
    """The processes training one network together: this one's ``rank`` among ``size``, its ``local_rank`` on this
    machine and the ``device`` of the collectives (``cuda:<local_rank>`` for nccl, else the CPU). The default is one
    process alone, for which every method is a no-op."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes files and prints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def shard(self, n: int) -> slice:
        """This rank's contiguous share of ``range(n)``: ``[rank*n//size, (rank+1)*n//size)`` (empty when
        ``n < size`` leaves none for it)."""
        return slice(self.rank * n // self.size, (self.rank + 1) * n // self.size)

    def all_sum(self, values: Sequence[float]) -> list[float]:
        """``values`` summed over the ranks (float64), the same list on every rank."""
        if not self.distributed:
            return [float(v) for v in values]
        tensor = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return [float(v) for v in tensor.tolist()]

    def broadcast_text(self, text: str | None) -> str | None:
        """Rank 0's ``text`` (``None`` included) on every rank; the others pass anything. Sent as bytes, never
        pickled."""
        if not self.distributed:
            return text
        data = b"" if text is None or not self.is_main else text.encode()
        length = torch.tensor([-1 if text is None and self.is_main else len(data)], dtype=torch.int64,
                              device=self.device)
        dist.broadcast(length, src=0)
        size = int(length.item())
        if size < 0:
            return None
        payload = (torch.tensor(list(data), dtype=torch.uint8, device=self.device) if self.is_main
                   else torch.empty(size, dtype=torch.uint8, device=self.device))
        if size:
            dist.broadcast(payload, src=0)
        return bytes(payload.cpu().tolist()).decode()

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """Run the block on rank 0 first and on the other ranks only once it succeeded there (e.g. claim a folder,
        download data); a failure on rank 0 is re-raised there and is a :class:`PeerFailed` on the others."""
        if not self.distributed:
            yield
            return
        if not self.is_main:
            failure = self.broadcast_text(None)
            if failure is not None:
                raise PeerFailed(f"rank 0 failed: {failure}")
            yield
            return
        try:
            yield
        except BaseException as error:
            self.broadcast_text(f"{type(error).__name__}: {error}")
            raise
        self.broadcast_text(None)

    @contextlib.contextmanager
    def main_holds(self, claim: Callable[[], AbstractContextManager[T]]) -> Iterator[T | None]:
        """Enter ``claim()`` (e.g. :func:`~cnnlab.training.folders.claim_folder`) on rank 0 only and hold it for the
        block; the other ranks wait for the claim to succeed (:meth:`main_first`) and get ``None``."""
        with contextlib.ExitStack() as held:
            value: T | None = None
            with self.main_first():
                if self.is_main:
                    value = held.enter_context(claim())
            yield value


#: One process alone (no torchrun).
SINGLE = World()


def launched_size() -> int:
    """How many processes torchrun started for this run (``WORLD_SIZE``; 1 when not launched by it)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def launched_rank() -> int:
    """This process's rank among them (``RANK``; 0 when not launched by torchrun)."""
    try:
        return int(os.environ.get("RANK", "0")) if launched_size() > 1 else 0
    except ValueError:
        return 0


def share_of_cores(threads: int) -> int:
    """This process's share of ``threads`` when torchrun started several on this machine (``LOCAL_WORLD_SIZE``):
    ``max(1, threads // processes)``, so that together they do not oversubscribe the cores (a thread pool that
    waits for descheduled threads slows down many times over); ``threads`` itself for one process."""
    try:
        processes = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        processes = 1
    return max(1, threads // processes) if launched_size() > 1 else threads


def let_main_fail_first() -> None:
    """Wait :data:`PEER_GRACE_SECONDS` before a rank other than 0 exits with nothing to add to rank 0's failure:
    torchrun stops every worker as soon as one exits, so rank 0 goes first (its message printed, and named by
    torchrun as the failure)."""
    time.sleep(PEER_GRACE_SECONDS)


def check_distributable(engine: str, batch_size: int, size: int) -> None:
    """``ValueError`` when a run of ``engine`` with ``batch_size`` cannot be shared by ``size`` processes."""
    from cnnlab.models import get_family

    if size <= 1:
        return
    if not get_family(engine).autograd:
        raise ValueError(f"--engine {engine}: the NumPy engine does not run distributed (it has no process "
                         f"groups); run it as one process (without torchrun), or use --engine torch or torch-own "
                         f"for the {size} processes")
    if batch_size < size:
        raise ValueError(f"--batch-size {batch_size}: the global batch is shared by the {size} processes, so it "
                         f"needs at least {size} images")


def _timeout() -> datetime.timedelta:
    text = os.environ.get(TIMEOUT_ENV, "1800")
    try:
        seconds = float(text)
    except ValueError:
        raise DistributedError(f"${TIMEOUT_ENV}={text!r}: expected a number of seconds") from None
    if seconds <= 0:
        raise DistributedError(f"${TIMEOUT_ENV}={text!r}: expected a positive number of seconds")
    return datetime.timedelta(seconds=seconds)


def _group_device(device: str, local_rank: int, size: int) -> torch.device:
    """Where this rank trains: ``cuda:<local_rank>`` for ``cuda`` (or ``auto`` with a GPU), else the CPU."""
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if not use_cuda:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise DistributedError(f"--device cuda: CUDA is not available here (torch {torch.__version__}); use "
                               "--device cpu (gloo) or auto")
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise DistributedError(f"torchrun started more processes on this machine than it has GPUs ({count}): one GPU "
                               f"per process; use --nproc-per-node {count} or fewer, or --device cpu")
    return torch.device("cuda", local_rank)


@contextlib.contextmanager
def process_group(device: str = "auto") -> Iterator[World]:
    """The :class:`World` of this process: :data:`SINGLE` unless torchrun launched it with more than one process;
    then the default process group (gloo on the CPU, nccl on CUDA, each rank on GPU ``LOCAL_RANK``) for the block,
    torn down after it. ``device`` is the run's ``--device`` (``auto``, ``cpu`` or ``cuda``)."""
    size = launched_size()
    if size == 1:
        yield SINGLE
        return
    if not dist.is_available():
        raise DistributedError(f"this torch build ({torch.__version__}) has no torch.distributed")
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", os.environ["RANK"]))
    where = _group_device(device, local_rank, size)
    backend = "nccl" if where.type == "cuda" else "gloo"
    if backend == "nccl" and not dist.is_nccl_available():
        raise DistributedError(f"this torch build ({torch.__version__}) has no nccl; use --device cpu (gloo)")
    if where.type == "cuda":
        torch.cuda.set_device(where)
    owned = not dist.is_initialized()
    if owned:
        dist.init_process_group(backend, timeout=_timeout())
    try:
        yield World(rank, size, local_rank, where)
    finally:
        if owned:
            dist.destroy_process_group()
