"""Report section of the own-vs-library comparison (assignment 000 tasks 2.1, 3.1, 3.2): differences, accuracy,
speed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cnnlab.formatting import Percent
from cnnlab.report.document import Section, Table

if TYPE_CHECKING:
    from cnnlab.experiments.compare import CompareResult
    from cnnlab.timing import Timing


def _ms(timing: Timing) -> str:
    return f"{1e3 * timing.mean_s:.3g} ± {1e3 * timing.stdev_s:.2g}"


def section(result: CompareResult, figures: dict[str, Path]) -> Section:
    """Three tables: layer differences before/after copying, LeNet accuracy, inference time per algorithm."""
    differences = [[d.layer, d.algorithm or "-", " x ".join(map(str, d.input_shape)), d.mean_before, d.mean_after,
                    d.max_after] for d in (result.linear, *result.conv)]
    accuracy = [["torch.nn" if a.algorithm is None else f"own ({a.algorithm})", Percent(a.first_acc),
                 None if a.full_acc is None else Percent(a.full_acc), a.max_logit_diff,
                 f"{a.disagreements} / {a.evaluated}"] for a in result.accuracy]
    timing = [[t.algorithm, t.batch_size, _ms(t.library), _ms(t.own), 1e3 * t.library_s, 1e3 * t.own_s, t.mean_ratio,
               t.ratio, t.repeats] for t in result.timing]
    fast = [t for t in result.timing if t.algorithm != "naive"]
    naive = [t for t in result.timing if t.algorithm == "naive"]
    speed = "; ".join(f"{t.algorithm} at batch {t.batch_size}: {t.ratio:.2f}x" for t in fast + naive)
    conditions = result.conditions
    warnings = conditions.warnings([x for t in result.timing for x in (t.library, t.own)])
    return Section(
        intro=("cnnlab.torch_nn.Linear and Conv2d are built from tensor operations only (matmul, sliding-window "
               "views), with the same constructor, parameter names and state_dict as torch.nn. Before copying "
               "the parameters the layers differ only by their random initialisation; after load_state_dict they "
               "agree to float32 rounding, and the LeNet twin built from them reproduces the trained network."),
        paragraphs=[f"Inference time own / torch.nn (median of alternating runs on {result.device}): {speed}. The "
                    "naive algorithm loops over output positions straight from the assignment's equation 4, which is "
                    "why it is far slower.",
                    f"Timed with {conditions.describe()}."
                    + "".join(f"\nCaution: {w}." for w in warnings)],
        tables=[
            Table(["layer", "algorithm", "input", "mean |Δ| before copy", "mean |Δ| after copy", "max |Δ| after"],
                  differences, caption="Mean absolute difference of the outputs, own minus torch.nn"),
            Table(["network", f"accuracy, first {result.n_first}", f"accuracy, all {result.n_test}",
                   "max |Δ logit|", "other prediction"], accuracy,
                  caption="LeNet with the trained weights ('—' = not evaluated)"),
            Table(["algorithm", "batch", "torch.nn ms (mean ± sd)", "own ms (mean ± sd)", "torch.nn ms (median)",
                   "own ms (median)", "own / torch.nn (means)", "own / torch.nn (medians)", "timed calls"], timing,
                  caption="Inference time per batch (the assignment asks for the average; the median resists "
                          "outliers)"),
        ],
        settings=dict(result.settings),
    )
