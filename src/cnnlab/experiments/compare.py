"""Assignment 000, tasks 2.1, 3.1 and 3.2: own ``Linear`` / ``Conv2d`` against ``torch.nn``, alone and in the LeNet.

- **Linear** (task 2.1): ``torch_nn.Linear(8, 16)`` and ``nn.Linear(8, 16)`` on the same random input, mean absolute
  difference of the outputs before (independent initialisation) and after copying the parameters with
  ``load_state_dict``.
- **Conv2d** (task 3.1): the same for the LeNet's first layer ``Conv2d(3, 8, 5)``, on randomly chosen real images,
  for every own algorithm.
- **Networks** (task 3.2): a trained library LeNet's ``state_dict`` loaded into the twin built from the own layers;
  accuracy of both on the first ``n_first`` test images (the assignment's 20) and on the full test set passed in, and
  their inference time (forward under ``no_grad``, the same input batch and thread count, warm-up, repeats, median;
  CUDA synchronised) with the ratio own / library per algorithm and batch size.

:func:`run_compare` returns a :class:`CompareResult` (``to_dict()`` for JSON); :func:`run` is the experiment: it
takes the trained LeNet from the run (or ``--weights``) and the CIFAR-10 test set from the data root.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnnlab import data, torch_nn
from cnnlab.experiments.base import Context, Experiment
from cnnlab.models import build_torch_model
from cnnlab.options import Validated, option
from cnnlab.timing import Conditions, ConditionsRecorder, Timing, measure, synchronizer
from cnnlab.training import resolve_device


@dataclass(frozen=True)
class LayerDifference:
    """Own layer vs library layer on one input: ``|own(x) - library(x)|``, mean and max, before and after copying
    the library layer's parameters into the own one (before: each has its own random initialisation)."""

    layer: str
    algorithm: str | None
    input_shape: tuple[int, ...]
    mean_before: float
    max_before: float
    mean_after: float
    max_after: float


@dataclass(frozen=True)
class NetworkAccuracy:
    """One network on the test images (accuracies in [0, 1]; ``None`` where not evaluated).

    ``network``: ``"library"`` or ``"own"``; ``algorithm``: the own conv algorithm (``None`` for the library).
    ``max_logit_diff``: largest ``|logits - library logits|`` over the first images; ``disagreements``: how many of
    the evaluated images get another predicted class than from the library network.
    """

    network: str
    algorithm: str | None
    first_acc: float
    full_acc: float | None
    max_logit_diff: float
    disagreements: int
    evaluated: int


@dataclass(frozen=True)
class InferenceTiming:
    """One forward pass of a batch, library and own network, timed alternately in one run (every sample kept)."""

    algorithm: str
    batch_size: int
    library: Timing
    own: Timing

    @property
    def library_s(self) -> float:
        """Median seconds of the library network."""
        return self.library.median_s

    @property
    def own_s(self) -> float:
        """Median seconds of the own network."""
        return self.own.median_s

    @property
    def repeats(self) -> int:
        return self.own.repeats

    @property
    def ratio(self) -> float:
        """own / library of the medians: above 1 means the own network is slower."""
        return self.own_s / self.library_s

    @property
    def mean_ratio(self) -> float:
        """own / library of the means (the assignment's "average time for inference")."""
        return self.own.mean_s / self.library.mean_s

    def to_dict(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm, "batch_size": self.batch_size, "library": self.library.to_dict(),
                "own": self.own.to_dict(), "ratio": self.ratio, "mean_ratio": self.mean_ratio}


@dataclass
class CompareResult:
    """Everything :func:`run_compare` measured.

    - ``linear``: one :class:`LayerDifference` for ``Linear(8, 16)`` on ``(linear_batch, 8)`` standard normal input;
    - ``conv``: one per own algorithm for ``Conv2d(3, 8, 5)`` on ``conv_images`` real images;
    - ``accuracy``: the library network, then the own network per algorithm (the slow ones only on the first
      images unless ``full_test_algorithms`` includes them);
    - ``timing``: per algorithm and batch size;
    - ``n_first`` / ``n_test``: images in the short and the full evaluation; ``device``: where it ran;
      ``conditions``: the threads and machine load the timings were taken under; ``settings``: the remaining
      arguments.
    """

    linear: LayerDifference
    conv: list[LayerDifference]
    accuracy: list[NetworkAccuracy]
    timing: list[InferenceTiming]
    n_first: int
    n_test: int
    device: str
    conditions: Conditions
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"linear": asdict(self.linear), "conv": [asdict(c) for c in self.conv],
                "accuracy": [asdict(a) for a in self.accuracy], "timing": [t.to_dict() for t in self.timing],
                "n_first": self.n_first, "n_test": self.n_test, "device": self.device,
                "conditions": self.conditions.to_dict(), "settings": dict(self.settings)}


def _difference(library: torch.nn.Module, own: torch.nn.Module, x: torch.Tensor) -> tuple[float, float, float, float]:
    """Mean and max ``|own(x) - library(x)|`` before and after ``own.load_state_dict(library.state_dict())``."""
    with torch.no_grad():
        before = (own(x) - library(x)).abs()
        own.load_state_dict(library.state_dict())
        after = (own(x) - library(x)).abs()
    return before.mean().item(), before.max().item(), after.mean().item(), after.max().item()


