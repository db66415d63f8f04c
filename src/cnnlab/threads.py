"""Thread settings of the numerical libraries, set once where a run starts (a CLI command, a training run, a benchmark).

Two independent pools decide how many CPU threads a computation uses:

- the **BLAS** library behind NumPy's matrix products (OpenBLAS in the NumPy wheels), which the NumPy engine's
  layers use; set with :func:`blas_threads` (through ``threadpoolctl``, which finds the loaded libraries);
- **torch**'s intra-op thread pool, set with :func:`torch_threads`.

The NumPy engine's matrix products are small (a few MFLOP each, thousands per epoch): splitting them over threads
gains little, and on a busy machine every product waits for descheduled helper threads, so one BLAS thread is often
much faster there. That is a decision for the entry point, not for every layer::

    with blas_threads(1), torch_threads(1):
        fit(...)

:func:`thread_report` says what is in effect (for benchmarks and reports to print).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from threadpoolctl import threadpool_info, threadpool_limits

T = TypeVar("T")
R = TypeVar("R")

__all__ = ["THREADS_ENV", "all_threads", "auto_threads", "blas_threads", "busy_cores", "engine_workers", "parallel_map",
           "resolve_threads", "thread_report", "thread_summary", "torch_threads"]

#: Environment variable with the default of the CLI's ``--threads`` (a number or ``auto``).
THREADS_ENV = "CNNLAB_THREADS"


def _check_threads(what: str, n: int | None) -> None:
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise ValueError(f"{what}: the number of threads must be a positive int or None (leave as is), got {n!r}")


@contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """Use ``n`` threads in every loaded BLAS library inside the ``with`` block, then restore the previous counts.

    ``None`` leaves the setting as it is (so callers can pass an optional setting straight through).
    """
    _check_threads("blas_threads", n)
    if n is None:
        yield
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Use ``n`` torch intra-op threads inside the ``with`` block (``torch.set_num_threads``), then restore the
    previous count. ``None`` leaves the setting as it is."""
    _check_threads("torch_threads", n)
    if n is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


#: Workers of the NumPy engine's parallel kernels (1: everything runs in the calling thread).
_engine_workers = 1
#: The worker pool and its size, made when first needed.
_pool: tuple[ThreadPoolExecutor, int] | None = None


@contextmanager
def engine_workers(n: int) -> Iterator[None]:
    """Run the NumPy engine's parallel kernels on ``n`` worker threads inside the ``with`` block (1: serially,
    the default for library use and for reading the code in a debugger). The results do not depend on ``n``."""
    _check_threads("engine_workers", n)
    global _engine_workers
    previous, _engine_workers = _engine_workers, n
    try:
        yield
    finally:
        _engine_workers = previous


