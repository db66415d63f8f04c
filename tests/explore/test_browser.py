"""The explorer in a real browser (headless Chromium driven by Playwright): the page's JavaScript engine gives the
NumPy engine's and torch's probabilities, the formula view shows the numbers whose sum is the clicked cell, a
one-pixel shift is ``shift_images``, a drawn stroke becomes the documented 28 x 28 input, and the page loads
nothing, logs no error and fits a phone.

One browser for the whole module; the networks are untrained with fixed seeds (their numbers need not be good,
only equal). Skipped, with the reason, where Playwright or a Chromium binary is missing (CI installs both).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from explore.explorefixtures import (
    geometry_network,
    numpy_geometry_network,
    synthetic_samples,
    write_run,
)
from headless import CHROMIUM, CHROMIUM_ARGS, sync_api  # skips without Playwright/Chromium

from cnnlab.data import shift_images, to_float
from cnnlab.explore import Samples, export_network, export_trained, load_run, with_reference, write_page
from cnnlab.models.introspect import layer_activations

#: Where to save screenshots (for a person to look at), when set.
SCREENSHOTS = os.environ.get("CNNLAB_SCREENSHOTS")


@dataclass
class Network:
    """A network on a test page with its two reference engines (NumPy and torch) and its input standardisation."""

    numpy: Any
    torch: Any
    exported: Any

    def inputs(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels in [0, 1] ``(N, C, H, W)`` as this network's inputs."""
        mean = np.asarray(self.exported.mean, np.float32)[:, None, None]
        std = np.asarray(self.exported.std, np.float32)[:, None, None]
        return ((pixels.astype(np.float32) - mean) / std).astype(np.float32)

    def activations(self, pixels: np.ndarray) -> dict[str, np.ndarray]:
        return layer_activations(self.numpy, self.inputs(pixels[None]))

    def probabilities(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Softmax of the NumPy engine's and of torch's logits for one image in [0, 1]."""
        x = self.inputs(pixels[None])
        numpy_logits = self.numpy(x).astype(np.float64)
        with torch.no_grad():
            torch_logits = self.torch(torch.from_numpy(x)).double().numpy()
        return softmax(numpy_logits)[0], softmax(torch_logits)[0]


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class ShownPage:
    """A written page, what is on it, and what the browser said while showing it."""

    path: Path
    samples: Samples
    networks: list[Network]
    page: Any = None
    console: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


def build_pages(folder: Path) -> dict[str, ShownPage]:
    """An MNIST page with the seed CNN, the MLP (standardised inputs) and the geometry network side by side, and
    a CIFAR-10 page with LeNet (standardised RGB inputs)."""
    mnist = synthetic_samples((1, 28, 28), n=12)
    cifar = synthetic_samples((3, 32, 32), n=10, name="cifar10", title="CIFAR-10")
    pages = {}
    for key, samples, runs in (("mnist", mnist, [("mnist-cnn", "unit"), ("mnist-mlp", "standard")]),
                               ("cifar", cifar, [("lenet", "standard")])):
        networks = []
        for model_name, normalization in runs:
            run = write_run(folder / model_name, model_name, seed=1, normalization=normalization)
            numpy_model, config = load_run(run, "numpy")
            exported = with_reference(export_trained(numpy_model, config, source=str(run)), numpy_model, samples)
            networks.append(Network(numpy_model, load_run(run, "torch")[0].eval(), exported))
        if key == "mnist":
            geometry = numpy_geometry_network()
            exported = with_reference(export_network(geometry, input_shape=(1, 28, 28), model_name="geometry",
                                                     label="Odd"), geometry, samples)
            networks.append(Network(geometry, geometry_network(), exported))
        path = write_page(folder / f"explorer-{key}.html", [n.exported for n in networks], samples)
        pages[key] = ShownPage(path, samples, networks)
    return pages


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright = sync_api.sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()
    playwright.stop()


def open_page(browser: Any, test_page: ShownPage, viewport: dict[str, int] | None = None) -> Any:
    """A fresh tab showing ``test_page``; its console errors and requests are recorded on ``test_page``."""
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 800})
    page = context.new_page()
    page.on("console", lambda message: test_page.console.append(f"{message.type}: {message.text}")
            if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: test_page.console.append(f"uncaught: {error}"))
    page.on("request", lambda request: test_page.requests.append(request.url))
    page.goto(test_page.path.as_uri())
    page.wait_for_function("window.cnnlabExplorer !== undefined")
    return page


@pytest.fixture(scope="module")
def pages(browser, tmp_path_factory) -> dict[str, ShownPage]:
    built = build_pages(tmp_path_factory.mktemp("explorer"))
    for test_page in built.values():
        test_page.page = open_page(browser, test_page)
    return built


# --- helpers -------------------------------------------------------------------------------------------------------

def page_pixels(page: Any, samples: Samples) -> np.ndarray:
    return np.asarray(page.evaluate("cnnlabExplorer.pixels()"), np.float64).reshape(samples.image_shape)


def page_probabilities(page: Any, n: int) -> np.ndarray:
    values = page.eval_on_selector_all(f'[data-network="{n}"] .prob', "els => els.map(e => e.dataset.probability)")
    return np.asarray(values, np.float64)


def cell_locator(page: Any, network: int, layer: str, channel: int) -> Any:
    return page.locator(f'[data-network="{network}"] [data-layer="{layer}"] canvas.map[data-channel="{channel}"]')


def click_cell(page: Any, network: int, layer: str, channel: int, row: int, col: int, shape: tuple[int, int]) -> None:
    """Click the middle of cell (row, col) of one map tile, as a user would."""
    tile = cell_locator(page, network, layer, channel)
    tile.scroll_into_view_if_needed()
    inner_width, inner_height = tile.evaluate("e => [e.clientWidth, e.clientHeight]")  # inside the border
    height, width = shape
    tile.click(position={"x": (col + 0.5) * inner_width / width, "y": (row + 0.5) * inner_height / height})


def formula_numbers(page: Any) -> dict[str, Any]:
    """What the formula view shows, read from its elements' full-precision data attributes."""
    return page.evaluate("""() => {
        const body = document.getElementById('formula-body');
        const value = (role) => {
            const e = body.querySelector(`[data-role="${role}"]`);
            return e ? +e.dataset.value : null;
        };
        return {
            heading: body.querySelector('h3').textContent,
            products: [...body.querySelectorAll('[data-product]')]
                .map(e => [+e.dataset.channel, +e.dataset.n, +e.dataset.m, +e.dataset.product]),
            channelSums: [...body.querySelectorAll('.channel-sum')].map(e => +e.dataset.value),
            windowInputs: [...body.querySelectorAll('[data-input]')].map(e => +e.dataset.input),
            winner: [...body.querySelectorAll('[data-input]')].findIndex(e => e.dataset.winner === 'true'),
            bias: value('bias'), value: value('value'), relu: value('relu'),
        };
    }""")


def window_values(x: np.ndarray, layer: dict[str, Any], i: int, j: int, fill: float) -> np.ndarray:
    """The (C, kh, kw) window of output cell (i, j) in the layer input ``x`` (C, H, W), padding ``fill``."""
    (top, bottom), (left, right) = layer["padding"]
    padded = np.pad(x.astype(np.float64), ((0, 0), (top, bottom), (left, right)), constant_values=fill)
    (kh, kw), (sh, sw), (dh, dw) = layer["kernel"], layer["stride"], layer["dilation"]
    rows = i * sh + dh * np.arange(kh)
    cols = j * sw + dw * np.arange(kw)
    return padded[:, rows][:, :, cols]


def layer_input(network: Network, acts: dict[str, np.ndarray], pixels: np.ndarray, name: str) -> np.ndarray:
    names = [layer["name"] for layer in network.exported.layers]
    index = names.index(name)
    return network.inputs(pixels[None])[0] if index == 0 else acts[names[index - 1]][0]


# --- the tests -----------------------------------------------------------------------------------------------------

def test_the_page_loads_nothing_logs_no_error_and_checks_itself(pages):
    for test_page in pages.values():
        assert test_page.requests == [test_page.path.as_uri()], "the page must load nothing but itself"
        check = test_page.page.evaluate("cnnlabExplorer.selfCheck")
        assert len(check) == len(test_page.networks)
        assert all(entry["largestDifference"] < 1e-5 for entry in check), check
        assert not test_page.console


@pytest.mark.parametrize("key", ["mnist", "cifar"])
def test_probabilities_equal_the_numpy_engine_and_torch(pages, key):
    test_page = pages[key]
    page, largest = test_page.page, 0.0
    for k in (0, 3, 7, 9):
        page.click(f'.sample[data-sample="{k}"]')
        pixels = page_pixels(page, test_page.samples)
        np.testing.assert_array_equal(pixels.astype(np.float32), to_float(test_page.samples.images[k]))
        for n, network in enumerate(test_page.networks):
            shown = page_probabilities(page, n)
            numpy_p, torch_p = network.probabilities(pixels.astype(np.float32))
            np.testing.assert_allclose(shown, numpy_p, atol=1e-4, rtol=0)
            np.testing.assert_allclose(shown, torch_p, atol=1e-4, rtol=0)
            largest = max(largest, float(np.abs(shown - numpy_p).max()))
    assert largest < 1e-5  # float32 rounding, far inside the 1e-4 the page promises
    assert not test_page.console


@pytest.mark.parametrize(("network", "layer", "channel", "cell"), [
    (0, "conv1", 2, (0, 13)),  # the seed CNN, stride 2 and padding 1: a corner cell reads padding
    (0, "conv2", 7, (3, 4)),  # five input channels
    (2, "conv1", 1, (13, 28)),  # dilation (2, 1), stride (2, 1), padding (2, 1), the last cell
    (2, "conv2", 3, (6, 14)),  # 'same' with kernel 4: the bottom-right cell reads the extra padding; no bias
    (2, "relu2", 0, (2, 7)),  # a ReLU cell: the convolution before it, then max(0, y)
])
def test_a_clicked_conv_cell_shows_the_products_whose_sum_is_its_value(pages, network, layer, channel, cell):
    test_page = pages["mnist"]
    page, net = test_page.page, test_page.networks[network]
    page.click('.sample[data-sample="5"]')
    pixels = page_pixels(page, test_page.samples).astype(np.float32)
    acts = net.activations(pixels)
    layers = {entry["name"]: entry for entry in net.exported.layers}
    conv = layer if layers[layer]["kind"] == "conv" else [e["name"] for e in net.exported.layers][
        [e["name"] for e in net.exported.layers].index(layer) - 1]
    shape = layers[conv]["output_shape"]
    i, j = cell
    click_cell(page, network, layer, channel, i, j, (shape[1], shape[2]))
    shown = formula_numbers(page)
    assert f"{layer} · channel {channel} · row {i}, column {j}" in shown["heading"]
    x = layer_input(net, acts, pixels, conv)
    weight = net.exported.weights()[f"{conv}.weight"][channel].astype(np.float64)
    expected_products = window_values(x, layers[conv], i, j, 0.0) * weight
    products = np.zeros_like(expected_products)
    for c, n, m, value in shown["products"]:
        products[c, n, m] = value
    assert len(shown["products"]) == expected_products.size
    np.testing.assert_allclose(products, expected_products, rtol=1e-6, atol=1e-7)
    total = products.sum() + shown["bias"]
    assert shown["value"] == pytest.approx(total, abs=1e-9)  # the page's sum, exactly as shown
    assert shown["value"] == pytest.approx(float(acts[conv][0, channel, i, j]), rel=1e-5, abs=1e-5)
    if x.shape[0] > 1:
        np.testing.assert_allclose(shown["channelSums"], products.sum(axis=(1, 2)), rtol=1e-9, atol=1e-12)
    if layer.startswith("relu"):
        assert shown["relu"] == pytest.approx(float(acts[layer][0, channel, i, j]), rel=1e-5, abs=1e-6)
    assert not test_page.console


@pytest.mark.parametrize(("key", "network", "layer", "channel", "cell"), [
    ("cifar", 0, "pool1", 5, (6, 9)),
    ("mnist", 2, "pool1", 0, (0, 0)),  # padded: the window's top row and left column are -inf
    ("mnist", 2, "pool2", 3, (1, 4)),  # dilated, stride 3
])
def test_a_clicked_pooling_cell_shows_which_input_won_the_max(pages, key, network, layer, channel, cell):
    test_page = pages[key]
    page, net = test_page.page, test_page.networks[network]
    page.click('.sample[data-sample="2"]')
    pixels = page_pixels(page, test_page.samples).astype(np.float32)
    acts = net.activations(pixels)
    layers = {entry["name"]: entry for entry in net.exported.layers}
    shape = layers[layer]["output_shape"]
    click_cell(page, network, layer, channel, *cell, (shape[1], shape[2]))
    shown = formula_numbers(page)
    window = window_values(layer_input(net, acts, pixels, layer), layers[layer], *cell, -np.inf)[channel].ravel()
    np.testing.assert_allclose(shown["windowInputs"], window, rtol=1e-6)
    assert shown["winner"] == int(np.argmax(window))
    assert shown["value"] == pytest.approx(float(acts[layer][0, channel, cell[0], cell[1]]), rel=1e-6)
    assert not test_page.console


def test_shifting_by_one_pixel_is_shift_images(pages):
    test_page = pages["mnist"]
    page = test_page.page
    page.click('.sample[data-sample="4"]')
    page.click("#shift-reset")
    original = to_float(test_page.samples.images[4])
    page.locator("body").focus()
    steps = [("ArrowRight", (1, 0)), ("ArrowDown", (1, 1)), ("ArrowLeft", (0, 1)), ("ArrowLeft", (-1, 1)),
             ("ArrowUp", (-1, 0))]
    for key, (dx, dy) in steps:
        page.keyboard.press(key)
        pixels = page_pixels(page, test_page.samples)
        np.testing.assert_array_equal(pixels.astype(np.float32), shift_images(original, dx, dy))
        for n, network in enumerate(test_page.networks):
            np.testing.assert_allclose(page_probabilities(page, n), network.probabilities(pixels)[0], atol=1e-4)
    page.click('[data-shift="1,0"]')  # the buttons do the same
    np.testing.assert_array_equal(page_pixels(page, test_page.samples).astype(np.float32),
                                  shift_images(original, 0, 0))
    assert page.text_content("#shift-readout") == "dx 0, dy 0"
    page.click("#shift-reset")
    assert not test_page.console


def mnist_from_ink(ink: np.ndarray) -> np.ndarray:
    """The documented drawing procedure, in NumPy: crop the ink's bounding box, area-average it so the longer side
    is 20 px, move its centre of mass to (13.5, 13.5) by whole pixels (rounded half up, as JavaScript)."""
    rows, cols = np.nonzero(ink > 0)
    top, left = rows.min(), cols.min()
    height, width = rows.max() - top + 1, cols.max() - left + 1
    scale = 20 / max(height, width)
    out_h, out_w = (max(1, math.floor(size * scale + 0.5)) for size in (height, width))

    def area(start: int, length: int, size: int, total: int) -> np.ndarray:
        step = length / size
        lo = start + step * np.arange(size)[:, None]
        k = np.arange(total)[None, :]
        return np.clip(np.minimum(lo + step, k + 1) - np.maximum(lo, k), 0, None) / step

    small = area(top, height, out_h, ink.shape[0]) @ ink @ area(left, width, out_w, ink.shape[1]).T
    mass = small.sum()
    centre_y = (small.sum(axis=1) * np.arange(out_h)).sum() / mass
    centre_x = (small.sum(axis=0) * np.arange(out_w)).sum() / mass
    dy, dx = math.floor(13.5 - centre_y + 0.5), math.floor(13.5 - centre_x + 0.5)
    out = np.zeros((28, 28))
    for i in range(out_h):
        for j in range(out_w):
            if 0 <= i + dy < 28 and 0 <= j + dx < 28:
                out[i + dy, j + dx] = min(1.0, max(0.0, small[i, j]))
    return out


def test_a_drawn_stroke_becomes_a_centred_28_by_28_input_in_0_1(pages):
    test_page = pages["mnist"]
    page = test_page.page
    canvas = page.locator("#draw-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    # a "7": a stroke along the top, then down and to the left, in the canvas's upper-left part (off centre)
    points = [(0.15, 0.12), (0.55, 0.12), (0.50, 0.30), (0.35, 0.60)]
    page.mouse.move(box["x"] + points[0][0] * box["width"], box["y"] + points[0][1] * box["height"])
    page.mouse.down()
    for fx, fy in points[1:]:
        page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"], steps=8)
    page.mouse.up()
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
    pixels = page_pixels(page, test_page.samples)[0]
    assert pixels.shape == (28, 28) and pixels.min() >= 0 and pixels.max() <= 1 and pixels.max() > 0.9
    ink = np.asarray(page.evaluate("() => Array.from(CnnInput.canvasInk(document.getElementById('draw-canvas')))"))
    np.testing.assert_allclose(pixels, mnist_from_ink(ink.reshape(280, 280)), atol=1e-9)
    rows, cols = np.nonzero(pixels)
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 in (20, 21)  # the 20-pixel box (+ rounding)
    mass = pixels.sum()
    centre = ((pixels.sum(axis=1) * np.arange(28)).sum() / mass, (pixels.sum(axis=0) * np.arange(28)).sum() / mass)
    assert abs(centre[0] - 13.5) <= 0.5 and abs(centre[1] - 13.5) <= 0.5
    assert "your drawing" in page.text_content("#input-caption")
    for n, network in enumerate(test_page.networks):
        np.testing.assert_allclose(page_probabilities(page, n), network.probabilities(pixels[None])[0], atol=1e-4)
    page.click("#draw-clear")
    assert not page_pixels(page, test_page.samples).any()
    assert not test_page.console


def test_the_keyboard_reaches_every_map_cell_and_escape_closes_the_formula(pages):
    test_page = pages["mnist"]
    page = test_page.page
    page.click('.sample[data-sample="1"]')
    tile = cell_locator(page, 0, "conv1", 1)
    assert tile.get_attribute("tabindex") == "0" and "arrow keys" in tile.get_attribute("aria-label")
    tile.focus()
    page.keyboard.press("Enter")
    assert "conv1 · channel 1 · row 7, column 7" in formula_numbers(page)["heading"]
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowUp")
    assert "row 6, column 8" in formula_numbers(page)["heading"]
    assert page.text_content("#shift-readout") == "dx 0, dy 0"  # arrows on a map move the cell, not the input
    page.keyboard.press("Escape")
    assert page.locator("#formula-body h3").count() == 0
    assert page.evaluate("document.activeElement.dataset.channel") == "1"  # back on the map
    assert not test_page.console


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}],
                         ids=["desktop", "phone"])
