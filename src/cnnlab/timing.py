"""Honest wall-clock timing: warm-up, several repeats, median, mean and spread, CUDA synchronisation when needed,
and the conditions the numbers were taken under (threads, machine load), flagged when they are not to be trusted.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

#: A timing whose slowest sample is more than this many times its fastest is flagged as noisy.
WIDE_SPREAD = 1.5


@dataclass(frozen=True)
class Timing:
    """Seconds per call of a timed function: median (the number to report), min, and every sample."""

    median_s: float
    min_s: float
    samples: tuple[float, ...]

    @property
    def repeats(self) -> int:
        return len(self.samples)

    @property
    def mean_s(self) -> float:
        return statistics.fmean(self.samples)

    @property
    def stdev_s(self) -> float:
        """Sample standard deviation (0 for a single sample)."""
        return statistics.stdev(self.samples) if len(self.samples) > 1 else 0.0

    @property
    def spread(self) -> float:
        """Slowest / fastest sample: 1 for perfectly steady timings."""
        return max(self.samples) / self.min_s if self.min_s > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        return {"median_s": self.median_s, "mean_s": self.mean_s, "stdev_s": self.stdev_s, "min_s": self.min_s,
                "max_s": max(self.samples), "spread": self.spread, "repeats": self.repeats,
                "samples": list(self.samples)}


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


@dataclass(frozen=True)
class Conditions:
    """What a set of timings was measured under: thread settings, CPUs, and the 1-minute load average before and
    after (on a machine where other processes compete for the cores, every timing is suspect)."""

    torch_threads: int
    blas_threads: int | None
    cpus: int
    load_before: float | None
    load_after: float | None

    @property
    def busy(self) -> bool:
        """More runnable work than cores (load average above CPUs + 0.5) at the start or the end."""
        loads = [v for v in (self.load_before, self.load_after) if v is not None]
        return any(v > self.cpus + 0.5 for v in loads)

    def warnings(self, timings: Sequence[Timing] = ()) -> list[str]:
        """Why the numbers may not be findings: a busy machine, or timings whose samples spread widely."""
        out = []
        if self.busy:
            out.append(f"the machine was busy (load average {self.load_before:.2f} -> {self.load_after:.2f} on "
                       f"{self.cpus} CPUs): other processes competed for the cores, so these times and ratios are "
                       "not reliable; rerun on an idle machine")
        noisy = [t for t in timings if t.spread > WIDE_SPREAD]
        if noisy:
            worst = max(t.spread for t in noisy)
            out.append(f"{len(noisy)} of {len(timings)} timings spread widely (slowest sample up to {worst:.1f}x the "
                       "fastest): treat their ratios as rough")
        return out

    def describe(self) -> str:
        """One line: ``torch 2 threads, BLAS 1 thread, 2 CPUs, load average 0.31 -> 1.02``."""
        def threads(n: int | None) -> str:
            return "n/a threads" if n is None else f"{n} thread" + ("" if n == 1 else "s")

        load = ("n/a" if self.load_before is None or self.load_after is None
                else f"{self.load_before:.2f} -> {self.load_after:.2f}")
        return (f"torch {threads(self.torch_threads)}, BLAS {threads(self.blas_threads)}, {self.cpus} CPUs, load "
                f"average {load}")

    def to_dict(self) -> dict[str, Any]:
        return {"torch_threads": self.torch_threads, "blas_threads": self.blas_threads, "cpus": self.cpus,
                "load_before": self.load_before, "load_after": self.load_after, "busy": self.busy}


def _load() -> float | None:
    import os

    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


class ConditionsRecorder:
    """``with ConditionsRecorder() as rec: ...`` then ``rec.conditions``: the thread settings and the load average
    at the start and the end of the block."""

    def __enter__(self) -> ConditionsRecorder:
        self._before = _load()
        return self

    def __exit__(self, *exc: object) -> None:
        import os

        from cnnlab.threads import thread_report

        report = thread_report()
        blas = report["blas"]
        threads = [b["threads"] for b in blas] if isinstance(blas, list) else []
        self.conditions = Conditions(int(report["torch_threads"]),  # type: ignore[call-overload]
                                     int(threads[0]) if threads else None, os.cpu_count() or 1, self._before,
                                     _load())
