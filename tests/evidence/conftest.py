"""The evidence tests' fixtures: ``check_png`` (a figure file decodes as a PNG of sensible size and is not blank)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib.image
import pytest


@pytest.fixture
def check_png() -> Callable[[Path], None]:
    def check(path: Path) -> None:
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
        pixels = matplotlib.image.imread(path)
        assert min(pixels.shape[:2]) >= 100 and max(pixels.shape[:2]) <= 4000, pixels.shape
        assert pixels.std() > 0.01, f"{path} is blank"

    return check
