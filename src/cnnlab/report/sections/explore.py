"""Report section of ``cnnlab explore``: links to the interactive pages, what is on them, how big they are."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cnnlab.report.document import Link, Section, Table

if TYPE_CHECKING:
    from cnnlab.experiments.explore import ExploreResult, ExplorerPage


def _networks(page: ExplorerPage) -> str:
    return " beside ".join(f"{n.label} ({n.model})" for n in page.networks)


def section(result: ExploreResult, figures: dict[str, Path]) -> Section:
    """One link per page (relative to the report, so the run's folder can be moved whole), a table of the pages
    and how to use them."""
    rows = [[page.path.name, page.dataset_title, _networks(page), page.images, f"{page.size_bytes / 1e6:.2f} MB"]
            for page in result.pages]
    links = [Link(page.path, f"Open the {page.dataset_title} explorer ({page.path.name})",
                  f"{_networks(page)}; {page.images} embedded test images.") for page in result.pages]
    paragraphs = [
        "Each page is one self-contained HTML file (weights, test images and scripts inside; it loads nothing, so "
        "it works offline, mailed to a student or put on a course page). It runs the trained networks itself, in a "
        "small JavaScript engine written from the equations and tested equal to the NumPy engine and PyTorch, and "
        "shows every layer's maps and the class probabilities for the chosen input.",
        "Try: pick a test image and shift it with the arrow keys (the assignment's shift experiment, live: on the "
        "MNIST page the MLP's prediction breaks while the CNN's maps move with the digit); draw a digit (MNIST); click "
        "a cell of a convolution or pooling map to see its window, the kernel, the products and their sum plus "
        "bias, or which input won the max.",
    ]
    paragraphs.extend(f"Not written: the page of {key}: {reason}" for key, reason in result.left_out.items())
    return Section(
        intro="Interactive pages of the networks trained above: draw, shift, click, see every number.",
        paragraphs=paragraphs,
        tables=[Table(["file", "dataset", "networks", "test images", "size"], rows, caption="The pages.")],
        links=links,
        settings={"networks": "; ".join(", ".join(str(n.folder) for n in page.networks) for page in result.pages)},
    )
