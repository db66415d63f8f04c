"""The explorer page without a browser: balanced image choice, reference numbers, one self-contained file that
refers to nothing outside it, its data readable back, and the LeNet page under 2 MB."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from explore.explorefixtures import seed_network, synthetic_samples

from cnnlab import data
from cnnlab.explore import (
    choose_samples,
    decode_array,
    export_network,
    model_inputs,
    probabilities,
    render_page,
    samples_from,
    with_reference,
    write_page,
)
from cnnlab.explore.page import SCRIPTS, asset

ROOT = Path(__file__).resolve().parents[2]


def test_choose_samples_is_balanced_in_class_order_and_reproducible():
    labels = np.repeat(np.arange(10), 7)[np.random.default_rng(1).permutation(70)]
    chosen = choose_samples(labels, 30, seed=5)
    assert len(set(chosen)) == 30 and chosen == choose_samples(labels, 30, seed=5)
    assert labels[chosen].tolist() == list(range(10)) * 3
    assert chosen != choose_samples(labels, 30, seed=6)
    # a class that runs out is passed over; the rest keep their order
    few = np.array([0, 0, 0, 1, 2, 2, 2])
    assert few[choose_samples(few, 6)].tolist() == [0, 1, 2, 0, 2, 0]
    with pytest.raises(ValueError, match="asked for 8 images but the split holds only 7"):
        choose_samples(few, 8)


def test_samples_from_a_split_and_the_reference_probabilities():
    images = np.random.default_rng(0).integers(0, 256, (20, 1, 28, 28), dtype=np.uint8)
    split = data.Dataset(images, np.arange(20) % 10, list(data.MNIST_CLASSES), "mnist", "test")
    samples = samples_from(split, 10, seed=3)
    assert samples.title == "MNIST" and samples.labels.tolist() == list(range(10))
    np.testing.assert_array_equal(samples.images, images[samples.indices])
    model = seed_network("mnist-cnn")
    network = with_reference(export_network(model, input_shape=(1, 28, 28), mean=(0.5,), std=(0.25,)), model,
                             samples)
    x = model_inputs(samples.images, network)
    np.testing.assert_allclose(x, (samples.images / 255.0 - 0.5) / 0.25, rtol=1e-6, atol=1e-6)
    assert network.reference is not None and network.reference.shape == (10, 10)
    np.testing.assert_allclose(network.reference.sum(axis=1), 1, rtol=1e-12)
    np.testing.assert_allclose(network.reference, probabilities(model, x))
    assert network.reference.max() > 0.5  # the scaled weights spread the probabilities out


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text of the data script."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.data_text = ""
        self._in_data = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_data = tag == "script" and dict(attrs).get("id") == "cnnlab-data"

    def handle_endtag(self, tag):
        self._in_data = False

    def handle_data(self, text):
        if self._in_data:
            self.data_text += text


@pytest.fixture(scope="module")
def lenet_page(tmp_path_factory) -> tuple[Path, object]:
    samples = synthetic_samples((3, 32, 32), n=30, name="cifar10", title="CIFAR-10")
    model = seed_network("lenet")
    network = with_reference(export_network(model, input_shape=(3, 32, 32), model_name="lenet",
                                            source="runs/lenet </script><b>"), model, samples)
    return write_page(tmp_path_factory.mktemp("page") / "explorer-cifar10.html", [network], samples), network


def test_the_page_is_one_file_that_refers_to_nothing_outside_it(lenet_page):
    path, _ = lenet_page
    text = path.read_text(encoding="utf-8")
    parser = Elements()
    parser.feed(text)
    for tag, attributes in parser.tags:
        assert "src" not in attributes and "href" not in attributes, (tag, attributes)
        assert tag not in ("link", "iframe", "img", "object", "embed"), tag
    assert not re.search(r"https?://|//cdn|@import|url\(", text), "the page must not name anything on the web"
    policy = [a["content"] for t, a in parser.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert policy and policy[0].startswith("default-src 'none'")
    scripts = [a for t, a in parser.tags if t == "script"]
    assert len(scripts) == 1 + len(SCRIPTS)
    for name in SCRIPTS:
        assert asset(name) in text


def test_the_embedded_data_reads_back_to_the_same_weights_images_and_reference(lenet_page):
    path, network = lenet_page
    parser = Elements()
    parser.feed(path.read_text(encoding="utf-8"))
    page = json.loads(parser.data_text)
    assert page["networks"][0]["source"] == "runs/lenet </script><b>"  # escaped in the page, intact in the data
    assert "</script><b>" not in parser.data_text
    layers = page["networks"][0]["layers"]
    for layer, original in zip(layers, network.layers, strict=True):
        assert layer == original
    pixels = decode_array(page["samples"]["pixels"], [page["samples"]["count"], *page["samples"]["shape"]], "u1")
    assert pixels.shape == (30, 3, 32, 32) and page["drawable"] is False
    reference = page["networks"][0]["reference"]
    np.testing.assert_array_equal(decode_array(reference["probabilities"], reference["shape"], "<f8"),
                                  network.reference)


def test_the_lenet_page_stays_under_2_mb(lenet_page):
    path, _ = lenet_page
    assert path.stat().st_size < 2_000_000


def test_inputs_of_another_shape_than_the_images_are_refused():
    samples = synthetic_samples((1, 28, 28), n=4)
    network = export_network(seed_network("lenet"), input_shape=(3, 32, 32), model_name="lenet")
    with pytest.raises(ValueError, match=r"takes inputs \(3, 32, 32\) but the MNIST images are \(1, 28, 28\)"):
        render_page([network], samples)
    with pytest.raises(ValueError, match="at least one network"):
        render_page([], samples)


def test_the_assets_ship_as_package_data():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["cnnlab.explore"]
    shipped = {path.name for pattern in patterns for path in (ROOT / "src/cnnlab/explore").glob(pattern)}
    assert {"template.html", "explorer.css", *SCRIPTS} <= shipped
