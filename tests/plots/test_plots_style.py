"""Shared figure helpers: PNG output, folders created, figures released, backend left alone."""

from __future__ import annotations

import matplotlib
import pytest

from cnnlab.plots.style import DPI, new_figure, save_figure


def test_save_figure_writes_png_and_adds_suffix(tmp_path, check_png):
    fig, axes = new_figure(1, 2, width=4, height=2)
    assert axes.shape == (1, 2)
    axes[0, 0].plot([0, 1], [0, 1])
    axes[0, 1].imshow([[0, 1], [1, 0]])
    path = save_figure(fig, tmp_path / "deep" / "folder" / "figure")
    assert path == tmp_path / "deep" / "folder" / "figure.png"
    assert check_png(path) == (4 * DPI, 2 * DPI)


def test_same_figure_same_bytes(tmp_path):
    paths = []
    for name in ("a.png", "b.png"):
        fig, axes = new_figure(1, 1, width=3, height=2)
        axes[0, 0].plot([1, 3, 2])
        paths.append(save_figure(fig, tmp_path / name))
    assert paths[0].read_bytes() == paths[1].read_bytes()  # no timestamps in the file


def test_rejects_other_formats_and_empty_grids(tmp_path):
    fig, _ = new_figure()
    with pytest.raises(ValueError, match="written as PNG"):
        save_figure(fig, tmp_path / "figure.pdf")
    with pytest.raises(ValueError, match="at least one row and one column"):
        new_figure(0, 1)


def test_pyplot_figures_are_closed(tmp_path):
    import matplotlib.pyplot as plt

    fig = plt.figure()
    assert fig.number in plt.get_fignums()
    save_figure(fig, tmp_path / "p.png")
    assert fig.number not in plt.get_fignums()


def test_importing_plots_keeps_the_backend():
    before = matplotlib.get_backend()
    import cnnlab.plots  # noqa: F401

    assert matplotlib.get_backend() == before
