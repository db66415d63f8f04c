"""A report section as terminal text: what the CLI prints after a command (the same tables the report shows)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

from cnnlab.report.document import Section, format_value


def text_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows as aligned plain-text columns under a header line; multi-line cells are joined with '; '."""
    cells = [[str(c) for c in columns]] + [[format_value(v).replace("\n", "; ") for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def render_text(section: Section, width: int = 110) -> str:
    """The section's paragraphs (wrapped to ``width``), tables and links (text: path), as the CLI prints them."""
    blocks = []
    for paragraph in section.paragraphs:
        lines = [textwrap.fill(line, width) if line else "" for line in paragraph.replace("`", "").split("\n")]
        blocks.append("\n".join(lines))
    for table in section.tables:
        caption = f"{table.caption.rstrip('.:')}:\n" if table.caption else ""
        blocks.append(caption + text_table(table.columns, table.rows))
    if section.links:
        blocks.append("\n".join(f"{link.text}: {link.path}" for link in section.links))
    return "\n\n".join(blocks)
