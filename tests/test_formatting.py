"""Numbers as people read them (:mod:`cnnlab.formatting`): one policy for the report, the CLI and generated text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnnlab import formatting, report
from cnnlab.formatting import Percent, format_seconds, format_value, hand_number, percent, points, relative_error


@pytest.mark.parametrize(("value", "expected"), [
    (None, "—"), (True, "yes"), (False, "no"), (3, "3"), (np.int64(7), "7"), (2.0, "2"), (-2.5, "-2.5"),
    (0.0123456, "0.01235"), (0.001, "0.001"), (np.float32(0.1), "0.1"),
    (1e-5, "1.00e-05"), (0.000999, "9.99e-04"), (-2e-4, "-2.00e-04"),  # small errors: e-notation
    (Percent(0.9645), "96.45%"), (Percent(1.0), "100.00%"), (Percent(0.1234567), "12.35%"),
    (12345.6, "12346"), (99999.5, "100000"), (1e15, "1000000000000000"),  # large floats: no exponent
    (float("nan"), "nan"), (float("inf"), "inf"),
    (Path("runs/mnist-seed"), "runs/mnist-seed"), ((28, 28), "[28, 28]"), ([None, True], "[—, yes]"),
    ({"a": 0.5, "b": (1, 2)}, "{a: 0.5, b: [1, 2]}"), ("text", "text"),
])
def test_format_value(value, expected):
    assert format_value(value) == expected


@pytest.mark.parametrize(("seconds", "expected"), [
    (0, "< 1 ms"), (0.0004, "< 1 ms"), (0.001, "1 ms"), (0.0123, "12 ms"), (0.25, "250 ms"), (0.9994, "999 ms"),
    (4.24, "4.2 s"), (42.4, "42 s"), (60, "1 min 00 s"), (185, "3 min 05 s"), (3600, "60 min 00 s"),
])
def test_format_seconds(seconds, expected):
    assert format_seconds(seconds) == expected


@pytest.mark.parametrize(("seconds", "expected"), [(59.6, "1 min 00 s"), (9.96, "10 s"), (0.9996, "1.0 s")])
def test_format_seconds_rounds_before_choosing_the_unit(seconds, expected):
    assert format_seconds(seconds) == expected


@pytest.mark.parametrize("seconds", [-1, float("nan"), float("inf")])
def test_format_seconds_rejects_what_is_no_duration(seconds):
    with pytest.raises(ValueError, match="finite, non-negative"):
        format_seconds(seconds)


@pytest.mark.parametrize(("value", "in_formula", "alone"), [
    (2.0, "2", "2"), (14, "14", "14"), (0.01, "0.01", "0.01"), (1 / 3, "0.333333", "0.333333"),
    (-0.5, "(−0.5)", "−0.5"), (-0.0, "0", "0"), (1e-7, "1e−07", "1e−07"), (-1e-7, "(−1e−07)", "−1e−07"),
    (123456789, "1.23457e+08", "1.23457e+08"),
])
def test_hand_number(value, in_formula, alone):
    assert hand_number(value) == in_formula
    assert hand_number(value, paren=False) == alone


def test_percent_and_points():
    assert percent(0.9646) == "96.5%" and percent(0.9646, 0) == "96%" and percent(0.9646, 2) == "96.46%"
    assert percent(1.0) == "100.0%" and percent(0) == "0.0%"
    assert points(0.046) == "4.6 points" and points(-0.01) == "-1.0 points" and points(0.05, 0) == "5 points"


@pytest.mark.parametrize(("value", "expected"), [
    (float("nan"), "n/a"), (0.0, "0"), (3.2e-7, "3.2e-07"), (0.00099, "9.9e-04"), (0.001, "0.1%"), (0.5, "50.0%"),
])
def test_relative_error(value, expected):
    assert relative_error(value) == expected


def test_the_report_uses_the_same_functions():
    assert report.format_value is formatting.format_value and report.format_seconds is formatting.format_seconds


def test_a_percent_is_a_number_that_tables_show_as_a_percentage():
    value = Percent(0.9645)
    assert value == 0.9645 and value + 0.01 == pytest.approx(0.9745)  # still a number for arithmetic
    assert format_value(value) == "96.45%" and format_value(0.9645) == "0.9645"
    assert format_value([Percent(0.5), None]) == "[50.00%, —]"
