"""Report section of the sanity checks: the initial losses against ln(10) and the overfitting runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cnnlab.formatting import percent
from cnnlab.report.document import Figure, Section, Table

if TYPE_CHECKING:
    from cnnlab.experiments.sanity import SanityResult

CAPTIONS = {
    "initial-loss": "Cross-entropy of each untrained network on training images, per engine; the dotted line is "
                    "ln 10, the loss of a uniform guess over 10 classes",
    "overfit": "Full-batch Adam on a few training images: loss (log scale) and accuracy per step; solid torch, dashed "
               "NumPy engine -- the same initial weights, so the curves should lie on each other",
}


def section(result: SanityResult, figures: dict[str, Path]) -> Section:
    """Two tables (initial loss; overfitting), a verdict for each check, the figures."""
    from cnnlab.experiments.sanity import MAX_EXCESS, MEMORISED

    initial_rows = [[r.model, r.engine, r.images, r.loss, r.expected, r.loss - r.expected, r.logit_std,
                     "yes" if r.ok else "NO"] for r in result.initial]
    overfit_rows = [[r.model, r.engine, r.images, len(r.loss), r.loss[0], r.loss[-1], r.accuracy[-1],
                     r.final_eval_accuracy, r.steps_to_memorise, r.seconds] for r in result.overfit]
    off = [f"{r.model} ({r.engine})" for r in result.initial if not r.ok]
    failed = [f"{r.model} ({r.engine})" for r in result.overfit if not r.memorised]
    worst = max(result.initial, key=lambda r: r.loss - r.expected)
    paragraphs = [
        (f"Every network starts within {MAX_EXCESS} nats of ln 10 = {result.initial[0].expected:.3f} (logits spread "
         "by less than about 1 across the classes): its initial predictions are close to uniform, as they should "
         "be." if not off else
         f"Initial loss more than {MAX_EXCESS} nats from ln 10: {', '.join(off)}. Such a loss means confident "
         "predictions before any training (too large initial weights or logits)."),
        f"The largest excess is {worst.model}'s ({worst.loss - worst.expected:+.3f} nats, logits spread "
        f"{worst.logit_std:.2f}). For slightly spread logits the loss is about ln 10 + s²/2 with s their spread "
        "across the classes; networks with BatchNorm start a little higher because normalisation keeps the "
        "features at unit scale however small the initial weights are, and skip connections add the blocks' "
        "outputs up.",
    ]
    if result.overfit:
        paragraphs.append(
            f"Every network memorised its {result.overfit[0].images} images ({percent(MEMORISED, 0)} or more of a "
            "training step's batch right) in every engine: forward pass, backward pass and optimizer work together."
            if not failed else
            f"Not memorised within the step budget: {', '.join(failed)} -- with the default budget this points at "
            "a bug; with a smaller one (--quick) it may only need more steps.")
        lagging = [r for r in result.overfit if r.memorised and r.final_eval_accuracy < MEMORISED]
        if lagging:
            paragraphs.append(
                "In evaluation mode " + ", ".join(f"{r.model} ({r.engine}) scores {percent(r.final_eval_accuracy, 0)}"
                                                  for r in lagging)
                + " on the same images: BatchNorm then normalises with its running statistics, an average over "
                "the steps (momentum 0.1) that still lags behind the statistics of the batch the network has "
                "just fitted. Long training makes the two agree; a handful of steps does not.")
    tables = [Table(["network", "engine", "images", "initial loss", "ln 10", "excess", "logit spread",
                     "about ln 10"], initial_rows,
                    caption="Initial loss (training mode, before any step); logit spread: standard deviation of the "
                            "logits across the classes, averaged over the images")]
    if overfit_rows:
        tables.append(Table(["network", "engine", "images", "steps", "first loss", "last loss", "last train acc",
                             "eval acc", "steps to 99%", "seconds"], overfit_rows,
                            caption="Overfitting a tiny subset, full-batch Adam until a step's batch is memorised "
                                    "(accuracies in [0, 1]; eval acc: afterwards, in evaluation mode)"))
    return Section(
        intro=("Two checks from CS231n to run before any long training. An untrained 10-class classifier should "
               "guess uniformly, so its cross-entropy should be about −ln(1/10) = ln 10 ≈ 2.303. And a network "
               "that can learn at all should memorise a handful of training images in a few dozen steps; if it "
               "cannot, something is broken and a long run would only hide it. Each engine starts from the same "
               "initial weights."),
        paragraphs=paragraphs, tables=tables,
        figures=[Figure(path, CAPTIONS.get(key, "")) for key, path in figures.items()],
        settings=result.settings,
    )
