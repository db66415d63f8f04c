"""The speed goals of issue 13 in one table, each measured against PyTorch in this run on this machine.

1. NumPy engine LeNet (CIFAR, batch 128) training throughput / torch's, with 2 threads each (torch's intra-op pool;
   the engine's 2 workers, one BLAS thread each) and with 1 thread each. Goal: >= 1.0 (floor 0.7).
2. The MNIST seed recipe's training (mnist-cnn, NumPy engine, 10 epochs of 10000 images, batch 50, SGD momentum,
   through :func:`cnnlab.training.fit`, no validation pass): seconds. Goal: under 3 s.
3. Own torch LeNet inference time / torch.nn's (``cnnlab.torch_nn`` im2col), batch 20 and 256, 1 and 2 threads.
   Goal: <= 1.0.

Ours and theirs are timed alternately (median of rounds), so a change of machine load hits both. Timings on a busy
machine mean little: the header prints the thread settings and the load average; run it on a quiet machine.
The data are random (speed does not depend on the values), so no dataset is needed.

Run: ``python benchmarks/bench_goals.py`` (``--quick`` for fewer repeats, ``--skip-mnist`` to leave out part 2).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

import numpy as np
import torch

from cnnlab import numpy_nn as nn
from cnnlab.models import build_model
from cnnlab.threads import blas_threads, engine_workers, thread_summary, torch_threads
from cnnlab.timing import measure
from cnnlab.training import fit

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks folder is not a package
from bench_numpy_engine import lenet_steps


def _threads(n: int) -> AbstractContextManager[None]:
    """``n`` threads for torch and ``n`` engine workers, each worker's BLAS on one thread."""
    stack = ExitStack()
    stack.enter_context(torch_threads(n))
    stack.enter_context(blas_threads(1))
    stack.enter_context(engine_workers(n))
    return stack


def _alternating_ms(ours: Callable[[], object], theirs: Callable[[], object], repeats: int,
                    rounds: int) -> tuple[float, float]:
    """Median milliseconds of ``ours`` and ``theirs``, timed in alternating rounds."""
    mine, other = [], []
    for _ in range(rounds):
        mine.append(measure(ours, warmup=1, repeats=repeats).median_s * 1e3)
        other.append(measure(theirs, warmup=1, repeats=repeats).median_s * 1e3)
    return float(np.median(mine)), float(np.median(other))


def lenet_training(repeats: int, rounds: int, batch: int = 128) -> tuple[float, float]:
    """ms per LeNet training step (forward, loss, backward without dL/dx of the data, SGD momentum): ours, torch's."""
    ours_step, torch_step = lenet_steps(batch)
    return _alternating_ms(lambda: ours_step(False), torch_step, repeats, rounds)


def mnist_seed_training_s() -> float:
    """Seconds of the MNIST seed recipe's training (10 epochs, 10000 images, batch 50) through ``fit``."""
    rng = np.random.default_rng(0)
    train = (rng.random((10_000, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 10_000))
    model = build_model("mnist-cnn", engine="numpy", seed=0)
    optimizer = nn.SGD(model.parameters(), lr=0.01, momentum=0.9)
    history = fit(model, nn.CrossEntropyLoss(), optimizer, train, None, epochs=10, batch_size=50, progress=False)
    return float(sum(record.seconds for record in history.records))


def own_lenet_inference(batch: int, repeats: int, rounds: int) -> tuple[float, float]:
    """ms per LeNet forward pass under ``torch.no_grad``: the own layers (im2col), torch.nn's."""
    library = build_model("lenet", engine="torch", seed=0).eval()
    own = build_model("lenet", engine="torch-own", seed=0).eval()
    own.load_state_dict(library.state_dict())
    x = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return _alternating_ms(lambda: own(x), lambda: library(x), repeats, rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and rounds")
    parser.add_argument("--skip-mnist", action="store_true", help="leave out the MNIST recipe timing (10 s or more)")
    args = parser.parse_args()
    repeats, rounds = (5, 2) if args.quick else (15, 3)
    print(f"cnnlab speed goals -- numpy {np.__version__}, torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(f"at the start: {thread_summary()}")
    rows: list[tuple[str, str, str, bool]] = []
    for n in (2, 1):
        with _threads(n):
            ours, theirs = lenet_training(repeats, rounds)
            ratio = theirs / ours
            rows.append((f"NumPy LeNet training throughput / torch, {n} thread{'s' if n > 1 else ''} "
                         f"({ours:.1f} vs {theirs:.1f} ms per batch of 128)", f"{ratio:.2f}x", ">= 1.0x",
                         ratio >= 1.0))
    if not args.skip_mnist:
        for n in (2, 1):
            with _threads(n):
                seconds = mnist_seed_training_s()
            rows.append((f"MNIST seed recipe training, 10 epochs x 10000 images, {n} thread{'s' if n > 1 else ''}",
                         f"{seconds:.1f} s", "< 3 s", seconds < 3))
    for n in (2, 1):
        for batch in (20, 256):
            with _threads(n):
                ours, theirs = own_lenet_inference(batch, repeats, rounds)
            rows.append((f"own torch LeNet inference / torch.nn, batch {batch}, {n} thread{'s' if n > 1 else ''} "
                         f"({ours:.2f} vs {theirs:.2f} ms)", f"{ours / theirs:.2f}x", "<= 1.0x", ours <= theirs))
    width = max(len(row[0]) for row in rows)
    print(f"\n{'goal':{width}s}  {'measured':>9s}  {'target':>8s}  met")
    for what, measured, target, met in rows:
        print(f"{what:{width}s}  {measured:>9s}  {target:>8s}  {'yes' if met else 'no'}")
    print(f"\nat the end: {thread_summary()}")


if __name__ == "__main__":
    main()
