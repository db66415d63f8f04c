"""Report section of the engine check: the NumPy Conv2d's differences to PyTorch and its speed, per algorithm."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cnnlab.report.document import Section, Table

if TYPE_CHECKING:
    from cnnlab.experiments.engine_check import EngineCheckResult

#: What each algorithm is, for the reader (algorithms the result does not contain are left out).
ALGORITHM_NOTES = {
    "naive": "naive is the reference straight from the equation: seven nested loops (batch, output channel, output "
             "row, output column, input channel, kernel row, kernel column)",
    "loops2": "loops2 loops over the output positions (i, j) only and broadcasts each window over batch, channels "
              "and filters (the assignment's two-loop limit)",
    "im2col": "im2col is the textbook algorithm: every window of the whole batch copied into a column matrix, one "
              "matrix product per group, col2im for the backward pass",
    "fast": "fast is the default: the same idea on chunks of images small enough to stay in the CPU cache, with "
            "contiguous 'wide' columns at stride 1",
}


def section(result: EngineCheckResult, figures: dict[str, Path]) -> Section:
    """One table of differences (output and every gradient), one of forward speed relative to torch."""
    algorithms = [a.algorithm for a in result.cases[0].algorithms] if result.cases else []
    diff_rows, speed_rows = [], []
    for check in result.cases:
        shape = " x ".join(map(str, check.case.input_shape))
        for algo in check.algorithms:
            d = algo.max_abs_diff
            diff_rows.append([check.case.name, shape, algo.algorithm, d["y"], d["dx"], d["dW"], d["db"]])
        speed_rows.append([check.case.name, shape, check.torch_forward_s * 1e3,
                           *[check.ratio(a) for a in check.algorithms]])
    notes = "; ".join(ALGORITHM_NOTES[a] for a in algorithms if a in ALGORITHM_NOTES)
    return Section(
        intro=(r"The NumPy Conv2d computes \(y_{s,d,i,j} = \sum_c \sum_n \sum_m x_{s,c,iS+nD,jS+mD} \cdot W_{d,c,n,m} "
               r"+ b_d\) (cross-correlation, kernel not flipped) and its backward pass by hand. Each algorithm ran "
               "forward and backward on the same random input and weights as torch.nn.Conv2d."),
        paragraphs=[
            f"Largest absolute difference to PyTorch over every case, algorithm, output and gradient: "
            f"{result.worst_diff:.2e} (float32 rounding). The warm-up's batched many-filter window product "
            f"reproduces torch's output positions to {result.warmup_max_abs_diff:.2e}.",
            notes + ".",
            f"Times are medians of runs taken in turn (torch, then each algorithm, three rounds; naive once), one "
            f"thread each: {result.conditions.describe()}."
            + "".join(f"\nCaution: {w}." for w in result.conditions.warnings(
                [t for c in result.cases for t in (c.torch_forward, *(a.forward for a in c.algorithms))
                 if t.repeats > 1])),
        ],
        tables=[
            Table(["case", "input", "algorithm", "max |Δy|", "max |Δdx|", "max |ΔdW|", "max |Δdb|"], diff_rows,
                  caption="Own minus torch, forward output and gradients (float32)"),
            Table(["case", "input", "torch forward (ms)", *[f"{a} / torch" for a in algorithms]], speed_rows,
                  caption="Forward time relative to torch.nn.Conv2d (median; naive timed once)"),
        ],
        settings={"cases": len(result.cases), "algorithms": ", ".join(algorithms)},
    )
