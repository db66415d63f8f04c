"""The explorer page: one self-contained HTML file of the template, the stylesheet, the three scripts and the data
(networks and test images), all inlined. Nothing in it refers to anything outside the file, and its
Content-Security-Policy forbids the browser to load anything at all.

The assets live beside this module (``assets/``: ``template.html``, ``explorer.css``, ``engine.js`` (the forward
pass), ``input.js`` (shifting, drawing) and ``explorer.js`` (the page)) and ship as package data.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from cnnlab.explore.export import ExportedNetwork
from cnnlab.explore.samples import Samples

#: The scripts, in the order the page runs them.
SCRIPTS = ("engine.js", "input.js", "explorer.js")
STYLESHEET = "explorer.css"
TEMPLATE = "template.html"
#: The file format of the embedded data (``#cnnlab-data``); bump when its fields change.
DATA_FORMAT = 1


def asset(name: str) -> str:
    """The text of one of the page's assets (``engine.js``, ``explorer.css``, ...)."""
    return resources.files("cnnlab.explore").joinpath("assets").joinpath(name).read_text(encoding="utf-8")


def _inline(text: str, tag: str) -> str:
    """``text`` checked to be safe inside ``<tag>...</tag>`` (it must not close the element itself)."""
    if f"</{tag}" in text.lower():
        raise ValueError(f"an asset contains '</{tag}' and would end its <{tag}> element early")
    return text


def page_data(networks: Sequence[ExportedNetwork], samples: Samples, *, drawable: bool) -> dict[str, Any]:
    """Everything the page's scripts read: the dataset's classes, the images, the networks."""
    for network in networks:
        if tuple(network.input_shape) != samples.image_shape:
            raise ValueError(f"{network.label} ({network.model}) takes inputs {network.input_shape} but the "
                             f"{samples.title} images are {samples.image_shape}")
    return {"format": DATA_FORMAT, "dataset": samples.name, "dataset_title": samples.title,
            "classes": list(samples.classes), "drawable": drawable, "samples": samples.to_json(),
            "networks": [network.to_json() for network in networks]}


def _about(drawable: bool, count: int) -> str:
    items = [
        "<p><strong>The numbers.</strong> This page runs the networks itself, in a small JavaScript engine "
        "(<code>engine.js</code> inside this file) written straight from the equations: convolution "
        "<code>y[o,i,j] = b[o] + Σ_c Σ_n Σ_m x[c, i·S − P + n·D, j·S − P + m·D] · W[o,c,n,m]</code> with each "
        "layer's stride S, padding P and dilation D (zero padding), ReLU <code>max(0, x)</code>, max pooling "
        "(padding counts as −∞), flatten (channel, then row, then column), linear <code>y = W x + b</code> and "
        "softmax. The weights are the trained network's float32 numbers; the arithmetic runs in float64. cnnlab's "
        "tests prove that it gives the NumPy engine's and PyTorch's probabilities (to 10<sup>−4</sup>, in a real "
        f"browser), and on load the page checks itself on its {count} embedded test images against the NumPy "
        "engine's probabilities stored with them (each network's panel says how close they are).</p>",
        "<p><strong>The input.</strong> Pixels are scaled to [0, 1] (pixel / 255) and then standardised as each "
        "network was trained: <code>(x − mean) / std</code> per channel (nothing for pixels in [0, 1]). A shift "
        "moves the picture by whole pixels, right and down for positive dx and dy, and fills what is uncovered "
        "with 0 (black), exactly as <code>cnnlab.data.shift_images</code> does; the shift stays when you pick "
        "another image.</p>",
    ]
    if drawable:
        items.append(
            "<p><strong>Your drawing.</strong> The 280 × 280 drawing's ink (strokes 22 px wide) becomes a 28 × 28 "
            "MNIST-like digit the way MNIST's digits were made: the bounding box of the ink is scaled, keeping its "
            "aspect ratio, so that its longer side is 20 pixels (each new pixel the mean ink of the area it "
            "covers, which gives the grey, anti-aliased edges MNIST has); then it is moved by whole pixels so that "
            "its centre of mass lies at the centre of the 28 × 28 field (row and column 13.5), and values are "
            "kept in [0, 1]. Drawing resets the shift.</p>")
    items.append(
        "<p><strong>Keyboard.</strong> The arrow keys shift the input (0 undoes the shift); Tab reaches the "
        "test images, the buttons and every map; on a focused map, Enter shows the equation of its middle cell "
        "and the arrow keys move the cell.</p>")
    return "\n".join(items)


def render_page(networks: Sequence[ExportedNetwork], samples: Samples, *, title: str | None = None,
                drawable: bool | None = None) -> str:
    """The page as one HTML string. ``drawable`` (default: 1 x 28 x 28 images, i.e. MNIST) adds the drawing
    pad."""
    from cnnlab import __version__

    if not networks:
        raise ValueError("render_page: needs at least one network")
    drawable = samples.image_shape == (1, 28, 28) if drawable is None else drawable
    names = " and ".join(f"{n.label} ({n.model})" for n in networks)
    title = title or f"cnnlab explore: {names} on {samples.title}"
    side = " side by side on the same input" if len(networks) > 1 else ""
    lede = (f"The trained {names}{side}. Pick a test image{', draw a digit' if drawable else ''}, shift it by whole "
            "pixels, and see every layer's maps and the class probabilities, computed in this page; click a map "
            "cell to see its equation with the numbers in it.")
    data = json.dumps(page_data(networks, samples, drawable=drawable), separators=(",", ":"))
    data = data.replace("<", "\\u003c")  # cannot close the <script> it sits in; still the same JSON
    fields = {
        "title": html.escape(title), "lede": html.escape(lede), "version": html.escape(__version__),
        "about": _about(drawable, len(samples.images)), "data": data,
        "css": _inline(asset(STYLESHEET), "style"),
        "engine": _inline(asset("engine.js"), "script"), "input": _inline(asset("input.js"), "script"),
        "explorer": _inline(asset("explorer.js"), "script"),
    }
    return Template(asset(TEMPLATE)).substitute(fields)


def write_page(path: str | Path, networks: Sequence[ExportedNetwork], samples: Samples, *,
               title: str | None = None, drawable: bool | None = None) -> Path:
    """Write :func:`render_page` to ``path`` (folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_page(networks, samples, title=title, drawable=drawable), encoding="utf-8")
    return path
