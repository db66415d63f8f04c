"""Write the notebooks of ``notebooks/`` from their readable sources in ``notebooks/src/`` (no outputs).

Each source is a Python file in the percent format: ``# %%`` starts a code cell, ``# %% [markdown]`` a markdown cell
whose lines are comments (``# text``). Anything before the first marker (the source's own docstring) is not part
of the notebook. Usage::

    python notebooks/build_notebooks.py          # rewrite notebooks/*.ipynb
    python notebooks/build_notebooks.py --check  # exit 1 if a notebook differs from its source
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
#: The notebooks, by name: ``<name>.ipynb`` is built from ``src/<name>.py``.
NOTEBOOKS = ("seed000_cifar10_cnn", "seed004_mnist_conv")
MARKER = "# %%"
MARKDOWN_MARKER = "# %% [markdown]"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def _markdown_line(line: str, where: str) -> str:
    if line == "#":
        return ""
    if not line.startswith("# "):
        raise ValueError(f"{where}: a markdown cell line must start with '# ', got {line!r}")
    return line[2:]


def parse_cells(text: str, name: str = "<source>") -> list[nbformat.NotebookNode]:
    """The cells of a percent-format source ``text``: code and markdown cells, in order, blank edges trimmed."""
    cells: list[nbformat.NotebookNode] = []
    kind: str | None = None
    lines: list[str] = []
    start = 0

    def flush() -> None:
        if kind is None:
            return
        body = "\n".join(lines).strip("\n")
        if not body.strip():
            raise ValueError(f"{name}: the cell starting at line {start} is empty")
        cells.append(nbformat.v4.new_markdown_cell(body) if kind == "markdown" else nbformat.v4.new_code_cell(body))

    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.rstrip()
        if stripped in (MARKER, MARKDOWN_MARKER):
            flush()
            kind, lines, start = ("markdown" if stripped == MARKDOWN_MARKER else "code"), [], number
        elif stripped.startswith(MARKER):
            raise ValueError(f"{name}:{number}: unknown cell marker {stripped!r}; use {MARKER!r} or "
                             f"{MARKDOWN_MARKER!r}")
        elif kind == "markdown":
            lines.append(_markdown_line(stripped, f"{name}:{number}") if stripped else "")
        elif kind == "code":
            lines.append(line)
    flush()
    if not cells:
        raise ValueError(f"{name}: no cells (start each cell with {MARKER!r})")
    return cells


def build(name: str) -> nbformat.NotebookNode:
    """The notebook ``name`` built from ``src/<name>.py``: no outputs, no execution counts, stable cell ids."""
    source = SOURCES / f"{name}.py"
    nb = nbformat.v4.new_notebook()
    nb.cells = parse_cells(source.read_text(encoding="utf-8"), str(source))
    for index, cell in enumerate(nb.cells):
        cell.id = f"cell-{index:02d}"  # stable ids keep rebuilds diff-free
    nb.metadata = {"kernelspec": dict(KERNELSPEC),
                   "language_info": {"name": "python", "pygments_lexer": "ipython3"}}
    nbformat.validate(nb)
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    """The notebook as it is written to disk (nbformat's JSON, one trailing newline)."""
    return nbformat.writes(nb) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that every notebook matches its source")
    args = parser.parse_args(argv)
    stale = []
    for name in NOTEBOOKS:
        target = HERE / f"{name}.ipynb"
        text = render(build(name))
        if args.check:
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                stale.append(target.name)
        else:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target}")
    if stale:
        print(f"out of date (run python {Path(__file__).name}): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