def layer_differences(conv_images: np.ndarray, *, algorithms: Sequence[str] = torch_nn.CONV_ALGORITHMS,
                      linear_batch: int = 32, device: str | torch.device = "cpu",
                      seed: int = 0) -> tuple[LayerDifference, list[LayerDifference]]:
    """Tasks 2.1 and 3.1: ``Linear(8, 16)`` on random input and ``Conv2d(3, 8, 5)`` on ``conv_images``
    (float32 ``(N, 3, H, W)``), own vs library, before and after copying the parameters."""
    device = torch.device(device)
    torch.manual_seed(seed)
    x = torch.randn(linear_batch, 8, device=device)
    library_linear = torch.nn.Linear(8, 16, device=device)
    linear = LayerDifference("Linear(8, 16)", None, tuple(x.shape),
                             *_difference(library_linear, torch_nn.Linear(8, 16, device=device), x))
    images = torch.as_tensor(np.ascontiguousarray(conv_images, dtype=np.float32), device=device)
    library_conv = torch.nn.Conv2d(3, 8, 5, device=device)
    conv = [LayerDifference("Conv2d(3, 8, 5)", algorithm, tuple(images.shape),
                            *_difference(library_conv, torch_nn.Conv2d(3, 8, 5, device=device, algorithm=algorithm),
                                         images))
            for algorithm in algorithms]
    return linear, conv


def _logits(model: torch.nn.Module, x: np.ndarray, device: torch.device, batch_size: int) -> torch.Tensor:
    """Logits of ``x`` (float32 ``(N, 3, 32, 32)``) in batches, on the CPU."""
    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            xb = torch.as_tensor(np.ascontiguousarray(x[start:start + batch_size]), device=device)
            out.append(model(xb).cpu())
    return torch.cat(out) if out else torch.empty(0, 10)


def time_alternately(library: torch.nn.Module, own: torch.nn.Module, x: torch.Tensor, *, warmup: int = 2,
                     repeats: int = 10, rounds: int = 3) -> tuple[Timing, Timing]:
    """Timings of ``library(x)`` and ``own(x)`` under ``no_grad``, every sample kept.

    The two are measured in turn, ``rounds`` times (``warmup`` + ``repeats`` calls each, CUDA synchronised), so
    both see the same machine load and thread count.
    """
    sync = synchronizer(x.device)
    samples: dict[str, list[float]] = {"library": [], "own": []}
    with torch.no_grad():
        for _ in range(rounds):
            for name, model in (("library", library), ("own", own)):
                samples[name] += measure(partial(model, x), warmup=warmup, repeats=repeats,
                                         synchronize=sync).samples
    lib, own_samples = samples["library"], samples["own"]
    return (Timing(statistics.median(lib), min(lib), tuple(lib)),
            Timing(statistics.median(own_samples), min(own_samples), tuple(own_samples)))


