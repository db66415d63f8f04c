"""Speed of the NumPy engine against PyTorch on the CPU, float32, everything measured in one run.

1. Conv2d layers, forward and forward+backward (dx, dW, db), our algorithms against ``torch.nn.functional.conv2d``
   (with autograd's backward): the two LeNet layer shapes (batch 128; ``fast``, the textbook ``im2col``, and
   ``loops2`` timed once, it is slow), one larger layer (``fast`` and ``im2col``: ``loops2`` takes seconds there),
   and a tiny layer on which the ``naive`` loops of the equation can be timed at all (minutes on the LeNet shapes).
2. Training throughput (images/s) of the LeNet-for-CIFAR net, batch 128, SGD with momentum: our engine against the
   same net in PyTorch, as a ratio. Ours is timed twice: ``model.backward(g)`` (which also computes the gradient of
   the input images) and ``model.backward(g, need_input_grad=False)``, as the training loop calls it (what torch
   does: nobody needs the gradient of the data).

Both parts run twice: with the libraries' default threads, and with one thread each (NumPy's BLAS and torch's
intra-op pool, set with :mod:`cnnlab.threads`). On a busy machine multi-threaded runs of either library can be many
times slower (helper threads get descheduled); the one-thread ratio is the steadier comparison. Each run prints the
thread settings in effect and the load average (:func:`cnnlab.threads.thread_report`).

Run: ``python benchmarks/bench_numpy_engine.py`` (``--quick`` for fewer repeats, ``--repeats N`` to choose,
``--threads default`` or ``1``).
"""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from cnnlab import numpy_nn as nn
from cnnlab.models import build_model
from cnnlab.threads import blas_threads, thread_report, thread_summary, torch_threads
from cnnlab.timing import measure


@dataclass(frozen=True)
class ConvCase:
    name: str
    batch: int
    in_channels: int
    out_channels: int
    kernel: int
    size: int
    padding: int = 0
    algorithms: tuple[str, ...] = ("fast", "im2col", "loops2")


CASES = (
    ConvCase("LeNet conv1 3->8 k5, 32x32", 128, 3, 8, 5, 32),
    ConvCase("LeNet conv2 8->16 k5, 14x14", 128, 8, 16, 5, 14),
    ConvCase("larger 32->64 k3 p1, 32x32", 64, 32, 64, 3, 32, padding=1, algorithms=("fast", "im2col")),
    ConvCase("tiny 3->4 k3, 12x12 (naive)", 2, 3, 4, 3, 12, algorithms=("fast", "im2col", "loops2", "naive")),
)


SLOW = ("naive", "loops2")  # Python loops: timed once on the larger batches


def _ms(fn: Callable[[], object], repeats: int) -> float:
    return measure(fn, warmup=1, repeats=repeats).median_s * 1e3


