"""Headless Chromium for the browser tests, driven by Playwright: the system's binary and quiet flags.

Importing this module skips the importing test module when Playwright or a Chromium binary is missing (Debian:
``apt-get install chromium``; or point ``CNNLAB_CHROMIUM`` at one)."""

from __future__ import annotations

import os
import shutil

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
CHROMIUM = os.environ.get("CNNLAB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("no Chromium binary found (apt-get install chromium, or set CNNLAB_CHROMIUM)", allow_module_level=True)

#: Chromium's flags for a quiet headless run in a container: no sandbox, no GPU, nothing fetched in the background.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
