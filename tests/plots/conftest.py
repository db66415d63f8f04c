"""The figure tests' PNG check (signature, IHDR size, pixels decode, not blank) as the fixture ``check_png``."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import pytest

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` from the IHDR chunk, after checking the signature."""
    data = Path(path).read_bytes()
    assert data[:8] == SIGNATURE, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR", f"{path}: first chunk is not IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def assert_png(path: Path, min_size: int = 100, max_size: int = 4000) -> tuple[int, int]:
    """Assert ``path`` is a valid PNG of sensible size and not a blank image; returns ``(width, height)``."""
    width, height = png_size(path)
    assert min_size <= width <= max_size and min_size <= height <= max_size, (width, height)
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[:2] == (height, width)
    assert pixels.std() > 0.01, "the image is blank"
    return width, height


@pytest.fixture
def check_png():
    return assert_png
