"""Report section of the own-vs-library comparison (seed 000 tasks 2.1, 3.1, 3.2): differences, accuracy, speed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cnnlab.report.document import Section, Table

if TYPE_CHECKING:
    from cnnlab.experiments.compare import CompareResult


def section(result: CompareResult, figures: dict[str, Path]) -> Section:
    """Three tables: layer differences before/after copying, LeNet accuracy, inference time per algorithm."""
    differences = [[d.layer, d.algorithm or "-", " x ".join(map(str, d.input_shape)), d.mean_before, d.mean_after,
                    d.max_after] for d in (result.linear, *result.conv)]
    accuracy = [["torch.nn" if a.algorithm is None else f"own ({a.algorithm})", a.first_acc, a.full_acc,
                 a.max_logit_diff, f"{a.disagreements} / {a.evaluated}"] for a in result.accuracy]
    timing = [[t.algorithm, t.batch_size, 1e3 * t.library_s, 1e3 * t.own_s, t.ratio] for t in result.timing]
    fast = [t for t in result.timing if t.algorithm != "naive"]
    naive = [t for t in result.timing if t.algorithm == "naive"]
    speed = "; ".join(f"{t.algorithm} at batch {t.batch_size}: {t.ratio:.2f}x" for t in fast + naive)
    return Section(
        intro=("cnnlab.torch_nn.Linear and Conv2d are built from tensor operations only (matmul, sliding-window "
               "views), with the same constructor, parameter names and state_dict as torch.nn. Before copying "
               "the parameters the layers differ only by their random initialisation; after load_state_dict they "
               "agree to float32 rounding, and the LeNet twin built from them reproduces the trained network."),
        paragraphs=[f"Inference time own / torch.nn (median of alternating runs, {result.device}, {result.threads} "
                    f"threads): {speed}. The naive algorithm loops over output positions straight from the "
                    "seed's equation 4, which is why it is far slower."],
        tables=[
            Table(["layer", "algorithm", "input", "mean |Δ| before copy", "mean |Δ| after copy", "max |Δ| after"],
                  differences, caption="Mean absolute difference of the outputs, own minus torch.nn"),
            Table(["network", f"accuracy, first {result.n_first}", f"accuracy, all {result.n_test}",
                   "max |Δ logit|", "other prediction"], accuracy,
                  caption="LeNet with the trained weights (accuracies in [0, 1]; '-' = not evaluated)"),
            Table(["algorithm", "batch", "torch.nn ms", "own ms", "own / torch.nn"], timing,
                  caption="Inference time per batch"),
        ],
        settings=dict(result.settings),
    )
