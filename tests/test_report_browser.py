"""The report in a real browser (headless Chromium driven by Playwright): formulas laid out as math, figures wide
enough to read and enlarged on a click, the banner, no console errors, nothing fetched from anywhere."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from headless import CHROMIUM, CHROMIUM_ARGS, sync_api  # skips without Playwright/Chromium
from matplotlib.figure import Figure as MplFigure

from cnnlab.report import Figure, Section, Table, write_report


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("report")
    fig = MplFigure(figsize=(10, 3))
    fig.subplots().plot([0, 1, 2], [1, 0, 1])
    fig.savefig(folder / "wide.png", dpi=120)  # 1200 x 360 px
    section = Section(
        title="A section",
        intro=r"The output size \(O = \left\lfloor \frac{I + 2P - K}{S} \right\rfloor + 1\) per dimension.",
        paragraphs=[r"A display formula: \[\frac{\partial L}{\partial w_k} = \sum_i (\hat{y}_i - y_i) x_{i+k}\]"],
        qa=[("Why?", ["Because the accuracy fell by 4.6 points to 38.7%."])],
        tables=[Table(["n", "empty"], [[1, None], [2, None]])],
        figures=[Figure(folder / "wide.png", "A wide figure")],
    )
    report = write_report([section], folder / "report.html", banner="Quick mode: a smoke test.")
    playwright = sync_api.sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    tab = browser.new_page(viewport={"width": 1280, "height": 800})
    tab.errors, tab.requests = [], []
    tab.on("console", lambda m: tab.errors.append(m.text) if m.type in ("error", "warning") else None)
    tab.on("request", lambda r: tab.requests.append(r.url))
    tab.goto(report.as_uri())
    yield tab
    browser.close()
    playwright.stop()


def test_no_console_errors_and_nothing_fetched(page):
    assert page.errors == []
    assert all(url.startswith(("file:", "data:")) for url in page.requests), page.requests


def test_formulas_are_laid_out_as_math(page):
    assert page.locator("math").count() == 2
    assert page.locator('math[display="block"]').count() == 1
    for box in (page.locator("math").nth(i).bounding_box() for i in range(2)):
        assert box is not None and box["width"] > 40 and box["height"] > 15  # laid out, not raw text
    assert page.locator("mfrac").count() >= 2


def test_figures_are_wide_enough_to_read_and_enlarge_on_click(page):
    image = page.locator("figure img")
    shown = image.bounding_box()
    assert shown is not None and shown["width"] >= 900  # the report column at 1280 px
    image.click()
    assert "zoomed" in (image.get_attribute("class") or "")
    assert image.bounding_box()["width"] == pytest.approx(1200, abs=2)  # its natural size
    image.click()
    assert "zoomed" not in (image.get_attribute("class") or "")


def test_banner_key_numbers_and_hidden_empty_columns(page):
    assert "Quick mode" in page.locator(".banner").inner_text()
    assert page.locator(".qa strong").all_inner_texts() == ["4.6 points", "38.7%"]
    assert page.locator(".table-wrap th").all_inner_texts() == ["n"]
