"""Report section of the training part: what was trained and how, final metrics, per-epoch tables, curves; with
several seeds the final metrics are each accuracy's mean ± sample std over them, and a table lists every seed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnlab.formatting import Percent, percent
from cnnlab.models import get_model_info
from cnnlab.report.document import Figure, Section, Table
from cnnlab.training import get_recipe
from cnnlab.training.seeds import ACCURACIES, Spread, final_accuracies

if TYPE_CHECKING:
    from cnnlab.experiments.train import TrainingResult


def _last(values: list[Any]) -> Any:
    return values[-1] if values else None


def _pct(value: float | None) -> Percent | None:
    return None if value is None else Percent(value)


def _final(result: TrainingResult, name: str) -> list[Any]:
    """The final train, val and test accuracy of recipe ``name``: the run's, or ``mean ± std`` over its seeds."""
    spreads = result.spreads(name)
    if spreads:
        return [spreads[key].describe() if key in spreads else None for key in ACCURACIES]
    return [_pct(value) for value in final_accuracies(result.runs[name]).values()]


def _reached(spreads: dict[str, Spread], val: float | None) -> str:
    if "final_val_acc" in spreads:
        return f"its {spreads['final_val_acc'].n} seeds reached {spreads['final_val_acc'].describe()}"
    return f"this run reached {percent(val, 2)}" if val is not None else ""


def section(result: TrainingResult, figures: dict[str, Path]) -> Section:
    """One row of final metrics per run (mean ± std over the seeds when repeated), its per-epoch table, its
    settings in words and the curves."""
    runs = result.runs
    intro = []
    for name, run in runs.items():
        recipe = get_recipe(name)
        text = f"{name} ({recipe.summary}): {get_model_info(run.config.model).summary}, {run.parameters:,} parameters."
        reached = _reached(result.spreads(name), _last(run.history.val_acc))
        if recipe.expected_val_acc is not None and reached:
            text += (f" The assignment expects about {percent(recipe.expected_val_acc, 0)} validation accuracy; "
                     f"{reached}.")
        intro.append(text)
    summary = [[name, r.config.engine, r.train_size, r.history.epochs, *_final(result, name), r.history.seconds]
               for name, r in runs.items()]
    repeated = [name for name in runs if result.spreads(name)]
    caption = ("Final metrics (accuracies: mean ± sample std over the seeds; training time: the first seed's)"
               if repeated else "Final metrics")
    tables = [Table(["run", "engine", "train images", "epochs", "final train acc", "final val acc", "test acc",
                     "training s"], summary, caption=caption)]
    if repeated:
        rows = [[name, seed, *(_pct(value) for value in final_accuracies(r).values()), r.history.seconds]
                for name in repeated for seed, r in result.seeds[name].items()]
        tables.append(Table(["run", "seed", *ACCURACIES.values(), "training s"], rows, caption="Every seed"))
    for name, r in runs.items():
        rows = [[e.epoch, e.train_loss, _pct(e.train_acc), e.val_loss, _pct(e.val_acc), e.lr, e.seconds]
                for e in r.history.records]
        tables.append(Table(["epoch", "train loss", "train acc", "val loss", "val acc", "lr (end)", "s"], rows,
                            caption=f"{name}: per epoch"))
    paragraphs = [f"{name}: {r.config.describe()}." for name, r in runs.items()]
    for name in repeated:
        seeds = list(result.seeds[name])
        paragraphs.append(
            f"{name} was trained {len(seeds)} times, with seeds {', '.join(map(str, seeds))} (initial weights, "
            "shuffling and augmentation differ; nothing else): the final metrics are the mean ± the sample standard "
            f"deviation over those runs. The per-epoch table and the curves are seed {seeds[0]}'s, and the later "
            f"parts of the report use seed {seeds[0]}'s network.")
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
