"""The sliding-window diagram of the 1-D worked example."""

from __future__ import annotations

import pytest

from cnnlab.plots.xcorr import MAX_CELLS, MAX_ROWS, plot_xcorr1d


def test_seed_example(tmp_path, check_png):
    width, height = check_png(plot_xcorr1d([1, 2, 3, 4], [2, 1, 3], 1, [14, 20], tmp_path / "xc.png"))
    assert width > height


def test_stride_and_many_rows(tmp_path, check_png):
    n = MAX_CELLS
    outputs = [0.0] * (n - 2)  # more outputs than MAX_ROWS: summarised, height stays bounded
    assert len(outputs) > MAX_ROWS
    _, tall = check_png(plot_xcorr1d(list(range(n)), [1, 2, 1], 0, outputs, tmp_path / "many.png"))
    _, few = check_png(plot_xcorr1d([1, 2, 3, 4, 5], [1, -1], -0.5, [0, 0], tmp_path / "s3.png", stride=3))
    assert tall < 1200 and few < tall


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (([], [1], 0, []), {}, "non-empty"),
    (([1, 2], [1, 2, 3], 0, [0]), {}, "longer than the input"),
    (([1, 2, 3], [1], 0, [0, 0, 0]), {"stride": 0}, "stride must be an integer >= 1"),
    (([1, 2, 3], [1], 0, [0, 0]), {}, "expected 3 outputs"),
    ((list(range(MAX_CELLS + 1)), [1], 0, [0] * (MAX_CELLS + 1)), {}, "too long to draw"),
])
def test_bad_input(tmp_path, args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_xcorr1d(*args, tmp_path / "x.png", **kwargs)
