"""Figures of the evidence experiment, each readable at a glance (class names on the axes, values and colour bars):

- :func:`evaluation_figure`: the confusion matrix and per-class accuracy with Wilson intervals;
- :func:`mistakes_figure`: the most confidently misclassified test images;
- :func:`selectivity_figure`: every channel's per-class mean response (scaled per channel), its selectivity index
  and whether its preference survived the split-half test;
- :func:`top_images_figure`: per conv layer, every channel's top test images with the receptive field of the
  maximum outlined;
- :func:`ablation_figure`: the change of every class's accuracy when a channel is zeroed, significant cells marked;
- :func:`claim_figure`: the claimed channel's class means with bootstrap intervals and its ablation per class;
- :func:`where_figure`: one image per class with its occlusion map and its saliency map.

:func:`figures` writes those that apply into a folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from cnnlab.plots.featuremaps import _as_display, _blank
from cnnlab.plots.style import COLORS, WIDTH, save_figure, style_axes

if TYPE_CHECKING:
    from cnnlab.experiments.evidence import EvidenceResult

#: Colour of a channel's preferred class / a highlighted bar.
HIGHLIGHT = COLORS[3]
#: Colour of the receptive-field boxes.
BOX = "#ffd400"


def _title(result: EvidenceResult) -> str:
    return f"{result.network.model} on the {result.network.dataset} test set ({result.n_test} images)"


def evaluation_figure(result: EvidenceResult) -> Figure:
    """Left: the confusion matrix (counts; colour = share of the true class). Right: per-class accuracy with its
    Wilson interval, the overall accuracy as a line."""
    ev = result.evaluation
    k = len(ev.class_names)
    fig = Figure(figsize=(WIDTH, 4.6), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1.25, 1])
    shares = ev.confusion / np.maximum(ev.confusion.sum(axis=1, keepdims=True), 1)
    image = left.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    small = 7 if k > 5 else 9
    for t in range(k):
        for p in range(k):
            if ev.confusion[t, p]:
                left.text(p, t, str(ev.confusion[t, p]), ha="center", va="center", fontsize=small,
                          color="white" if shares[t, p] > 0.5 else "black")
    left.set_xticks(range(k), ev.class_names, rotation=45, ha="right", fontsize=8)
    left.set_yticks(range(k), ev.class_names, fontsize=8)
    left.set_xlabel("predicted class")
    left.set_ylabel("true class")
    left.set_title("confusion matrix (counts)", fontsize=10)
    fig.colorbar(image, ax=left, shrink=0.8, label="share of the true class")
    style_axes(right)
    values = np.array([p.value for p in ev.per_class])
    lows = values - np.array([p.low for p in ev.per_class])
    highs = np.array([p.high for p in ev.per_class]) - values
    rows = np.arange(k)
    right.barh(rows, values, color=COLORS[0], alpha=0.75)
    right.errorbar(values, rows, xerr=[lows, highs], fmt="none", ecolor="black", capsize=3, lw=1)
    right.axvline(ev.overall.value, color=HIGHLIGHT, ls="--", lw=1,
                  label=f"overall {ev.overall.value:.1%} [{ev.overall.low:.1%}, {ev.overall.high:.1%}]")
    right.set_yticks(rows, ev.class_names, fontsize=8)
    right.invert_yaxis()
    right.set_xlim(max(0.0, float(np.nanmin(values - lows)) - 0.1), 1.0)
    right.set_xlabel(f"accuracy (recall) with {ev.confidence:.0%} Wilson interval")
    right.legend(fontsize=8, loc="lower left")
    right.set_title("per-class accuracy", fontsize=10)
    fig.suptitle(_title(result), fontsize=11)
    return fig


def _probability(p: float) -> str:
    """A probability as a percentage that never rounds up to a certain 100%: ``99.4%``, ``>99.9%``."""
    return ">99.9%" if p > 0.999 else f"{p:.1%}"


def mistakes_figure(result: EvidenceResult, columns: int = 6) -> Figure:
    """The most confidently misclassified test images: true class, predicted class and its probability."""
    mistakes = result.evaluation.mistakes
    names = result.class_names
    n = len(mistakes)
    if n == 0:
        raise ValueError("mistakes_figure: the network made no mistakes on these images")
    columns = min(columns, n)
    rows = -(-n // columns)
    fig = Figure(figsize=(1.6 * columns + 0.2, 1.95 * rows + 0.5), layout="constrained")
    axes = np.atleast_2d(fig.subplots(rows, columns, squeeze=False))
    for index, ax in enumerate(axes.ravel()):
        _blank(ax)
        if index >= n:
            ax.set_visible(False)
            continue
        m = mistakes[index]
        image, cmap = _as_display(result.mistake_images[index])
        ax.imshow(image, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"#{m.index}: {names[m.true]}\n→ {names[m.predicted]} {_probability(m.p_predicted)}", fontsize=8)
    fig.suptitle(f"Most confident mistakes of {result.network.model}: true class → predicted class and its "
                 "probability", fontsize=10)
    return fig


def _channel_rows(result: EvidenceResult) -> list[tuple[str, int]]:
    return [(layer.name, p.channel) for layer in result.layers for p in layer.profiles]


def selectivity_figure(result: EvidenceResult) -> Figure:
    """Rows = channels, columns = classes; colour = the class mean divided by the channel's largest class mean.
    Right of each row: the selectivity index and, for a preference that survived the split-half test (Holm), a
    star; the tested class's cell is outlined."""
    profiles = [p for layer in result.layers for p in layer.profiles]
    tests = [t for layer in result.layers for t in layer.tests]
    names = result.class_names
    k = len(names)
    means = np.array([p.means for p in profiles])
    top = np.nanmax(means, axis=1, keepdims=True)
    scaled = np.where(top > 0, means / np.where(top > 0, top, 1), 0)
    height = 1.4 + 0.28 * len(profiles)
    fig = Figure(figsize=(WIDTH * 0.8, height), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(scaled, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    alpha = result.settings.alpha
    for row, (profile, test) in enumerate(zip(profiles, tests, strict=True)):
        star = " ★" if test.significant(alpha) else ""
        dead = " (never fires)" if profile.dead else ""
        ax.text(k - 0.4, row, f"SI {profile.selectivity:.2f}{star}{dead}", va="center", fontsize=7)
        ax.add_patch(Rectangle((test.chosen - 0.5, row - 0.5), 1, 1, fill=False, ec="white", lw=1.5))
    ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(profiles)), [f"{name} ch {c}" for name, c in _channel_rows(result)], fontsize=7)
    ax.set_xlim(-0.5, k + 1.6)
    for boundary in np.cumsum([len(layer.profiles) for layer in result.layers])[:-1]:
        ax.axhline(boundary - 0.5, color="white", lw=2)
    fig.colorbar(image, ax=ax, shrink=0.6, label="class mean / largest class mean")
    ax.set_title(f"Per-class mean response of every channel ({result.n_test} test images); white box: the class "
                 f"picked on the exploration half;\n★: it beats every other class on the confirmation half (Holm, "
                 f"alpha {alpha:g})", fontsize=9)
    return fig


