"""Speed of the own PyTorch layers (``cnnlab.torch_nn``) against ``torch.nn``, everything measured in one run.

Three tables, each at 1 and at 2 torch threads (``cnnlab.threads.torch_threads``), with the thread settings and the
load average printed before every table:

1. **LeNet inference** (the seed's network, forward under ``no_grad``) at batch 256 and 20, per own conv algorithm
   (``naive``, a Python loop over output positions, at batch 20 only, with fewer repeats).
2. **Conv layers**: forward and forward + backward (input, weight and bias gradients) of single layers -- the two
   LeNet layers, ResNet- and VGG-style 3x3 layers, a 1x1 bottleneck layer, a ResNeXt grouped layer and MobileNet
   depthwise layers (stride 1 and 2).
3. **Models**: classic architectures from ``tests/torch_nn/classic_models.py`` (written there from the papers) at
   full width, with every ``nn.Conv2d``/``nn.Linear`` swapped: the largest difference of the eval outputs (relative
   to the largest output) and of all parameter gradients (relative to the largest gradient), and own / torch time
   of inference (``no_grad``) and of a training step's forward + backward. VGG and AlexNet use smaller hidden
   linear layers (noted in the table) to keep memory modest.

Every pair is timed alternately (``rounds`` x (warm-up + repeats) each, median of all samples), so both see the
same load; ratios are own / torch (below 1: the own layers are faster). On a busy machine the numbers scatter, the
two-thread ones most (each parallel region waits for a descheduled thread): quote the printed table with its load.

Run: ``python benchmarks/bench_torch_engine.py`` (``--quick``: fewer repeats, smaller model batches; ``--threads 1``
or ``2``; ``--tables lenet,layers,models``; ``--models resnet18,mobilenet-v2``).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from cnnlab import torch_nn
from cnnlab.models import build_model
from cnnlab.threads import thread_summary, torch_threads

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "torch_nn"))
from classic_models import ARCHITECTURES

TORCH_LAYERS = SimpleNamespace(Conv2d=nn.Conv2d, Linear=nn.Linear)
OWN_LAYERS = SimpleNamespace(Conv2d=torch_nn.Conv2d, Linear=torch_nn.Linear)

#: name -> (input size, batch, quick batch, builder arguments): full-width models at moderate resolutions.
MODELS: dict[str, tuple[int, int, int, dict[str, Any]]] = {
    "tutorial-net": (32, 64, 32, {}),
    "alexnet": (128, 8, 4, {"hidden": 1024}),
    "vgg11": (64, 8, 2, {"hidden": 512}),
    "vgg11-bn": (64, 8, 2, {"hidden": 512}),
    "resnet18": (64, 16, 4, {}),
    "resnet50": (64, 8, 2, {}),
    "resnext50-32x4d": (64, 8, 2, {}),
    "dilated-resnet50": (64, 4, 2, {}),
    "deeplabv3-aspp": (64, 4, 2, {}),
    "squeezenet1.1": (128, 16, 4, {}),
    "mobilenet-v2": (128, 16, 4, {}),
}

#: name -> (batch, Conv2d arguments, input size).
LAYERS: dict[str, tuple[int, dict[str, Any], int]] = {
    "LeNet conv1 3->8 k5 32x32": (256, {"in_channels": 3, "out_channels": 8, "kernel_size": 5}, 32),
    "LeNet conv2 8->16 k5 14x14": (256, {"in_channels": 8, "out_channels": 16, "kernel_size": 5}, 14),
    "ResNet 64->64 k3 56x56": (8, {"in_channels": 64, "out_channels": 64, "kernel_size": 3, "padding": 1}, 56),
    "ResNet 128->128 k3 s2 56x56": (8, {"in_channels": 128, "out_channels": 128, "kernel_size": 3, "stride": 2,
                                        "padding": 1}, 56),
    "ResNet 256->256 k3 14x14": (16, {"in_channels": 256, "out_channels": 256, "kernel_size": 3, "padding": 1}, 14),
    "bottleneck 256->64 k1 28x28": (16, {"in_channels": 256, "out_channels": 64, "kernel_size": 1}, 28),
    "VGG 128->128 k3 32x32": (16, {"in_channels": 128, "out_channels": 128, "kernel_size": 3, "padding": 1}, 32),
    "ResNeXt 128 g32 k3 28x28": (16, {"in_channels": 128, "out_channels": 128, "kernel_size": 3, "padding": 1,
                                      "groups": 32}, 28),
    "depthwise 144 k3 56x56": (8, {"in_channels": 144, "out_channels": 144, "kernel_size": 3, "padding": 1,
                                   "groups": 144}, 56),
    "depthwise 144 k3 s2 56x56": (8, {"in_channels": 144, "out_channels": 144, "kernel_size": 3, "stride": 2,
                                      "padding": 1, "groups": 144}, 56),
    "depthwise 384 k3 14x14": (16, {"in_channels": 384, "out_channels": 384, "kernel_size": 3, "padding": 1,
                                    "groups": 384}, 14),
}


def alternate(fns: dict[str, Callable[[], object]], warmup: int, repeats: int, rounds: int) -> dict[str, float]:
    """Median seconds per call of each function, timed in turn ``rounds`` times so all see the same load."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(warmup):
                fn()
            for _ in range(repeats):
                start = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def median_over_inputs(times: dict[str, float]) -> dict[str, float]:
    """``{"torch k": t, "own k": t, ...}`` -> ``{"torch": median over k, "own": median over k}``."""
    sides: dict[str, list[float]] = {}
    for key, value in times.items():
        sides.setdefault(key.split()[0], []).append(value)
    return {side: statistics.median(values) for side, values in sides.items()}


