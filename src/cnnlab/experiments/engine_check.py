"""Assignment 004 task 4: the NumPy engine's Conv2d against PyTorch — same numbers, and how fast each algorithm is.

For a set of layer geometries (the assignments' own layers and the options beyond them: stride, padding modes,
dilation, groups) the NumPy ``Conv2d`` runs forward and backward with each algorithm (``naive`` seven loops,
``loops2`` two loops, ``im2col`` the textbook matrix product, ``fast`` the chunked default) on the same random
float32 input as ``torch.nn.Conv2d`` with the same weights; the result holds the largest absolute differences of
``y``, ``dx``, ``dW``, ``db`` and the forward time of each algorithm relative to torch, measured in one run.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import torch

from cnnlab import numpy_nn
from cnnlab.experiments.base import Context, Experiment
from cnnlab.numpy_nn import warmup
from cnnlab.options import Validated, option
from cnnlab.threads import blas_threads, torch_threads
from cnnlab.timing import Conditions, ConditionsRecorder, Timing, measure

ALGORITHMS: tuple[str, ...] = tuple(numpy_nn.CONV_ALGORITHMS)
#: How often torch and the fast algorithms are timed in turn.
ROUNDS = 3


@dataclass(frozen=True)
class LayerCase:
    """One geometry: constructor arguments of ``Conv2d`` and the input shape ``(N, C, H, W)``."""

    name: str
    input_shape: tuple[int, int, int, int]
    out_channels: int
    kernel_size: int | tuple[int, int]
    stride: int | tuple[int, int] = 1
    padding: int | str | tuple[int, int] = 0
    dilation: int = 1
    groups: int = 1
    padding_mode: str = "zeros"

    def conv_kwargs(self) -> dict[str, Any]:
        return {"in_channels": self.input_shape[1], "out_channels": self.out_channels,
                "kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding,
                "dilation": self.dilation, "groups": self.groups, "padding_mode": self.padding_mode}


CASES = (
    LayerCase("MNIST CNN conv1 (assignment 004)", (4, 1, 28, 28), 5, 4, stride=2, padding=1),
    LayerCase("MNIST CNN conv2 (assignment 004)", (4, 5, 14, 14), 10, 4, stride=2, padding=1),
    LayerCase("LeNet conv1 (assignment 000)", (4, 3, 32, 32), 8, 5),
    LayerCase("LeNet conv2 (assignment 000)", (4, 8, 14, 14), 16, 5),
    LayerCase("stride (2, 3), 'reflect' padding", (4, 3, 17, 19), 6, (3, 4), stride=(2, 3), padding=2,
              padding_mode="reflect"),
    LayerCase("'same' padding, dilation 2, even kernel", (4, 4, 15, 12), 4, 4, padding="same", dilation=2),
    LayerCase("groups 2, 'circular' padding", (4, 4, 12, 12), 6, 3, padding=1, groups=2, padding_mode="circular"),
)


@dataclass
class AlgorithmCheck:
    """One algorithm on one case: max |ours - torch| for the output and each gradient, and its forward timing."""

    algorithm: str
    max_abs_diff: dict[str, float]
    forward: Timing

    @property
    def forward_s(self) -> float:
        return self.forward.median_s

    def to_dict(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm, "max_abs_diff": self.max_abs_diff, "forward": self.forward.to_dict()}


@dataclass
class CaseCheck:
    """One case: its output shape, torch's forward timing and each algorithm's check."""

    case: LayerCase
    output_shape: tuple[int, ...]
    torch_forward: Timing
    algorithms: list[AlgorithmCheck] = field(default_factory=list)

    @property
    def torch_forward_s(self) -> float:
        return self.torch_forward.median_s

    def ratio(self, check: AlgorithmCheck) -> float:
        """Median forward time of ``check``'s algorithm / torch's, both on one thread, timed in turn."""
        return check.forward_s / self.torch_forward_s


@dataclass
class EngineCheckResult:
    """All cases, the warm-up check, the worst difference overall, and the conditions of the timings."""

    cases: list[CaseCheck]
    warmup_max_abs_diff: float
    worst_diff: float
    conditions: Conditions

    def to_dict(self) -> dict[str, Any]:
        return {"cases": [{"case": asdict(c.case), "output_shape": c.output_shape,
                           "torch_forward": c.torch_forward.to_dict(),
                           "algorithms": [{**a.to_dict(), "ratio_to_torch": c.ratio(a)} for a in c.algorithms]}
                          for c in self.cases],
                "warmup_max_abs_diff": self.warmup_max_abs_diff, "worst_diff": self.worst_diff,
                "conditions": self.conditions.to_dict()}


def _check_case(case: LayerCase, rng: np.random.Generator, repeats: int) -> CaseCheck:
    x = rng.standard_normal(case.input_shape).astype(np.float32)
    reference = torch.nn.Conv2d(**case.conv_kwargs())
    x_torch = torch.from_numpy(x).requires_grad_(True)
    y_torch = reference(x_torch)
    grad_out = rng.standard_normal(tuple(y_torch.shape)).astype(np.float32)
    assert reference.bias is not None
    grads = torch.autograd.grad(y_torch, (x_torch, reference.weight, reference.bias), torch.from_numpy(grad_out))
    expected = {"y": y_torch.detach().numpy(), **{k: g.numpy() for k, g in zip(("dx", "dW", "db"), grads, strict=True)}}
    layers, diffs = {}, {}
    for algorithm in ALGORITHMS:
        layer = numpy_nn.Conv2d(**case.conv_kwargs(), algorithm=algorithm)
        layer.load_state_dict(reference.state_dict())
        y = layer(x)
        got = {"y": y, "dx": layer.backward(grad_out), "dW": layer.weight.grad, "db": layer.bias.grad}
        diffs[algorithm] = {key: float(np.max(np.abs(got[key] - expected[key]))) for key in expected}
        layers[algorithm] = layer
    # Timing (one thread each, set by the caller): torch and the fast algorithms in turn (ROUNDS times), so every one
    # of them sees the same machine; the naive loops are timed once (they are already warm from the check above).
    samples: dict[str, list[float]] = {name: [] for name in ("torch", *ALGORITHMS)}
    with torch.no_grad():
        for _ in range(ROUNDS):
            samples["torch"] += measure(lambda: reference(x_torch), repeats=2 * repeats).samples
            for algorithm in ALGORITHMS:
                if algorithm != "naive":
                    samples[algorithm] += measure(partial(layers[algorithm], x), warmup=1, repeats=repeats).samples
        if "naive" in layers:
            samples["naive"] = list(measure(partial(layers["naive"], x), warmup=0, repeats=1).samples)
    timings = {name: Timing(statistics.median(values), min(values), tuple(values)) for name, values in samples.items()}
    check = CaseCheck(case, tuple(y_torch.shape), timings["torch"])
    check.algorithms = [AlgorithmCheck(algorithm, diffs[algorithm], timings[algorithm]) for algorithm in ALGORITHMS]
    return check


def _check_warmup(rng: np.random.Generator) -> float:
    """The warm-up's many-filters window product equals one output position of torch's convolution."""
    images = rng.standard_normal((3, 2, 9, 9)).astype(np.float32)
    kernels = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    padded = warmup.pad_images(images, 1)
    expected = torch.nn.functional.conv2d(torch.from_numpy(images), torch.from_numpy(kernels), stride=2, padding=1)
    worst = 0.0
    for i, j in ((0, 0), (2, 3), (4, 4)):
        ours = warmup.window_dot_filters(padded, kernels, 2 * i, 2 * j)
        worst = max(worst, float(np.max(np.abs(ours - expected[:, :, i, j].numpy()))))
    return worst


@dataclass(frozen=True)
class EngineCheckSettings(Validated):
    """How the check runs: the random seed of inputs and weights, and the timed repeats per algorithm."""

    seed: int = option(0, "Seed of the random inputs and weights.", minimum=0)
    repeats: int = option(5, "Timed forward calls per algorithm (naive: one).", minimum=1)

    def quick(self) -> EngineCheckSettings:
        return replace(self, repeats=2)


def run(settings: EngineCheckSettings, context: Context) -> EngineCheckResult:
    """Check every case of :data:`CASES` with every algorithm (a few seconds; naive is timed once)."""
    rng = np.random.default_rng(settings.seed)
    torch.manual_seed(settings.seed)
    with torch_threads(1), blas_threads(1), ConditionsRecorder() as recorder:  # one thread each: a fair comparison
        cases = [_check_case(case, rng, settings.repeats) for case in CASES]
    warm = _check_warmup(rng)
    worst = max([warm] + [max(a.max_abs_diff.values()) for c in cases for a in c.algorithms])
    return EngineCheckResult(cases, warm, worst, recorder.conditions)


EXPERIMENT = Experiment("engine-check", "NumPy engine Conv2d vs PyTorch (assignment 004, task 4)",
                        "The NumPy engine's Conv2d against torch.nn.Conv2d: forward and gradients of every algorithm "
                        "on the assignments' layers and beyond, and their speed.", EngineCheckSettings, run)
