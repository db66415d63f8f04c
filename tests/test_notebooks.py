"""The notebooks of ``notebooks/``: built from their sources, committed without outputs, and they run top to bottom.

Each notebook is executed with nbclient in a Jupyter kernel (``python3``: the interpreter running the tests) in
quick mode (``CNNLAB_NOTEBOOK_QUICK=1``) on the tiny real-format data files of ``tiny_data_root``; any cell error
fails the test. Figures go to a temporary folder (``CNNLAB_NOTEBOOK_OUT``).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"


def _builder():
    spec = importlib.util.spec_from_file_location("build_notebooks", NOTEBOOK_DIR / "build_notebooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILDER = _builder()
#: Per notebook: the figures its quick run must leave in the output folder.
EXPECTED_FIGURES = {
    "seed000_cifar10_cnn": {"cifar10-samples.png", "cifar10-lenet-curves.png", "featuremaps_conv1.png",
                            "featuremaps_pool1.png", "featuremaps_conv2.png", "featuremaps_pool2.png",
                            "featuremaps_filters.png"},
    "seed004_mnist_conv": {"xcorr1d.png", "mnist-samples.png", "mnist-curves.png",
                           "equivariance_shifted_samples.png", "equivariance_accuracy_vs_shift.png",
                           "equivariance_layers.png", "equivariance_example.png"},
}


@pytest.mark.parametrize("name", BUILDER.NOTEBOOKS)
def test_committed_notebook_matches_its_source_and_has_no_outputs(name: str) -> None:
    path = NOTEBOOK_DIR / f"{name}.ipynb"
    committed = path.read_text(encoding="utf-8")
    assert committed == BUILDER.render(BUILDER.build(name)), \
        f"{path.name} is out of date: run python notebooks/build_notebooks.py"
    nb = nbformat.reads(committed, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)
    assert "QUICK = os.environ.get(\"CNNLAB_NOTEBOOK_QUICK\") == \"1\"" in code[0].source



@pytest.mark.parametrize("name", BUILDER.NOTEBOOKS)
def test_the_published_executed_copy_ran_from_the_current_source_without_errors(name: str) -> None:
    """``notebooks/executed/`` holds each notebook run on the real data (``build_notebooks.py --execute``): from the
    source as it is now (else it must be executed again), in full mode, every code cell run, no error output."""
    path = BUILDER.EXECUTED / f"{name}.ipynb"
    assert path.is_file(), f"{path} is missing: run python notebooks/build_notebooks.py --execute"
    nb = nbformat.read(path, as_version=4)
    record = nb.metadata["cnnlab"]
    assert record["source_sha256"] == BUILDER.source_sha256(name), \
        f"{path.name} was executed from an older source: run python notebooks/build_notebooks.py --execute"
    assert record["quick"] is False
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and all(cell.execution_count is not None for cell in code)
    assert not [out for cell in code for out in cell.outputs if out.output_type == "error"]
    assert path.stat().st_size < 2_000_000  # figures embedded, but small enough to publish

def test_parse_cells_splits_markdown_and_code() -> None:
    text = "\"\"\"not in the notebook\"\"\"\n# %% [markdown]\n# # Title\n#\n# text\n\n# %%\nx = 1\n\n\n# %%\nprint(x)\n"
    cells = BUILDER.parse_cells(text)
    assert [(c.cell_type, c.source) for c in cells] == [("markdown", "# Title\n\ntext"), ("code", "x = 1"),
                                                        ("code", "print(x)")]
    with pytest.raises(ValueError, match="must start with '# '"):
        BUILDER.parse_cells("# %% [markdown]\nnot a comment\n")
    with pytest.raises(ValueError, match="unknown cell marker"):
        BUILDER.parse_cells("# %% [raw]\n# x\n")


@pytest.mark.e2e
@pytest.mark.parametrize("name", BUILDER.NOTEBOOKS)
def test_notebook_runs_in_quick_mode(name: str, tiny_data_root: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    monkeypatch.setenv("CNNLAB_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("CNNLAB_DATA", str(tiny_data_root))
    monkeypatch.setenv("CNNLAB_NOTEBOOK_OUT", str(out))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    # Raises CellExecutionError (naming the cell and the traceback) if any cell fails.
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    shown_images = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert len(shown_images) == len(EXPECTED_FIGURES[name])
    written = {path.name for path in out.rglob("*.png")}
    assert EXPECTED_FIGURES[name] <= written, f"missing figures: {EXPECTED_FIGURES[name] - written}"
    text = json.dumps([o.get("text", "") for o in outputs if o.output_type == "stream"])
    assert "quick=True" in text