def test_the_page_fits_the_screen_and_a_clicked_cell_stays_in_sight(browser, pages, viewport):
    for key, test_page in pages.items():
        page = open_page(browser, test_page, viewport)
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        if SCREENSHOTS:
            page.screenshot(path=f"{SCREENSHOTS}/{key}-{viewport['width']}-overview.png")
        layer, shape = ("conv1", (14, 14)) if key == "mnist" else ("conv2", (10, 10))
        page.click('.sample[data-sample="3"]')
        click_cell(page, 0, layer, 1, 4, 5, shape)
        tile = cell_locator(page, 0, layer, 1).bounding_box()
        sheet = page.locator("#formula").bounding_box()
        assert tile["y"] >= 0 and tile["y"] + tile["height"] <= viewport["height"]
        if viewport["width"] < 1000:  # the formula view opens as a sheet below the clicked cell
            assert sheet["y"] >= tile["y"] + tile["height"] - 1
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        if SCREENSHOTS:
            page.screenshot(path=f"{SCREENSHOTS}/{key}-{viewport['width']}-formula.png")
            if key == "mnist":
                page.keyboard.press("Escape")
                page.evaluate("document.activeElement.blur()")
                for _ in range(3):
                    page.keyboard.press("ArrowRight")
                page.screenshot(path=f"{SCREENSHOTS}/{key}-{viewport['width']}-shifted.png", full_page=True)
        page.context.close()
    assert not any(test_page.console for test_page in pages.values())