def _mosaic(images: np.ndarray, gap: int, top: int) -> np.ndarray:
    """``images`` ``(R, K, C, H, W)`` in [0, 1] (NaN shown white) as one picture: tiles of ``H x W`` with ``gap``
    white pixels between the columns and ``top`` above every row (room for titles); ``(rows, cols)`` for one
    channel, ``(rows, cols, 3)`` for RGB."""
    r, k, c, h, w = images.shape
    canvas = np.ones((r * (h + top), k * (w + gap) - gap, c), dtype=np.float32)
    for i in range(r):
        for j in range(k):
            y, x = i * (h + top) + top, j * (w + gap)
            canvas[y:y + h, x:x + w] = np.nan_to_num(np.transpose(images[i, j], (1, 2, 0)), nan=1.0)
    return canvas[..., 0] if c == 1 else (canvas if c == 3 else canvas.mean(axis=-1))


def top_images_figure(result: EvidenceResult, layer_name: str, cell: float = 0.8) -> Figure:
    """Rows = the layer's channels, columns = their top-k test images (largest response first), the receptive
    field of the maximum outlined; each image titled with its class and the response. Drawn as one mosaic image
    (a figure of hundreds of small axes would take seconds to render)."""
    layer = next(layer for layer in result.layers if layer.name == layer_name)
    images = result.top_images[layer_name]
    channels, k = images.shape[:2]
    h, w = images.shape[3:]
    gap, top = max(2, w // 10), max(6, h // 3)
    picture = _mosaic(images, gap, top)
    label_width = 1.4
    height = 0.5 + cell * channels * (h + top) / h
    fig = Figure(figsize=(label_width + cell * k * (w + gap) / w, height))
    ax = fig.add_axes((label_width / fig.get_figwidth(), 0.02 / height, 1 - label_width / fig.get_figwidth() - 0.01,
                       1 - 0.5 / height))
    _blank(ax)
    ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest",
              aspect="equal")
    names = result.class_names
    for c, profile in enumerate(layer.profiles):
        row_y = c * (h + top) + top
        ax.text(-gap, row_y + h / 2, f"channel {c}\nSI {profile.selectivity:.2f}\nprefers {names[profile.preferred]}",
                ha="right", va="center", fontsize=7)
        for j, image in enumerate(profile.top[:k]):
            x = j * (w + gap)
            y0, y1, x0, x1 = image.box
            y0, y1, x0, x1 = max(y0, 0), min(y1, h), max(x0, 0), min(x1, w)
            ax.add_patch(Rectangle((x + x0 - 0.5, row_y + y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec=BOX, lw=1.0))
            ax.text(x + w / 2, row_y - 1, f"{names[image.label]}: {image.value:.2g}", ha="center", va="bottom",
                    fontsize=6, color=HIGHLIGHT if image.label == profile.preferred else "black")
    extent = f", receptive field {layer.receptive_field}x{layer.receptive_field} px" if layer.receptive_field else ""
    fig.suptitle(f"{layer_name}: top {k} test images per channel by the largest response{extent} (outlined);\n"
                 "red title: the channel's preferred class", fontsize=9, y=1 - 0.05 / height, va="top")
    return fig


def ablation_figure(result: EvidenceResult) -> Figure:
    """Rows = channels, columns = classes; colour = the accuracy change (points) when the channel is zeroed; a dot
    marks a change that is significant after Holm's correction (McNemar's exact test)."""
    names = result.class_names
    k = len(names)
    change = np.array([[100 * c.change for c in a.per_class] for a in result.ablations])
    limit = max(1.0, float(np.abs(change).max()))
    height = 1.4 + 0.28 * len(result.ablations)
    fig = Figure(figsize=(WIDTH * 0.8, height), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(change, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    alpha = result.settings.alpha
    cells = [(col, row) for row, a in enumerate(result.ablations) for col in a.flagged(alpha)]
    if cells:
        cols, rows = zip(*cells, strict=True)
        ax.scatter(cols, rows, s=12, c="black", edgecolors="white", linewidths=0.6)
    for row, a in enumerate(result.ablations):
        ax.text(k - 0.4, row, f"overall {100 * a.overall.change:+.1f}", va="center", fontsize=7)
    ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(result.ablations)), [f"{a.layer} ch {a.channel}" for a in result.ablations], fontsize=7)
    ax.set_xlim(-0.5, k + 1.4)
    layer_sizes = [sum(1 for a in result.ablations if a.layer == name) for name in dict.fromkeys(
        a.layer for a in result.ablations)]
    for boundary in np.cumsum(layer_sizes)[:-1]:
        ax.axhline(boundary - 0.5, color="black", lw=1)
    fig.colorbar(image, ax=ax, shrink=0.6, label="accuracy change (points)")
    tests = sum(len(a.per_class) for a in result.ablations)
    ax.set_title(f"Zeroing one channel: change of each class's accuracy (blue: better, red: worse);\n●: significant "
                 f"(McNemar exact, Holm over {tests} tests, alpha {alpha:g})", fontsize=9)
    return fig


def claim_figure(result: EvidenceResult) -> Figure:
    """The claimed channel: per-class mean response with bootstrap intervals (all test images), and the per-class
    accuracy change when it is zeroed with Newcombe intervals."""
    if result.claim is None:
        raise ValueError("claim_figure: no claim is supported")
    test = result.claim.test
    profile = next(p for layer in result.layers for p in layer.profiles
                   if layer.name == test.layer and p.channel == test.channel)
    names = result.class_names
    k = len(names)
    panels = 2 if result.claim.ablation is not None else 1
    fig = Figure(figsize=(WIDTH, 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, panels))
    colors = [HIGHLIGHT if c == test.chosen else COLORS[0] for c in range(k)]
    rows = np.arange(k)
    ax = axes[0]
    style_axes(ax)
    ax.bar(rows, profile.means, color=colors, alpha=0.8)
    ax.errorbar(rows, profile.means, yerr=[profile.means - profile.low, profile.high - profile.means], fmt="none",
                ecolor="black", capsize=3, lw=1)
    ax.set_xticks(rows, names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("mean response (max of the map)")
    ax.set_title(f"{test.layer} channel {test.channel}: class means, {result.confidence:.0%} bootstrap intervals",
                 fontsize=9)
    if result.claim.ablation is not None:
        ax = axes[1]
        style_axes(ax)
        changes = result.claim.ablation.per_class
        values = np.array([100 * c.change for c in changes])
        ax.bar(rows, values, color=colors, alpha=0.8)
        ax.errorbar(rows, values, yerr=[values - 100 * np.array([c.low for c in changes]),
                                        100 * np.array([c.high for c in changes]) - values],
                    fmt="none", ecolor="black", capsize=3, lw=1)
        flagged = result.claim.ablation.flagged(result.settings.alpha)
        for col in flagged:
            end = 100 * (changes[col].high if values[col] >= 0 else changes[col].low)
            ax.text(col, end, "●", ha="center", va="bottom" if values[col] >= 0 else "top", fontsize=7)
        ax.axhline(0, color="black", lw=0.8)
        ax.margins(y=0.12)
        ax.set_xticks(rows, names, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("accuracy change (points)")
        ax.set_title(f"channel zeroed: accuracy change, {result.confidence:.0%} Newcombe intervals\n"
                     "● significant after Holm's correction", fontsize=9)
    fig.suptitle(f"The strongest supported claim: {test.layer} channel {test.channel} responds most to "
                 f"'{names[test.chosen]}'", fontsize=10)
    return fig


def where_figure(result: EvidenceResult) -> Figure:
    """One image per class (columns): the image (true class, prediction), the occlusion map (drop of the true
    class's probability at each patch position, one shared colour scale) and the saliency map (each scaled to its
    own maximum)."""
    where = result.where
    names = result.class_names
    first: dict[int, int] = {}
    for position, label in enumerate(where.labels):
        first.setdefault(label, position)
    shown = list(first.values())
    n = len(shown)
    occ = where.occlusion
    limit = max(1e-6, float(np.abs(occ.drop[shown]).max()))
    fig = Figure(figsize=(max(WIDTH, 1.05 * n + 1.4), 4.4), layout="constrained")
    axes = fig.subplots(3, n, squeeze=False)
    rows, cols = occ.centres()
    half = occ.stride / 2
    extent = (cols[0] - half, cols[-1] + half, rows[-1] + half, rows[0] - half)
    occlusion_image: Any = None
    saliency_image: Any = None
    for j, position in enumerate(shown):
        image, cmap = _as_display(where.images[position])
        for ax in axes[:, j]:
            _blank(ax)
        axes[0, j].imshow(image, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        predicted = where.predictions[position]
        axes[0, j].set_title(f"{names[where.labels[position]]}\npred {names[predicted]}", fontsize=7,
                             color="black" if predicted == where.labels[position] else HIGHLIGHT)
        axes[1, j].imshow(image.mean(axis=-1) if image.ndim == 3 else image, cmap="gray", vmin=0, vmax=1)
        occlusion_image = axes[1, j].imshow(occ.drop[position], cmap="RdBu_r", vmin=-limit, vmax=limit, alpha=0.75,
                                            extent=extent, interpolation="nearest")
        axes[1, j].set_xlim(-0.5, image.shape[1] - 0.5)
        axes[1, j].set_ylim(image.shape[0] - 0.5, -0.5)
        sal = where.saliency[position]
        saliency_image = axes[2, j].imshow(sal / max(float(sal.max()), 1e-12), cmap="inferno", vmin=0, vmax=1)
    axes[0, 0].set_ylabel("image", fontsize=8)
    axes[1, 0].set_ylabel(f"occlusion\n{occ.patch}px patch", fontsize=8)
    axes[2, 0].set_ylabel("saliency", fontsize=8)
    fig.colorbar(occlusion_image, ax=axes[1, :].tolist(), shrink=0.9, pad=0.01,
                 label="drop of p(true class)")
    fig.colorbar(saliency_image, ax=axes[2, :].tolist(), shrink=0.9, pad=0.01, label="|dS/dx| / max")
    fig.suptitle("Where the network looks: red = hiding this patch lowers the true class's probability; "
                 "bright = the true class's score is most sensitive to these pixels", fontsize=9)
    return fig


def figures(result: EvidenceResult, folder: Path) -> dict[str, Path]:
    """Every figure that applies to ``result``, as PNGs in ``folder``: ``{key: path}`` in report order."""
    folder = Path(folder)
    out = {"evaluation": save_figure(evaluation_figure(result), folder / "evidence_evaluation.png")}
    if result.evaluation.mistakes:
        out["mistakes"] = save_figure(mistakes_figure(result), folder / "evidence_mistakes.png")
    if result.layers:
        out["selectivity"] = save_figure(selectivity_figure(result), folder / "evidence_selectivity.png")
        for layer in result.layers:
            out[f"top_{layer.name}"] = save_figure(top_images_figure(result, layer.name),
                                                   folder / f"evidence_top_{layer.name}.png")
    if result.claim is not None:
        out["claim"] = save_figure(claim_figure(result), folder / "evidence_claim.png")
    if result.ablations:
        out["ablation"] = save_figure(ablation_figure(result), folder / "evidence_ablation.png")
    out["where"] = save_figure(where_figure(result), folder / "evidence_where.png")
    return out
