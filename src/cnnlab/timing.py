"""Honest wall-clock timing: warm-up, several repeats, median, and CUDA synchronisation when needed."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Timing:
    """Seconds per call of a timed function: median (the number to report), min, and every sample."""

    median_s: float
    min_s: float
    samples: tuple[float, ...]

    @property
    def repeats(self) -> int:
        return len(self.samples)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def synchronizer(device: Any) -> Callable[[], None] | None:
    """``torch.cuda.synchronize`` for a CUDA device (kernels run asynchronously), else ``None``."""
    if str(device).startswith("cuda"):
        import torch

        return lambda: torch.cuda.synchronize(device)
    return None


def measure(
    fn: Callable[[], Any],
    *,
    warmup: int = 2,
    repeats: int = 7,
    synchronize: Callable[[], None] | None = None,
) -> Timing:
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeats`` timed ones; each timed call is synchronised."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"measure: need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    sync = synchronize or (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        samples.append(time.perf_counter() - start)
    return Timing(statistics.median(samples), min(samples), tuple(samples))
