"""Figures of cnnlab: each function draws one figure from plain data and writes it as a PNG, returning the path.

Figures are made without pyplot (see :mod:`cnnlab.plots.style`), so nothing here needs a display or changes the
matplotlib backend. Modules: ``curves`` (training curves), ``samples`` (image grids), ``xcorr`` (the 1-D worked
example), ``featuremaps`` and ``equivariance`` (those experiments' figures).
"""

from cnnlab.plots.curves import plot_histories, plot_history
from cnnlab.plots.samples import plot_samples
from cnnlab.plots.style import new_figure, save_figure
from cnnlab.plots.xcorr import plot_xcorr1d

__all__ = ["new_figure", "plot_histories", "plot_history", "plot_samples", "plot_xcorr1d", "save_figure"]
