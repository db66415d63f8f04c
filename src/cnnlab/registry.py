"""The one registry of experiments: what each computes (:mod:`cnnlab.experiments`), how it is drawn
(:mod:`cnnlab.plots`) and reported (:mod:`cnnlab.report.sections`), in report order.

``cnnlab run`` runs every entry into one folder and one report; ``cnnlab NAME`` is generated for every entry with
``command=True`` (its options from the settings' fields). A new experiment is a module in ``experiments/``, its
figures in ``plots/``, its section in ``report/sections/`` and one :func:`register` call (or a line below).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnlab.experiments import (
    bn_residual,
    compare,
    conv_output,
    dataset_overview,
    engine_check,
    equivariance,
    evidence,
    explore,
    featuremaps,
    sanity,
    train,
    warmup,
)
from cnnlab.experiments import xcorr1d as xcorr1d_experiment
from cnnlab.experiments.base import Experiment
from cnnlab.plots import bn_residual as bn_residual_plots
from cnnlab.plots import dataset_overview as overview_plots
from cnnlab.plots import equivariance as equivariance_plots
from cnnlab.plots import evidence as evidence_plots
from cnnlab.plots import featuremaps as featuremaps_plots
from cnnlab.plots import sanity as sanity_plots
from cnnlab.plots import training as training_plots
from cnnlab.plots import warmup as warmup_plots
from cnnlab.plots import xcorr as xcorr_plots
from cnnlab.report.document import Section
from cnnlab.report.sections import bn_residual as bn_residual_section
from cnnlab.report.sections import compare as compare_section
from cnnlab.report.sections import conv_output as conv_output_section
from cnnlab.report.sections import dataset_overview as overview_section
from cnnlab.report.sections import engine_check as engine_check_section
from cnnlab.report.sections import equivariance as equivariance_section
from cnnlab.report.sections import evidence as evidence_section
from cnnlab.report.sections import explore as explore_section
from cnnlab.report.sections import featuremaps as featuremaps_section
from cnnlab.report.sections import sanity as sanity_section
from cnnlab.report.sections import train as train_section
from cnnlab.report.sections import warmup as warmup_section
from cnnlab.report.sections import xcorr1d as xcorr1d_section

SectionBuilder = Callable[[Any, dict[str, Path]], Section]
FigureMaker = Callable[[Any, Path], dict[str, Path]]


def _no_figures(result: Any, folder: Path) -> dict[str, Path]:
    return {}


@dataclass(frozen=True)
class Entry:
    """One part of the report: an experiment with the settings ``cnnlab run`` uses, its figures and section.

    ``name`` (default: the experiment's) is the part's key, its folder in a run, and -- with ``command`` -- its
    ``cnnlab`` command; ``title`` (default: the experiment's) its report heading.
    """

    experiment: Experiment[Any, Any]
    section: SectionBuilder
    figures: FigureMaker = _no_figures
    name: str = ""
    title: str = ""
    settings: Any = None
    command: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.name or self.experiment.name)
        object.__setattr__(self, "title", self.title or self.experiment.title)
        if self.settings is None:
            object.__setattr__(self, "settings", self.experiment.settings())


_ENTRIES: list[Entry] = [
    Entry(xcorr1d_experiment.EXPERIMENT, xcorr1d_section.section, xcorr_plots.figures),
    Entry(dataset_overview.EXPERIMENT, overview_section.section, overview_plots.figures, name="mnist-data",
          title="MNIST images (assignment 004, task 2)", settings=dataset_overview.DatasetOverviewSettings("mnist"),
          command=False),
    Entry(conv_output.EXPERIMENT, conv_output_section.section),
    Entry(warmup.EXPERIMENT, warmup_section.section, warmup_plots.figures),
    Entry(engine_check.EXPERIMENT, engine_check_section.section),
    Entry(train.EXPERIMENT, train_section.section, training_plots.figures, name="mnist-training",
          title="MNIST CNN training, NumPy engine (assignment 004, task 5)",
          settings=train.TrainingSettings(("mnist-seed", "mnist-better")), command=False),
    Entry(equivariance.EXPERIMENT, equivariance_section.section, equivariance_plots.figures),
    Entry(dataset_overview.EXPERIMENT, overview_section.section, overview_plots.figures, name="cifar-data",
          title="CIFAR-10 images (assignment 000, task 1.0)",
          settings=dataset_overview.DatasetOverviewSettings("cifar10"), command=False),
    Entry(sanity.EXPERIMENT, sanity_section.section, sanity_plots.figures),
    Entry(train.EXPERIMENT, train_section.section, training_plots.figures, name="cifar-training",
          title="CIFAR-10 LeNet training, PyTorch (assignment 000, tasks 1.1-1.2)",
          settings=train.TrainingSettings(("cifar-lenet",)), command=False),
    Entry(bn_residual.EXPERIMENT, bn_residual_section.section, bn_residual_plots.figures),
    Entry(compare.EXPERIMENT, compare_section.section),
    Entry(featuremaps.EXPERIMENT, featuremaps_section.section, featuremaps_plots.figures),
    Entry(evidence.EXPERIMENT, evidence_section.section, evidence_plots.figures, name="mnist-evidence",
          title="From feature maps to evidence: what the MNIST CNN learned (assignment 004 network)",
          settings=evidence.EvidenceSettings(network="mnist-seed"), command=False),
    Entry(evidence.EXPERIMENT, evidence_section.section, evidence_plots.figures),
    Entry(explore.EXPERIMENT, explore_section.section),
]


def entries() -> tuple[Entry, ...]:
    """Every registered entry, in report order."""
    return tuple(_ENTRIES)


def get_entry(name: str) -> Entry:
    """The entry called ``name``; ``KeyError`` listing the names otherwise."""
    for entry in _ENTRIES:
        if entry.name == name:
            return entry
    raise KeyError(f"no experiment {name!r}; choose one of {', '.join(e.name for e in _ENTRIES)}")


def register(entry: Entry, *, before: str | None = None) -> Entry:
    """Add ``entry`` (at the end of the report, or before the entry called ``before``); its name must be new."""
    if any(e.name == entry.name for e in _ENTRIES):
        raise ValueError(f"an experiment called {entry.name!r} is registered already")
    index = len(_ENTRIES) if before is None else _ENTRIES.index(get_entry(before))
    _ENTRIES.insert(index, entry)
    return entry


def unregister(name: str) -> None:
    """Remove the entry called ``name`` (tests that register a toy experiment clean up with it)."""
    _ENTRIES.remove(get_entry(name))
