"""Report section of the training part: what was trained and how, final metrics, per-epoch tables, curves."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnlab.formatting import Percent, percent
from cnnlab.models import get_model_info
from cnnlab.report.document import Figure, Section, Table
from cnnlab.training import get_recipe

if TYPE_CHECKING:
    from cnnlab.experiments.train import TrainingResult


def _last(values: list[Any]) -> Any:
    return values[-1] if values else None


def _pct(value: float | None) -> Percent | None:
    return None if value is None else Percent(value)


def section(result: TrainingResult, figures: dict[str, Path]) -> Section:
    """One row of final metrics per run, its per-epoch table, its settings in words and the curves."""
    runs = result.runs
    intro = []
    for name, run in runs.items():
        recipe = get_recipe(name)
        text = f"{name} ({recipe.summary}): {get_model_info(run.config.model).summary}, {run.parameters:,} parameters."
        val = _last(run.history.val_acc)
        if recipe.expected_val_acc is not None and val is not None:
            text += (f" The assignment expects about {percent(recipe.expected_val_acc, 0)} validation accuracy; "
                     f"this run reached {percent(val, 2)}.")
        intro.append(text)
    summary = [[name, r.config.engine, r.train_size, r.history.epochs, _pct(_last(r.history.train_acc)),
                _pct(_last(r.history.val_acc)), _pct(r.test_acc), r.history.seconds] for name, r in runs.items()]
    tables = [Table(["run", "engine", "train images", "epochs", "final train acc", "final val acc", "test acc",
                     "training s"], summary, caption="Final metrics")]
    for name, r in runs.items():
        rows = [[e.epoch, e.train_loss, _pct(e.train_acc), e.val_loss, _pct(e.val_acc), e.lr, e.seconds]
                for e in r.history.records]
        tables.append(Table(["epoch", "train loss", "train acc", "val loss", "val acc", "lr (end)", "s"], rows,
                            caption=f"{name}: per epoch"))
    paragraphs = [f"{name}: {r.config.describe()}." for name, r in runs.items()]
    for name, r in runs.items():
        train_acc, val_acc = _last(r.history.train_acc), _last(r.history.val_acc)
        if train_acc is not None and val_acc is not None and val_acc > train_acc and r.config.augment != "none":
            paragraphs.append(
                f"{name}: the final validation accuracy ({percent(val_acc)}) is above the training accuracy "
                f"({percent(train_acc)}). That is not a mistake: training accuracy is measured on the augmented "
                "images while the weights still change during the epoch, validation on clean images at the end of "
                "it, and the augmented images are harder.")
    paragraphs += [f"{name} was interrupted after {r.history.epochs} epochs." for name, r in runs.items()
                   if r.history.interrupted]
    shown = [figures["curves"]] if "curves" in figures else list(figures.values())
    first = next(iter(runs.values()))
    return Section(
        intro=" ".join(intro), paragraphs=paragraphs, tables=tables,
        figures=[Figure(path, "Loss and accuracy per epoch, training and validation") for path in shown],
        settings={"dataset": first.config.dataset, "validation images": first.val_size,
                  "test images": first.test_size},
    )
