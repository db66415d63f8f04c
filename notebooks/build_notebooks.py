"""Write the notebooks of ``notebooks/`` from their readable sources in ``notebooks/src/`` (no outputs), and
publish executed copies with their outputs in ``notebooks/executed/``.

Each source is a Python file in the percent format: ``# %%`` starts a code cell, ``# %% [markdown]`` a markdown cell
whose lines are comments (``# text``). Anything before the first marker (the source's own docstring) is not part
of the notebook. Usage::

    python notebooks/build_notebooks.py            # rewrite notebooks/*.ipynb
    python notebooks/build_notebooks.py --check    # exit 1 if a notebook differs from its source
    CNNLAB_DATA=../shared/data python notebooks/build_notebooks.py --execute
                                                   # run them on the real data (full settings, minutes) and write
                                                   # notebooks/executed/*.ipynb with every output

An executed copy records the SHA-256 of the source it ran (``metadata.cnnlab.source_sha256``), so the tests can tell
when it no longer matches its source and must be executed again.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from datetime import datetime
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
EXECUTED = HERE / "executed"
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


def source_sha256(name: str) -> str:
    """SHA-256 of the notebook's source file (what an executed copy must have been run from)."""
    return hashlib.sha256((SOURCES / f"{name}.py").read_bytes()).hexdigest()


def execute(name: str, timeout: int = 3600) -> Path:
    """Run notebook ``name`` top to bottom in a ``python3`` kernel (full settings unless ``CNNLAB_NOTEBOOK_QUICK``
    is set; data from ``$CNNLAB_DATA``) and write it with its outputs to ``executed/<name>.ipynb``."""
    from nbclient import NotebookClient

    nb = build(name)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
    nb.metadata["cnnlab"] = {"source_sha256": source_sha256(name), "executed": f"{datetime.now():%Y-%m-%d %H:%M}",
                             "quick": os.environ.get("CNNLAB_NOTEBOOK_QUICK") == "1"}
    EXECUTED.mkdir(exist_ok=True)
    target = EXECUTED / f"{name}.ipynb"
    target.write_text(render(nb), encoding="utf-8")
    return target


def render(nb: nbformat.NotebookNode) -> str:
    """The notebook as it is written to disk (nbformat's JSON, one trailing newline)."""
    return nbformat.writes(nb) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that every notebook matches its source")
    parser.add_argument("--execute", action="store_true",
                        help="run every notebook (real data from $CNNLAB_DATA) into notebooks/executed/")
    args = parser.parse_args(argv)
    if args.execute:
        for name in NOTEBOOKS:
            print(f"wrote {execute(name)}")
        return 0
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