def header(title: str) -> None:
    print(f"\n{title}\n  {thread_summary()}")


def lenet_inference(repeats: int, rounds: int) -> None:
    header("LeNet inference (forward, no_grad), median ms per batch; ratio own / torch.nn")
    library = build_model("lenet", "torch", seed=0).eval()
    print(f"  {'batch':>5}  {'algorithm':9} {'torch.nn':>9} {'own':>9} {'own/torch':>10} {'max |diff|':>10}")
    for batch in (256, 20):
        x = torch.randn(batch, 3, 32, 32)
        for algorithm in torch_nn.CONV_ALGORITHMS:
            slow = algorithm == "naive"
            if slow and batch > 20:
                continue
            own = build_model("lenet", "torch-own", conv_algorithm=algorithm).eval()
            own.load_state_dict(library.state_dict())
            with torch.no_grad():
                diff = (own(x) - library(x)).abs().max().item()
                times = alternate({"torch": partial(library, x), "own": partial(own, x)},
                                  warmup=1 if slow else 3, repeats=2 if slow else repeats, rounds=1 if slow else rounds)
            print(f"  {batch:>5}  {algorithm:9} {times['torch'] * 1e3:9.3f} {times['own'] * 1e3:9.3f} "
                  f"{times['own'] / times['torch']:9.2f}x {diff:10.1e}")


def train_step(model: nn.Module, x: torch.Tensor, upstream: torch.Tensor, wanted: list[torch.Tensor]
               ) -> Callable[[], object]:
    return lambda: torch.autograd.grad(model(x), wanted, upstream)


#: Independently allocated inputs per layer: torch.nn's time for some layers depends on the input's buffer (the
#: depthwise 144-channel 56x56 layer measured 8 or 35-50 ms for different tensors of the same shape), so each side
#: is timed on every input and the median over the inputs is reported.
LAYER_INPUTS = 3


def conv_layers(repeats: int, rounds: int) -> None:
    header(f"Conv2d layers, median ms per call over {LAYER_INPUTS} inputs: forward (no_grad); forward + backward "
           f"(input, weight, bias grads)")
    print(f"  {'layer':28} {'batch':>5} {'torch fwd':>9} {'own fwd':>9} {'ratio':>6}   {'torch f+b':>9} "
          f"{'own f+b':>9} {'ratio':>6}")
    for name, (batch, kwargs, size) in LAYERS.items():
        torch.manual_seed(0)
        library = nn.Conv2d(**kwargs)
        own = torch_nn.Conv2d(**kwargs)
        own.load_state_dict(library.state_dict())
        inputs = [torch.randn(batch, kwargs["in_channels"], size, size, requires_grad=True)
                  for _ in range(LAYER_INPUTS)]
        with torch.no_grad():
            upstream = torch.randn_like(library(inputs[0]))
            forward = median_over_inputs(alternate(
                {f"{side} {k}": partial(layer, x) for k, x in enumerate(inputs)
                 for side, layer in (("torch", library), ("own", own))}, 2, repeats, rounds))
        both = median_over_inputs(alternate(
            {f"{side} {k}": train_step(layer, x, upstream, [x, *layer.parameters()]) for k, x in enumerate(inputs)
             for side, layer in (("torch", library), ("own", own))}, 1, repeats, rounds))
        print(f"  {name:28} {batch:>5} {forward['torch'] * 1e3:9.2f} {forward['own'] * 1e3:9.2f} "
              f"{forward['own'] / forward['torch']:5.2f}x   {both['torch'] * 1e3:9.2f} {both['own'] * 1e3:9.2f} "
              f"{both['own'] / both['torch']:5.2f}x")


