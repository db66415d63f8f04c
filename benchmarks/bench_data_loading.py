"""How long ``load_dataset`` takes for every split of MNIST and CIFAR-10 (goal: well under 10 s each).

Usage::

    python benchmarks/bench_data_loading.py [--data-dir DIR] [--repeats 5]

Reads from --data-dir, else $CNNLAB_DATA, else ./data; never downloads. For each split it prints the first
load in this process (files possibly cold in the OS cache) and the median / min of further repeats.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

from cnnlab.data import DATASETS, SPLITS, DataError, load_dataset, prepare, resolve_root
from cnnlab.timing import measure

GOAL_S = 10.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="data root (default: $CNNLAB_DATA, else ./data)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats after the first load (default 5)")
    args = parser.parse_args(argv)
    root = resolve_root(args.data_dir)
    print(f"data root: {root.resolve()}")
    print(f"python {platform.python_version()}, {platform.machine()}, {platform.processor() or 'cpu'}")
    print(f"{'dataset':<9} {'split':<6} {'n':>6}  {'first load':>10}  {'median':>8}  {'min':>8}  {'prepare':>8}  goal")
    worst = 0.0
    failed = False
    for name in DATASETS:
        for split in SPLITS:
            try:
                start = time.perf_counter()
                ds = load_dataset(name, split, root, download=False, progress=False)
                first = time.perf_counter() - start
            except DataError as exc:
                print(f"{name:<9} {split:<6} skipped: {str(exc).splitlines()[0]}")
                failed = True
                continue
            timing = measure(lambda n=name, s=split: load_dataset(n, s, root, download=False), warmup=0,
                             repeats=args.repeats)
            prep = measure(lambda d=ds: prepare(d), warmup=0, repeats=3)
            worst = max(worst, first, timing.median_s)
            verdict = "ok" if max(first, timing.median_s) < GOAL_S else "SLOW"
            print(f"{name:<9} {split:<6} {len(ds):>6}  {first:>9.3f}s  {timing.median_s:>7.3f}s  "
                  f"{timing.min_s:>7.3f}s  {prep.median_s:>7.3f}s  {verdict}")
    print(f"slowest load: {worst:.3f} s (goal < {GOAL_S:.0f} s)")
    return 1 if failed or worst >= GOAL_S else 0


if __name__ == "__main__":
    sys.exit(main())