def parallel_map(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[fn(item) for item in items]``, run on the NumPy engine's workers when there are several (NumPy releases
    the GIL in its matrix products and copies, so the threads run on separate cores). Results come back in order."""
    global _pool
    if _engine_workers == 1 or len(items) < 2:
        return [fn(item) for item in items]
    if _pool is None or _pool[1] != _engine_workers:
        if _pool is not None:
            _pool[0].shutdown(wait=True)
        _pool = (ThreadPoolExecutor(max_workers=_engine_workers, thread_name_prefix="cnnlab-engine"),
                 _engine_workers)
    return list(_pool[0].map(fn, items))


#: Where Linux keeps the machine's CPU time counters (the first line sums every CPU).
PROC_STAT = Path("/proc/stat")
#: How long :func:`busy_cores` watches the counters, in seconds.
BUSY_SAMPLE_S = 0.1


def _cpu_ticks(stat: Path) -> tuple[int, int]:
    """``(busy, total)`` CPU ticks since boot from the ``cpu`` line of ``/proc/stat``: ``user nice system idle
    iowait irq softirq steal ...``; idle and iowait are the idle time."""
    fields = [int(v) for v in stat.read_text().split("\n", 1)[0].split()[1:9]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def busy_cores(interval: float = BUSY_SAMPLE_S, stat: Path = PROC_STAT) -> float | None:
    """How many cores other processes keep busy *now*: the machine's non-idle share of CPU time over ``interval``
    seconds, times the CPU count, minus this process's own CPU time in that interval. ``None`` where there is no
    ``/proc/stat`` (not Linux)."""
    try:
        busy_0, total_0 = _cpu_ticks(stat)
        own_0 = sum(os.times()[:2])
        time.sleep(interval)
        busy_1, total_1 = _cpu_ticks(stat)
        own_1 = sum(os.times()[:2])
    except (OSError, ValueError, IndexError):
        return None
    if total_1 <= total_0:
        return 0.0
    cpus = os.cpu_count() or 1
    return max(0.0, (busy_1 - busy_0) / (total_1 - total_0) * cpus - (own_1 - own_0) / interval)


def auto_threads(cpus: int | None = None, load: float | None = None) -> int:
    """Threads that will not collapse: the CPUs not already busy, at least 1: ``max(1, cpus - round(load))``.

    Thread pools that wait at every parallel region for all their threads slow down many times over when another
    process takes a core (a descheduled thread holds everyone up): measured on a 2-core machine, a CIFAR-10 epoch of
    torch with its default 2 threads took several times longer beside one busy process than with 1 thread. So
    ``auto`` counts the cores other processes keep busy now (``load``; default :func:`busy_cores`, a 0.1 s look at
    the CPU counters). The 1-minute load average is the fallback where there are no counters: it lags, so right
    after a job (a ``pip install``, a test run) it would still report a busy core on an idle machine.
    """
    cpus = cpus if cpus is not None else (os.cpu_count() or 1)
    if load is None:
        load = busy_cores()
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    return max(1, min(cpus, cpus - round(load)))


def resolve_threads(value: int | str | None) -> int | None:
    """``--threads`` as a count: an int (checked), ``"auto"`` (:func:`auto_threads`), ``None`` (leave the libraries
    alone). Strings of digits are accepted (from the environment)."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return auto_threads()
        if not text.isdigit():
            raise ValueError(f"threads must be a positive number or 'auto', got {value!r}")
        value = int(text)
    _check_threads("threads", value)
    return value


@contextmanager
def all_threads(n: int | None) -> Iterator[None]:
    """Use ``n`` threads in torch's intra-op pool, every loaded BLAS library and the NumPy engine's workers inside
    the ``with`` block, then restore the previous settings (``None``: leave them as they are). The CLI holds this
    for the length of one command, so calling it from Python (a notebook, a test) leaves the process as it was."""
    _check_threads("all_threads", n)
    if n is None:
        yield
        return
    with torch_threads(n), blas_threads(n), engine_workers(n):  # torch first: it loads its BLAS before the limit
        yield


def thread_report() -> dict[str, object]:
    """What is in effect now: ``torch_threads`` (intra-op), ``blas`` (one entry per loaded BLAS library: its
    ``library``, ``version``, ``threads`` and ``filepath``), ``cpu_count`` and ``load_average`` (1, 5 and 15 min;
    ``None`` where the system has none)."""
    import torch

    blas = [{"library": info.get("internal_api"), "version": info.get("version"), "threads": info.get("num_threads"),
             "filepath": info.get("filepath")}
            for info in threadpool_info() if info.get("user_api") == "blas"]
    try:
        load: tuple[float, float, float] | None = os.getloadavg()
    except (AttributeError, OSError):  # Windows, or not available
        load = None
    return {"torch_threads": torch.get_num_threads(), "blas": blas, "cpu_count": os.cpu_count(), "load_average": load}


def thread_summary(report: dict[str, object] | None = None) -> str:
    """:func:`thread_report` (or ``report``) as one line, e.g.
    ``torch 1 thread; BLAS openblas 0.3.27: 1 thread; 2 CPUs; load average 0.52 0.61 0.70``."""
    report = thread_report() if report is None else report

    def threads(n: object) -> str:
        return f"{n} thread" + ("" if n == 1 else "s")

    blas = report["blas"]
    libraries = ", ".join(f"{b['library']} {b['version']}: {threads(b['threads'])}"
                          for b in blas) if isinstance(blas, list) and blas else "none loaded"
    load = report["load_average"]
    load_text = " ".join(f"{v:.2f}" for v in load) if isinstance(load, tuple) else "n/a"
    return (f"torch {threads(report['torch_threads'])}; BLAS {libraries}; {report['cpu_count']} CPUs; "
            f"load average {load_text}")
