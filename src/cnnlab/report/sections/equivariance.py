"""Report section of the equivariance experiment (assignment 004 task 6): the four accuracies, the curves, the
per-layer measurement and the assignment's questions answered from the numbers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from cnnlab.formatting import percent, points, relative_error
from cnnlab.options import settings_dict
from cnnlab.report.document import Figure, Section, Table

if TYPE_CHECKING:
    from cnnlab.experiments.equivariance import EquivarianceResult

CAPTIONS = {
    "samples": "The first validation digits (top) and the same digits moved by the assignment's shift (bottom): the "
               "digit is the same, only its position changed.",
    "curves": "Validation accuracy against the shift of the images (px), right, down and diagonal.",
    "layers": "Equivariance error per CNN layer: ||f(shifted x) - shift(f(x))|| / ||shift(f(x))|| on the full map "
              "and on the interior (away from padding and vacated pixels; the vacated cells of shift(f(x)) hold the "
              "layer's response to an empty image); grey: how much the map changes at all, ||f(shifted x) - f(x)|| / "
              "||f(x)||, the only comparison at the output layer, where no shifted copy exists. Log scale.",
    "example": "An image, the image shifted, and for the first channels of each convolution: its maps of both, the "
               "map of the original moved by the shift the layer should show (T'), and the difference (dashed: the "
               "interior crop). Where that shift is whole the difference vanishes (at most near the borders); where "
               "it is not (e.g. half a cell), no shifted copy exists and T' is the closest whole shift.",
}


def section(result: EquivarianceResult, figures: dict[str, Path]) -> Section:
    """The assignment's four accuracies, the accuracy-vs-shift table, the per-layer table, the answers, the figures."""
    s = result.settings
    labels = result.labels
    shift_label = f"shifted {s.shift[0]},{s.shift[1]} px"
    acc_table = Table(
        columns=["model", "trained here", "unshifted", shift_label, "drop"],
        rows=[[labels[k], result.trained.get(k, True), percent(v["original"]), percent(v["shifted"]),
               points(v["original"] - v["shifted"])] for k, v in result.accuracy.items()],
        caption=f"Validation accuracy ({result.n_val} images), as is and shifted {s.shift[0]} px right and "
                f"{s.shift[1]} px down (the assignment's four numbers are the MLP and CNN rows).",
    )
    curve_rows = [[labels[c.model], c.direction, *(percent(a) for a in c.accuracy)] for c in result.curves]
    curves_table = Table(columns=["model", "direction", *[f"{v} px" for v in result.curves[0].shifts]],
                         rows=curve_rows, caption="Validation accuracy against shift.")
    spatial_rows, other_rows = [], []
    for key, measured in result.layers.items():
        for m in measured:
            if m.stride is None or m.expected_shift is None:
                other_rows.append([labels[key], m.layer, f"{m.shift[0]},{m.shift[1]}", relative_error(m.invariance)])
                continue
            map_shift = f"{m.expected_shift[0]:g},{m.expected_shift[1]:g}"
            if not m.whole and m.compared_shift is not None:
                map_shift += f" (compared: {m.compared_shift[0]},{m.compared_shift[1]})"
            spatial_rows.append([
                labels[key], m.layer, f"{m.shift[0]},{m.shift[1]}", m.stride[0], map_shift,
                None if math.isnan(m.full) else relative_error(m.full),
                None if math.isnan(m.interior) else relative_error(m.interior), relative_error(m.invariance),
            ])
    probed = min(s.probe_images, result.n_val)
    layer_tables = [Table(
        columns=["model", "layer", "input shift (px)", "stride", "map shift", "equivariance error (full)",
                 "equivariance error (interior)", r"change \(\|f(Tx) - f(x)\| / \|f(x)\|\)"],
        rows=spatial_rows,
        caption=rf"Feature maps: how far \(f(Tx)\) is from the shifted map \(T'f(x)\), relative to "
                rf"\(\|T'f(x)\|\), on {probed} validation images (means of relative distances)",
    )] if spatial_rows else []
    if other_rows:
        layer_tables.append(Table(
            columns=["model", "layer", "input shift (px)", r"change \(\|f(Tx) - f(x)\| / \|f(x)\|\)"],
            rows=other_rows,
            caption="Layers without a spatial map (fully connected layers, the logits): no shifted copy exists, so "
                    "only how much the output changes is measured",
        ))
    training = ", ".join(f"{labels[k]} {v['seconds']:.1f} s" for k, v in result.histories.items())
    intro = (f"Assignment 004 task 6: the MLP and the CNN trained on MNIST ({result.n_train or 'pre-trained'} training "
             f"images), evaluated on the validation set as is and shifted; beyond the assignment, accuracy against "
             f"shift, an MLP trained with random shifts of up to ±{s.augment_shift} px, and a per-layer measurement of "
             "equivariance with the border effect separated.")
    if training:
        intro += f" Training time: {training}."
    settings = settings_dict(s)
    return Section(intro=intro, qa=result.answers,
                   tables=[acc_table, curves_table, *layer_tables],
                   figures=[Figure(path, CAPTIONS.get(key, "")) for key, path in figures.items()],
                   settings=settings)