def conv_rows(case: ConvCase, repeats: int) -> list[tuple[str, float, float]]:
    """``(implementation, forward ms, forward+backward ms)`` for torch and each of our algorithms."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((case.batch, case.in_channels, case.size, case.size)).astype(np.float32)
    layer = nn.Conv2d(case.in_channels, case.out_channels, case.kernel, padding=case.padding)
    grad = rng.standard_normal(layer(x).shape).astype(np.float32)
    xt = torch.from_numpy(x).requires_grad_(True)
    wt = torch.from_numpy(layer.weight.data.copy()).requires_grad_(True)
    bt = torch.from_numpy(layer.bias.data.copy()).requires_grad_(True)
    gt = torch.from_numpy(grad)

    def torch_forward() -> object:
        return torch.nn.functional.conv2d(xt, wt, bt, padding=case.padding)

    def torch_both() -> None:
        xt.grad = wt.grad = bt.grad = None
        torch_forward().backward(gt)

    rows = [("torch.nn.functional.conv2d", _ms(torch_forward, repeats), _ms(torch_both, repeats))]
    for algorithm in case.algorithms:
        layer.algorithm = algorithm
        slow = algorithm in SLOW and case.batch > 8
        reps = 1 if slow or algorithm == "naive" else repeats

        def both() -> None:
            layer(x)
            layer.backward(grad)

        rows.append((f"ours, {algorithm}", _ms(lambda: layer(x), reps), _ms(both, reps)))
    return rows


def lenet_steps(batch: int = 128) -> tuple[Callable[[bool], None], Callable[[], None]]:
    """One LeNet training step (batch ``batch``: forward, loss, backward, SGD momentum step) on random images:
    ``ours(need_input_grad)`` on the NumPy engine and ``torch_step()`` on torch.nn, from the same initial weights."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    ours = build_model("lenet", engine="numpy", seed=0)
    theirs = build_model("lenet", engine="torch", seed=0)
    theirs.load_state_dict(nn.to_torch_state_dict(ours.state_dict()))
    criterion, optimizer = nn.CrossEntropyLoss(), nn.SGD(ours.parameters(), lr=0.01, momentum=0.9)
    torch_optimizer = torch.optim.SGD(theirs.parameters(), lr=0.01, momentum=0.9)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def ours_step(need_input_grad: bool) -> None:
        optimizer.zero_grad()
        criterion(ours(x), y)
        ours.backward(criterion.backward(), need_input_grad=need_input_grad)
        optimizer.step()

    def torch_step() -> None:
        torch_optimizer.zero_grad()
        torch.nn.functional.cross_entropy(theirs(xt), yt).backward()
        torch_optimizer.step()

    return ours_step, torch_step


def training_step_ms(repeats: int, batch: int = 128) -> dict[str, float]:
    """Milliseconds per training step of LeNet (batch ``batch``): torch; ours as ``fit`` runs it (no gradient of
    the input data, as torch); ours also computing dL/dx of the data (what a naive engine does)."""
    ours_step, torch_step = lenet_steps(batch)
    return {"torch": _ms(torch_step, repeats), "ours (as fit runs it)": _ms(lambda: ours_step(False), repeats),
            "ours, also dL/dx of the data": _ms(lambda: ours_step(True), repeats)}


def run(label: str, repeats: int, batch: int = 128) -> None:
    print(f"\n=== {label}: {thread_summary(thread_report())} ===")
    print("\nConv2d layer, median ms per call (float32)")
    print(f"  {'layer':30s} {'implementation':28s} {'forward':>9s} {'fwd+bwd':>9s}   time / torch's (fwd, fwd+bwd)")
    for case in CASES:
        rows = conv_rows(case, repeats)
        reference_forward, reference_both = rows[0][1:]
        for implementation, forward, both in rows:
            ratio = "" if implementation.startswith("torch") else (f"{forward / reference_forward:6.2f}  "
                                                                   f"{both / reference_both:6.2f}")
            print(f"  {case.name:30s} {implementation:28s} {forward:9.2f} {both:9.2f}   {ratio}")
    steps = training_step_ms(repeats, batch)
    print(f"\nLeNet training step, batch {batch} (forward, loss, backward, SGD momentum step)")
    reference = steps["torch"]
    for name, ms in steps.items():
        ratio = "" if name == "torch" else f"  throughput ratio ours/torch = {reference / ms:.2f}"
        print(f"  {name:30s} {ms:7.1f} ms  {batch / ms * 1e3:7.0f} img/s{ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (3)")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per measurement (default 9)")
    parser.add_argument("--threads", choices=("both", "default", "1"), default="both",
                        help="library default threads, one thread each, or both (default)")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 9)
    print(f"cnnlab NumPy engine vs PyTorch -- numpy {np.__version__}, torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    if args.threads in ("both", "default"):
        run("default threads", repeats)
    if args.threads in ("both", "1"):
        with blas_threads(1), torch_threads(1):
            run("one thread each", repeats)


if __name__ == "__main__":
    main()
