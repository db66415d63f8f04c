"""The worked 1-D cross-correlation refuses numbers that overflow float64 instead of printing inf (and claiming
autograd agrees)."""

from __future__ import annotations

import pytest

from cnnlab.experiments.xcorr1d import Xcorr1dSettings, worked_example


@pytest.mark.parametrize(("kwargs", "quantity"), [
    ({"x": (1e200, 1e200, 1.0, 1.0)}, "the loss L"),
    ({"w": (1e300, 1e300, 1.0)}, "the loss L"),
    ({"lr": 1e307}, "the updated kernel w′"),
    ({"y": (-1e308, 1e308)}, "the loss L"),
])
def test_overflow_is_a_clear_error_naming_the_quantity(kwargs, quantity):
    with pytest.raises(ValueError, match=f"xcorr1d: {quantity} overflows float64"):
        worked_example(**kwargs)
    with pytest.raises(ValueError, match="overflows float64"):  # the settings (the CLI's usage check) refuse too
        Xcorr1dSettings(**kwargs)


def test_large_but_finite_numbers_still_work():
    result = worked_example(x=(1e100, 2e100, 3e100, 4e100), w=(1.0, 1.0, 1.0), b=0.0, y=(0.0, 0.0), lr=1e-210)
    assert result.loss == pytest.approx(0.5 * (6e100**2 + 9e100**2))
