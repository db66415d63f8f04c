"""Speed of the own PyTorch layers (``cnnlab.torch_nn``) against ``torch.nn``, everything measured in one run.

1. The seed's LeNet inference (forward under ``no_grad``) at batch 256 and batch 20: the library network and its
   twin built from the own layers with the same weights, per own conv algorithm; ratio own / library. Each pair is
   timed alternately (several rounds of warm-up + repeats, median of all samples), so both see the same load. The
   ``naive`` algorithm (a Python loop over output positions) runs at batch 20 only, with fewer repeats.
2. One Conv2d layer, forward and forward+backward (input, weight and bias gradients), own ``im2col`` against
   ``nn.Conv2d`` on the two LeNet layer shapes at batch 256.

Minor page faults per call are printed with the times: glibc returns freed memory above its thresholds to the
system, and a call that has to fault its buffers in again is slower; the im2col column matrix is built in chunks
for that reason (see ``cnnlab.torch_nn.functional``), yet at batch 256 whether the own network's buffers land on
trimmed memory depends on the allocation history (0 to a few thousand faults per call). ``--keep-memory`` asks
glibc to keep freed memory (``mallopt``: no trimming, no mmap), which removes that noise for both networks.

On a busy machine the multi-threaded numbers of both networks scatter widely (each parallel region waits for a
descheduled thread); the one-thread ratios are steadier. Measured numbers belong with the machine they came from:
quote the printed table, with its thread settings and load average.

Runs with torch's default threads and with one thread (steadier on a busy machine), on the CPU and on CUDA when
available. Run: ``python benchmarks/bench_torch_engine.py`` (``--quick``: fewer repeats; ``--threads``;
``--device``; ``--keep-memory``).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import resource
from collections.abc import Callable

import torch

from cnnlab import torch_nn
from cnnlab.experiments.compare import time_alternately
from cnnlab.models import build_model
from cnnlab.timing import measure, synchronizer

SLOW = {"naive"}  # algorithms timed at the small batch only


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory in the process (no heap trimming, no mmap for large blocks); True if it took."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_trim_threshold, 1 << 30)) and bool(libc.mallopt(m_mmap_threshold, 1 << 30))


def faults_per_call(fn: Callable[[], object], calls: int = 5) -> float:
    """Minor page faults per call of ``fn`` (after one untimed call)."""
    fn()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls


def lenet_row(library: torch.nn.Module, own: torch.nn.Module, x: torch.Tensor, slow: bool, repeats: int,
              rounds: int) -> str:
    """One table row: both networks on ``x``, timed alternately, with page faults per call."""
    library_s, own_s, calls = time_alternately(library, own, x, warmup=1 if slow else 3,
                                               repeats=max(2, repeats // 3) if slow else repeats,
                                               rounds=1 if slow else rounds)
    with torch.no_grad():
        faults = faults_per_call(lambda: library(x)), faults_per_call(lambda: own(x), 2 if slow else 5)
    return (f"{library_s * 1e3:9.3f} {own_s * 1e3:9.3f} {own_s / library_s:11.2f}x {calls:>6}"
            f" {faults[0]:>10.0f} {faults[1]:>10.0f}")


def lenet_inference(device: torch.device, repeats: int, rounds: int) -> None:
    library = build_model("lenet", "torch", seed=0).to(device).eval()
    print(f"\nLeNet inference (forward, no_grad), median ms per batch; {rounds} alternating rounds")
    print(f"  {'batch':>5}  {'algorithm':9} {'library':>9} {'own':>9} {'own/library':>12} {'calls':>6}"
          f" {'faults/call lib, own':>22}")
    for batch in (256, 20):
        x = torch.randn(batch, 3, 32, 32, device=device)
        for algorithm in torch_nn.CONV_ALGORITHMS:
            if algorithm in SLOW and batch > 20:
                continue
            own = build_model("lenet", "torch-own", conv_algorithm=algorithm).to(device).eval()
            own.load_state_dict(library.state_dict())
            print(f"  {batch:>5}  {algorithm:9} {lenet_row(library, own, x, algorithm in SLOW, repeats, rounds)}")


def layer_times(layer: torch.nn.Module, x: torch.Tensor, upstream: torch.Tensor, repeats: int) -> tuple[float, float]:
    """Median ms of ``layer(x)`` (no_grad) and of forward + backward to the input, weight and bias gradients."""
    sync = synchronizer(x.device)
    with torch.no_grad():
        forward = measure(lambda: layer(x), warmup=3, repeats=repeats, synchronize=sync).median_s
    both = measure(lambda: torch.autograd.grad(layer(x), (x, layer.weight, layer.bias), upstream), warmup=2,
                   repeats=repeats, synchronize=sync).median_s
    return forward * 1e3, both * 1e3


def conv_layers(device: torch.device, repeats: int, batch: int = 256) -> None:
    print(f"\nConv2d layer, batch {batch}, median ms per call (forward; forward + backward of input, weight, bias)")
    print(f"  {'layer':26} {'nn.Conv2d':>19} {'own im2col':>19} {'own/library':>14}")
    for name, (c_in, c_out, size) in {"LeNet conv1 3->8 k5 32x32": (3, 8, 32),
                                      "LeNet conv2 8->16 k5 14x14": (8, 16, 14)}.items():
        library = torch.nn.Conv2d(c_in, c_out, 5, device=device)
        own = torch_nn.Conv2d(c_in, c_out, 5, device=device)
        own.load_state_dict(library.state_dict())
        x = torch.randn(batch, c_in, size, size, device=device, requires_grad=True)
        upstream = torch.randn(batch, c_out, size - 4, size - 4, device=device)
        lib_f, lib_b = layer_times(library, x, upstream, repeats)
        own_f, own_b = layer_times(own, x, upstream, repeats)
        print(f"  {name:26} {lib_f:8.2f} {lib_b:9.2f}  {own_f:8.2f} {own_b:9.2f}  {own_f / lib_f:6.2f} "
              f"{own_b / lib_b:6.2f}")


def run(device: torch.device, repeats: int, rounds: int) -> None:
    print(f"\n=== {device}, torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.2f} ===")
    lenet_inference(device, repeats, rounds)
    conv_layers(device, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and rounds")
    parser.add_argument("--threads", choices=("both", "default", "1"), default="both",
                        help="torch's default thread count, one thread, or both (default)")
    parser.add_argument("--device", choices=("all", "cpu", "cuda"), default="all",
                        help="all = the CPU, and CUDA when available")
    parser.add_argument("--keep-memory", action="store_true",
                        help="ask glibc to keep freed memory (no page faults from re-allocated buffers)")
    args = parser.parse_args()
    if args.keep_memory and not keep_freed_memory():
        raise SystemExit("--keep-memory: mallopt is not available here (not glibc?)")
    repeats, rounds = (5, 2) if args.quick else (15, 3)
    print(f"cnnlab torch_nn vs torch.nn -- torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs" + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "")
          + (", glibc keeps freed memory" if args.keep_memory else ""))
    if args.device in ("all", "cpu"):
        default_threads = torch.get_num_threads()
        for threads in {"both": (default_threads, 1), "default": (default_threads,), "1": (1,)}[args.threads]:
            torch.set_num_threads(threads)
            run(torch.device("cpu"), repeats, rounds)
        torch.set_num_threads(default_threads)
    if args.device in ("all", "cuda"):
        if torch.cuda.is_available():
            run(torch.device("cuda"), repeats, rounds)
        elif args.device == "cuda":
            raise SystemExit("--device cuda: CUDA is not available here")


if __name__ == "__main__":
    main()
