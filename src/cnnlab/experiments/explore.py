"""``cnnlab explore``: interactive pages of trained networks (:mod:`cnnlab.explore`), one per dataset.

With ``--weights RUN_DIR`` the page shows that run's network (an MNIST CNN or MLP, or the CIFAR-10 LeNet), with
``--beside RUN_DIR`` a second network of the same dataset next to it on the same input. Without ``--weights``
(and in ``cnnlab run``) it shows the run's own networks: the assignment's MNIST CNN (recipe ``mnist-seed``) with the MLP
(``mlp-seed``) beside it, and the CIFAR-10 LeNet (``cifar-lenet``). Each page is ``explorer-<dataset>.html`` in the
output folder; a page whose dataset is missing is left out (and said so) while the others are still written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnlab import data
from cnnlab.errors import UserError
from cnnlab.experiments.base import Context, Experiment
from cnnlab.explore import ExportedNetwork, export_trained, load_run, samples_from, with_reference, write_page
from cnnlab.options import Validated, option

#: The pages of a run without ``--weights``: per page, the recipes of its networks (side by side, in this order).
RUN_PAGES: tuple[tuple[str, ...], ...] = (("mnist-seed", "mlp-seed"), ("cifar-lenet",))


@dataclass(frozen=True)
class ExploreSettings(Validated):
    """Which trained networks the pages show and how many test images they embed."""

    weights: Path | None = option(None, "Folder of a 'cnnlab train' run (MNIST CNN or MLP, or CIFAR-10 LeNet) to "
                                  "explore [default: the run's own mnist-seed CNN with the mlp-seed MLP beside it, "
                                  "and its cifar-lenet; or --train].", metavar="RUN_DIR")
    beside: Path | None = option(None, "Folder of a second run on the same dataset, shown side by side with "
                                 "--weights on the same input (e.g. the MLP beside the CNN).", metavar="RUN_DIR")
    images: int = option(30, "Test images embedded in each page (balanced over the classes).", minimum=1,
                         maximum=200)
    seed: int = option(0, "Picks the embedded test images.", minimum=0)

    def check(self) -> None:
        if self.beside is not None and self.weights is None:
            raise ValueError("--beside needs --weights: the network to show the --beside one next to")


@dataclass
class PageNetwork:
    """One network shown on a page: its label, architecture, run folder and how many parameters it has."""

    label: str
    model: str
    folder: Path
    parameters: int


@dataclass
class ExplorerPage:
    """One written page: its file, its dataset, its networks, the number of embedded images and the file size."""

    path: Path
    dataset: str
    dataset_title: str
    networks: list[PageNetwork]
    images: int
    size_bytes: int


@dataclass
class ExploreResult:
    """The written pages, and the pages left out with the reason (their dataset is missing)."""

    pages: list[ExplorerPage]
    left_out: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"pages": [{"path": str(p.path), "dataset": p.dataset, "images": p.images,
                           "size_bytes": p.size_bytes,
                           "networks": [{"label": n.label, "model": n.model, "weights": str(n.folder),
                                         "parameters": n.parameters} for n in p.networks]}
                          for p in self.pages],
                "left_out": dict(self.left_out)}


def _page(folders: list[Path], settings: ExploreSettings, context: Context) -> ExplorerPage:
    """The page of the runs in ``folders`` (one dataset), written into the context's folder."""
    runs = [(folder, *load_run(folder, "numpy")) for folder in folders]
    first, *others = runs
    for folder, _, config in others:
        if config.dataset != first[2].dataset:
            raise UserError(f"--beside {folder}: that run trained a {config.model} on {config.dataset}, but "
                            f"--weights {first[0]} is on {first[2].dataset}; the networks of one page share their "
                            "input, so they must be of one dataset")
    dataset = first[2].dataset
    samples = samples_from(context.dataset(dataset, "test"), settings.images, settings.seed)
    exported: list[ExportedNetwork] = []
    shown = []
    for folder, model, config in runs:
        exported.append(with_reference(export_trained(model, config, source=str(folder)), model, samples))
        shown.append(PageNetwork(exported[-1].label, config.model, folder, exported[-1].parameters))
    path = write_page(context.folder() / f"explorer-{dataset}.html", exported, samples)
    return ExplorerPage(path, dataset, samples.title, shown, len(samples.images), path.stat().st_size)


def run(settings: ExploreSettings, context: Context) -> ExploreResult:
    """Write the pages (see the module docstring); raises the first :class:`~cnnlab.data.DataError` when no page
    could be written because data is missing."""
    if settings.weights is not None:
        folders = [settings.weights] + ([settings.beside] if settings.beside is not None else [])
        return ExploreResult([_page(folders, settings, context)])
    pages, left_out = [], {}
    first_error: data.DataError | None = None
    for recipes in RUN_PAGES:
        try:
            folders = [context.network(name, purpose=f"explore ({name})").folder for name in recipes]
            pages.append(_page(folders, settings, context))
        except data.DataError as error:
            left_out[" + ".join(recipes)] = str(error)
            first_error = first_error or error
    if not pages and first_error is not None:
        raise first_error
    return ExploreResult(pages, left_out)


EXPERIMENT = Experiment(
    "explore", "Explore the trained networks (interactive pages)",
    "An interactive page of your trained network(s): live inference in the browser, pick, draw (MNIST) or shift "
    "the input, every layer's maps, click a cell for its equation. Writes explorer-<dataset>.html (one "
    "self-contained file per dataset, nothing loaded from the web) into --out.",
    ExploreSettings, run, uses_networks=True)
