"""A report section as terminal text: what the CLI prints after a command (the same tables the report shows)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

from cnnlab.report.document import Section, format_value
from cnnlab.report.math import plain


def text_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], width: int = 110) -> str:
    """Rows as aligned plain-text columns under a header line; multi-line cells are joined with '; '. A table
    wider than ``width`` characters is printed as records instead: one block per row, one ``column: value`` line
    per cell (empty cells left out)."""
    cells = [[plain(str(c)) for c in columns]] + [[plain(format_value(v)).replace("\n", "; ") for v in row]
                                                 for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    if sum(widths) + 2 * (len(widths) - 1) > width:
        label = max(len(c) for c in cells[0])
        return "\n\n".join("\n".join(f"{cells[0][i]:>{label}}: {value}" for i, value in enumerate(row)
                                      if value not in ("—", ""))
                           for row in cells[1:])
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def render_text(section: Section, width: int = 110) -> str:
    """The section's paragraphs (wrapped to ``width``), tables and links (text: path), as the CLI prints them."""
    blocks = []
    for paragraph in section.paragraphs:
        lines = [textwrap.fill(line, width) if line else "" for line in plain(paragraph).replace("`", "").split("\n")]
        blocks.append("\n".join(lines))
    for question, points in section.qa:
        lines = [textwrap.fill(f"Q: {plain(question)}", width)]
        lines += [textwrap.fill(plain(point), width, initial_indent="  - ", subsequent_indent="    ")
                  for point in points]
        blocks.append("\n".join(lines))
    for table in section.tables:
        caption = f"{plain(table.caption).rstrip('.:')}:\n" if table.caption else ""
        blocks.append(caption + text_table(table.columns, table.rows, width))
    if section.links:
        blocks.append("\n".join(f"{link.text}: {link.path}" for link in section.links))
    return "\n\n".join(blocks)