def relative_difference(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return ((actual - expected).abs().max() / expected.abs().max().clamp_min(1e-30)).item()


def classic_models(names: list[str], quick: bool, repeats: int, rounds: int) -> None:
    header("Models with every nn.Conv2d / nn.Linear swapped (float32, full width): max relative difference of eval "
           "outputs and of all gradients; median ms and own / torch.nn for inference and a training step")
    print(f"  {'model':17} {'input':>11} {'out diff':>8} {'grad diff':>9} {'torch inf':>9} {'own inf':>9} "
          f"{'ratio':>6}   {'torch f+b':>9} {'own f+b':>9} {'ratio':>6}")
    for name in names:
        size, batch, quick_batch, extra = MODELS[name]
        batch = quick_batch if quick else batch
        models = []
        for layers in (TORCH_LAYERS, OWN_LAYERS):
            torch.manual_seed(0)
            models.append(ARCHITECTURES[name](layers, 1.0, **extra))
        library, own = models
        x = torch.randn(batch, 3, size, size)
        library.eval(), own.eval()
        with torch.no_grad():
            out_diff = relative_difference(own(x), library(x))
            inference = alternate({"torch": partial(library, x), "own": partial(own, x)}, 1, repeats, rounds)
        with torch.no_grad():
            upstream = torch.randn_like(library(x))
        grads = [torch.autograd.grad(m(x), list(m.parameters()), upstream) for m in (library, own)]
        largest = max(g.abs().max().item() for g in grads[0])  # (some gradients are ~0: relative to the largest)
        grad_diff = max((g_own - g_lib).abs().max().item() for g_own, g_lib in zip(grads[1], grads[0], strict=True))
        grad_diff /= max(largest, 1e-30)
        step = alternate({"torch": train_step(library, x, upstream, list(library.parameters())),
                          "own": train_step(own, x, upstream, list(own.parameters()))}, 1, max(2, repeats // 2),
                         rounds)
        note = f" (hidden {extra['hidden']})" if "hidden" in extra else ""
        print(f"  {name:17} {batch:>3}x{size:>3}^2 {out_diff:8.1e} {grad_diff:9.1e} {inference['torch'] * 1e3:9.1f} "
              f"{inference['own'] * 1e3:9.1f} {inference['own'] / inference['torch']:5.2f}x   "
              f"{step['torch'] * 1e3:9.1f} {step['own'] * 1e3:9.1f} {step['own'] / step['torch']:5.2f}x{note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and rounds, smaller model batches")
    parser.add_argument("--threads", choices=("both", "1", "2"), default="both",
                        help="torch intra-op threads: 1, 2, or both in turn (default)")
    parser.add_argument("--tables", default="lenet,layers,models", help="comma-separated: lenet, layers, models")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from: {', '.join(MODELS)}")
    args = parser.parse_args()
    tables = set(args.tables.split(","))
    names = args.models.split(",")
    unknown = (tables - {"lenet", "layers", "models"}) | (set(names) - set(MODELS))
    if unknown:
        parser.error(f"unknown tables or models: {', '.join(sorted(unknown))}")
    repeats, rounds = (4, 2) if args.quick else (10, 3)
    print(f"cnnlab torch_nn vs torch.nn -- torch {torch.__version__}, {platform.processor() or platform.machine()}")
    for threads in {"both": (1, 2), "1": (1,), "2": (2,)}[args.threads]:
        with torch_threads(threads):
            print(f"\n=== CPU, {threads} torch thread{'s' * (threads > 1)} ===")
            if "lenet" in tables:
                lenet_inference(repeats, rounds)
            if "layers" in tables:
                conv_layers(repeats, rounds)
            if "models" in tables:
                classic_models(names, args.quick, repeats, rounds)


if __name__ == "__main__":
    main()
