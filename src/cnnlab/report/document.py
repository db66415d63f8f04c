"""The report's content as plain data: :class:`Section` (one experiment's text, tables, figures, settings),
:class:`Table`, :class:`Figure`, and the number formatting every renderer uses.

Section builders (:mod:`cnnlab.report.sections`) make these from experiment results; :mod:`cnnlab.report.html`
renders them into the self-contained page and :mod:`cnnlab.report.text` into terminal text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cnnlab.formatting import format_seconds, format_value

__all__ = ["Figure", "Link", "Section", "Table", "format_seconds", "format_value"]


@dataclass
class Table:
    """A table of ``rows``, each a list with one cell per entry of ``columns``; cells are formatted by
    :func:`format_value` (numbers to 4 significant digits, ``None`` as a dash)."""

    columns: list[str]
    rows: list[list]
    caption: str = ""

    def __post_init__(self) -> None:
        if not self.columns:
            raise ValueError("Table: needs at least one column")
        for index, row in enumerate(self.rows):
            if isinstance(row, str | bytes) or not isinstance(row, Sequence):
                raise ValueError(f"Table: row {index} must be a list of cells, got {type(row).__name__}")
            if len(row) != len(self.columns):
                raise ValueError(f"Table: row {index} has {len(row)} cells but there are {len(self.columns)} "
                                 f"columns {list(self.columns)}")


@dataclass
class Figure:
    """An image file (PNG usually) embedded into the report, with a caption below it."""

    path: Path
    caption: str = ""


@dataclass
class Link:
    """A file written beside the report (an interactive page, say), linked from it: ``text`` is the link,
    ``caption`` a sentence after it. The HTML report links it by its path relative to the report's folder."""

    path: Path
    text: str
    caption: str = ""


@dataclass
class Section:
    """One part of the report (one seed task, one experiment). The title is the registry entry's (set by the
    pipeline), so section builders need not repeat it.

    ``links`` point at files beside the report (linked, not embedded); ``settings`` are the arguments it ran with,
    ``seconds`` how long it took. A section with ``skipped`` set did not run; ``skipped`` says why and how to make
    it run (e.g. where to put the data), and is shown as such.
    """

    title: str = ""
    intro: str = ""
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    seconds: float | None = None
    skipped: str | None = None
    #: Questions with their answers as short points (the assignments' questions), shown after the paragraphs.
    qa: list[tuple[str, list[str]]] = field(default_factory=list)
