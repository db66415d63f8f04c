"""Numbers as people read them, one policy for the report, the CLI and the generated text of results.

- :func:`format_value`: table cells and settings (ints as is, reals to 4 significant digits, ``None`` as a dash);
- :func:`format_seconds`: durations (``0.012 s``, ``4.2 s``, ``3 min 05 s``);
- :func:`hand_number`: a number as written by hand in a formula (``2`` not ``2.0``; negatives in parentheses);
- :func:`percent` / :func:`points`: accuracies and their differences;
- :func:`relative_error`: a relative error (``0``, ``3.2e-07`` below 0.1%, else a percentage);
- :func:`p_value`: a p-value (``0.032``, ``4.1e-07``, ``< 1e-300`` where it underflowed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Integral, Real
from pathlib import Path
from typing import Any


class Percent(float):
    """An accuracy (a fraction in [0, 1]) that tables show as a percentage: ``Percent(0.9645)`` -> ``96.45%``."""


def format_value(value: Any) -> str:
    """A table cell or setting as text: ints as is, :class:`Percent` as a percentage (2 decimals), other reals to 4
    significant digits -- in e-notation below 0.001 (small errors: ``2.97e-05``), without decimals from 10,000 on --,
    ``None`` as a dash, lists and dicts compactly (JSON-like), anything else with ``str``."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Percent):
        return percent(value, 2)
    if isinstance(value, Real):
        number = float(value)
        if math.isnan(number) or math.isinf(number):
            return str(number)
        if number == int(number) and abs(number) < 1e15:
            return str(int(number))
        if abs(number) >= 1e4:
            return f"{number:.0f}"
        if abs(number) < 1e-3:
            return f"{number:.2e}"
        return f"{number:.4g}"
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}: {format_value(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_value(item) for item in value) + "]"
    return str(value)


def format_seconds(seconds: float) -> str:
    """A duration for people: ``< 1 ms``, ``12 ms``, ``4.2 s``, ``35 s``, ``3 min 05 s``."""
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError(f"format_seconds: need a finite, non-negative number of seconds, got {seconds!r}")
    if seconds < 0.0005:
        return "< 1 ms"
    if round(seconds * 1000) < 1000:
        return f"{1000 * seconds:.0f} ms"
    if round(seconds, 1) < 10:
        return f"{seconds:.1f} s"
    if round(seconds) < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def hand_number(value: float, *, paren: bool = True) -> str:
    """A number as written by hand: ``2`` not ``2.0``, up to 6 significant digits, a real minus sign; a negative
    number goes in parentheses when it stands inside a formula (``paren``)."""
    text = f"{float(value):.6g}".replace("-", "−")
    if text == "−0":
        text = "0"
    return f"({text})" if paren and text.startswith("−") else text


def percent(value: float, digits: int = 1) -> str:
    """An accuracy (a fraction in [0, 1]) as a percentage: ``0.9645 -> '96.5%'``."""
    return f"{100 * value:.{digits}f}%"


def points(value: float, digits: int = 1) -> str:
    """A difference of accuracies in percentage points: ``0.046 -> '4.6 points'``."""
    return f"{100 * value:.{digits}f} points"


def relative_error(value: float) -> str:
    """A relative error for text: ``0``, engineering notation below 0.1% (``3.2e-07``), else a percentage;
    ``n/a`` for NaN."""
    if math.isnan(value):
        return "n/a"
    if value == 0:
        return "0"
    return f"{value:.1e}" if value < 1e-3 else percent(value)


def p_value(value: float) -> str:
    """A p-value for text: 2 significant digits (``0.032``, ``0.5``, ``1``), engineering notation below 0.001
    (``4.1e-07``), ``< 1e-300`` where it underflowed to 0; ``n/a`` for NaN."""
    if math.isnan(value):
        return "n/a"
    if value <= 0:
        return "< 1e-300"
    if value < 1e-3:
        return f"{value:.1e}"
    return f"{value:.2g}"
