"""Report section of the feature maps (assignment 000 task 3.3): what was shown, the activations' scale, the figures."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cnnlab.report.document import Figure, Section, Table

if TYPE_CHECKING:
    from cnnlab.experiments.featuremaps import FeatureMapsRun

MAPS_CAPTION = ("{layer}: one row per image (its input on the left, with the true class and the prediction), one "
                "column per channel. Every map is normalised to [0, 1] on its own, so brightness compares positions "
                "within one map, not maps: look for where a channel lights up across the images.")
CAPTIONS = {
    "filters": "The learned filters of the first convolution, each scaled to [0, 1] on its own (all input channels "
               "together, so an RGB filter shows the colour it responds to).",
}


def section(run: FeatureMapsRun, figures: dict[str, Path]) -> Section:
    """The shown layers with their raw ranges and zero fractions, the images, the filters, and how to read them."""
    result = run.maps
    rows = []
    for layer in result.layers:
        rows.append([layer.name, layer.kind, " x ".join(str(s) for s in layer.shape[1:]), len(layer.channels),
                     f"{float(layer.raw_min.min()):.3g} .. {float(layer.raw_max.max()):.3g}",
                     f"{float(layer.zero_fraction.mean()):.0%}", int(layer.constant.sum())])
    table = Table(
        columns=["layer", "kind", "output (C x H x W)", "channels shown", "raw range", "zero pixels",
                 "constant maps"],
        rows=rows,
        caption="Shown layers and their activations before normalisation (over the shown images and channels).",
    )
    image_lines = [result.image_title(n).replace("\n", ", ") for n in range(result.images.shape[0])]
    w = result.filters
    paragraphs = [
        "Images: " + "; ".join(image_lines) + ".",
        f"First-layer filters ({result.filter_layer}): {w.shape[0]} filters of {w.shape[1]} x {w.shape[2]} x "
        f"{w.shape[3]}, weights between {float(w.min()):.3g} and {float(w.max()):.3g}.",
        "Reading the maps: each map is scaled on its own, so a bright spot means 'strongest response of this "
        "channel for this image', not a large value in absolute terms; the raw range in the table gives the scale. "
        "As the assignment warns, patterns seen in a few maps (a channel that lights up on edges, or on eyes) are "
        "hypotheses, not findings: testing them needs many images and a measurement.",
    ]
    zero_layers = [layer for layer in result.layers if float(layer.zero_fraction.mean()) > 0.5]
    if zero_layers:
        paragraphs.append("Mostly zero after ReLU/pooling (more than half of the pixels are 0): "
                          + ", ".join(f"{layer.name} ({float(layer.zero_fraction.mean()):.0%})"
                                      for layer in zero_layers) + ".")
    return Section(
        intro=(f"The activations of {result.images.shape[0]} images after every convolution and pooling layer"
               + (f" of the trained {result.model_name}" if result.model_name else "")
               + f", first {result.n_channels} channels of each, every map normalised to [0, 1] individually; "
                 "and the learned first-layer filters."),
        paragraphs=paragraphs,
        tables=[table],
        figures=[Figure(path, MAPS_CAPTION.format(layer=key.removeprefix("maps-")) if key.startswith("maps-")
                        else CAPTIONS.get(key, "")) for key, path in figures.items()],
        settings={"network": str(run.weights), "n_channels": result.n_channels,
                  "layers": ", ".join(result.layer_names)},
    )
