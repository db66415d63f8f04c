"""Shared figure helpers: figures made without pyplot (no GUI, no global state), one look, PNG output.

Figures are built as :class:`matplotlib.figure.Figure` objects, which always render with the Agg (PNG) canvas,
so they work on a headless machine, in worker threads and inside notebooks alike, and importing cnnlab never
changes the user's matplotlib backend. :func:`save_figure` writes the PNG and releases the figure.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

#: Resolution of saved figures: sharp in the HTML report without making it heavy.
DPI = 120
#: Width of a full-width figure in inches (at :data:`DPI` that is 1,200 px; the report shows it at up to ~1,150 px).
WIDTH = 10.0
#: Height of one row of panels in inches.
ROW_HEIGHT = 3.6

#: Colours of overlaid runs, in order (matplotlib's colour-blind-friendly "tab10" start).
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#17becf")

def new_figure(nrows: int = 1, ncols: int = 1, *, width: float = WIDTH, height: float | None = None,
               squeeze: bool = False, **subplot_kw: Any) -> tuple[Figure, np.ndarray]:
    """A figure with an ``nrows`` x ``ncols`` grid of axes in cnnlab's style (constrained layout).

    ``height`` defaults to :data:`ROW_HEIGHT` per row. Axes come back as a 2-D array (``squeeze=False``) so
    callers index them the same way for any grid size.
    """
    if nrows < 1 or ncols < 1:
        raise ValueError(f"new_figure: need at least one row and one column, got {nrows} x {ncols}")
    fig = Figure(figsize=(width, height if height is not None else ROW_HEIGHT * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=squeeze, subplot_kw=subplot_kw or None)
    for ax in np.ravel(axes):
        style_axes(ax)
    return fig, axes


def style_axes(ax: Any) -> None:
    """Apply cnnlab's look to axes created elsewhere (e.g. with ``pyplot.subplots``)."""
    ax.grid(True, alpha=0.3)
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)


def save_figure(fig: Any, path: str | Path, *, dpi: int = DPI) -> Path:
    """Write ``fig`` as a PNG to ``path`` (folders created, ``.png`` added if there is no suffix), close it and
    return the path.

    Works for figures from :func:`new_figure` and from ``pyplot`` alike; a pyplot figure is closed so that long
    runs do not accumulate open figures. A suffix other than ``.png`` is an error (the report embeds PNGs).
    """
    path = Path(path)
    if path.suffix == "":
        path = path.with_suffix(".png")
    if path.suffix.lower() != ".png":
        raise ValueError(f"save_figure: figures are written as PNG, got a path ending in {path.suffix!r}: {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # No timestamp or software tag in the file, so the same figure gives the same bytes.
        fig.savefig(path, format="png", dpi=dpi, facecolor="white", metadata={"Software": None})
    finally:
        close_figure(fig)
    return path


def close_figure(fig: Any) -> None:
    """Release ``fig``: through pyplot if pyplot is in use (it ignores figures it does not manage); a figure made
    by :func:`new_figure` needs nothing beyond being dropped."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)