def run_compare(
    state_dict: Mapping[str, Any],
    test_x: np.ndarray,
    test_y: np.ndarray,
    conv_images: np.ndarray | None = None,
    *,
    n_first: int = 20,
    algorithms: Sequence[str] = torch_nn.CONV_ALGORITHMS,
    full_test_algorithms: Sequence[str] = ("im2col",),
    timing_batches: Sequence[int] = (256, 20),
    slow_algorithms: Sequence[str] = ("naive",),
    slow_max_batch: int = 20,
    warmup: int = 2,
    repeats: int = 10,
    rounds: int = 3,
    eval_batch_size: int = 500,
    device: str | torch.device | None = "cpu",
    seed: int = 0,
) -> CompareResult:
    """Compare the own layers and the own LeNet with torch's (assignment 000 tasks 2.1, 3.1, 3.2).

    ``state_dict``: a trained library LeNet's weights (``build_model("lenet", "torch").state_dict()`` keys).
    ``test_x`` float32 ``(N, 3, 32, 32)`` (prepared as for training) and ``test_y`` int64 ``(N,)``: the full test set;
    the first ``n_first`` images are the assignment's short evaluation. ``conv_images``: images for task 3.1 (default:
    32 test images picked at random with ``seed``). ``algorithms``: own conv algorithms to include (``naive`` is slow:
    it is evaluated on the full test set only if listed in ``full_test_algorithms``, and timed only at batch sizes up
    to ``slow_max_batch`` if listed in ``slow_algorithms``). Timing: ``rounds`` alternations of ``warmup`` +
    ``repeats`` forwards per network; the thread count is torch's current one, the same for both networks.
    """
    unknown = set(algorithms) - set(torch_nn.CONV_ALGORITHMS)
    if unknown:
        raise ValueError(f"unknown conv algorithms {sorted(unknown)}; "
                         f"choose from {', '.join(torch_nn.CONV_ALGORITHMS)}")
    if len(test_x) != len(test_y) or len(test_x) == 0:
        raise ValueError("test_x and test_y must be non-empty and of equal length, "
                         f"got {len(test_x)} and {len(test_y)}")
    if not 1 <= n_first <= len(test_x):
        raise ValueError(f"n_first must be between 1 and the number of test images ({len(test_x)}), got {n_first}")
    device = resolve_device(device)
    rng = np.random.default_rng(seed)
    if conv_images is None:
        conv_images = test_x[rng.choice(len(test_x), size=min(32, len(test_x)), replace=False)]
    linear, conv = layer_differences(conv_images, algorithms=algorithms, device=device, seed=seed)

    library = build_torch_model("lenet", "torch").to(device).eval()
    library.load_state_dict(state_dict)
    owns = {}
    for algorithm in algorithms:
        owns[algorithm] = build_torch_model("lenet", "torch-own", conv_algorithm=algorithm).to(device).eval()
        owns[algorithm].load_state_dict(state_dict)

    labels = torch.as_tensor(np.asarray(test_y))
    library_logits = _logits(library, test_x, device, eval_batch_size)
    library_pred = library_logits.argmax(1)

    def accuracy(predicted: torch.Tensor, n: int) -> float:
        return (predicted[:n] == labels[:n]).float().mean().item()

    rows = [NetworkAccuracy("library", None, accuracy(library_pred, n_first), accuracy(library_pred, len(labels)),
                            0.0, 0, len(labels))]
    for algorithm, model in owns.items():
        evaluated = len(test_x) if algorithm in full_test_algorithms else n_first
        logits = _logits(model, test_x[:evaluated], device, eval_batch_size)
        predicted = logits.argmax(1)
        rows.append(NetworkAccuracy(
            "own", algorithm, accuracy(predicted, n_first),
            accuracy(predicted, evaluated) if evaluated == len(test_x) else None,
            (logits[:n_first] - library_logits[:n_first]).abs().max().item(),
            int((predicted != library_pred[:evaluated]).sum()), evaluated))

    timing = []
    with ConditionsRecorder() as recorder:
        for batch in timing_batches:
            x = torch.as_tensor(np.ascontiguousarray(test_x[:batch]), device=device)
            for algorithm, model in owns.items():
                if algorithm in slow_algorithms and batch > slow_max_batch:
                    continue
                library_t, own_t = time_alternately(library, model, x, warmup=warmup, repeats=repeats,
                                                    rounds=rounds)
                timing.append(InferenceTiming(algorithm, int(x.shape[0]), library_t, own_t))

    settings = {"algorithms": list(algorithms), "full_test_algorithms": list(full_test_algorithms),
                "timing_batches": list(timing_batches), "slow_algorithms": list(slow_algorithms),
                "slow_max_batch": slow_max_batch, "warmup": warmup, "repeats": repeats, "rounds": rounds,
                "conv_images": len(conv_images), "seed": seed, "torch": torch.__version__}
    return CompareResult(linear, conv, rows, timing, n_first, len(test_x), str(device), recorder.conditions,
                         settings)


@dataclass(frozen=True)
class CompareSettings(Validated):
    """Which trained LeNet, how many test images, which own algorithms, where and how long to time."""

    weights: Path | None = option(None, "Folder of a 'cnnlab train --recipe cifar-lenet' run [default: the run's "
                                  "own LeNet, or --train].", metavar="RUN_DIR")
    n_first: int = option(20, "Test images of the assignment's short accuracy check.", minimum=1)
    naive: bool = option(True, "Include the slow reference algorithm (timed on batches of at most 20).")
    full_test: bool = option(True, "Evaluate on the whole test set (else its first 1000 images).")
    device: str = option("auto", "Where to run (auto: CUDA when available).", choices=("auto", "cpu", "cuda"))
    repeats: int = option(10, "Timed forwards per network and round.", minimum=1)

    def check(self) -> None:
        resolve_device(self.device)  # --device cuda without CUDA: one clear line before anything is loaded

    def quick(self) -> CompareSettings:
        return replace(self, full_test=False, repeats=3)


def run(settings: CompareSettings, context: Context) -> CompareResult:
    """Assignment 000 tasks 2.1-3.2 on the trained LeNet (``cifar-lenet``) and the CIFAR-10 test set."""
    network = context.network("cifar-lenet", settings.weights, model="lenet", purpose="compare")
    test = context.dataset(network.config.dataset, "test")
    x, y = data.prepare(test, network.config.normalization)
    if not settings.full_test:
        x, y = x[:1000], y[:1000]
    algorithms = torch_nn.CONV_ALGORITHMS if settings.naive else tuple(a for a in torch_nn.CONV_ALGORITHMS
                                                                         if a != "naive")
    return run_compare(network.load("torch").state_dict(), x, y, n_first=min(settings.n_first, len(y)),
                       algorithms=algorithms, repeats=settings.repeats, device=settings.device)


EXPERIMENT = Experiment("compare", "Own layers vs torch.nn (assignment 000, tasks 2.1, 3.1, 3.2)",
                        "Assignment 000 tasks 2.1-3.2: own Linear/Conv2d and LeNet vs torch.nn: differences, accuracy, "
                        "inference time.", CompareSettings, run, uses_networks=True)
