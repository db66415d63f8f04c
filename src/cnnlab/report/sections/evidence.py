"""Report section of the evidence experiment: the generated claim first, then the evaluation, the channels, the
ablations and where the network looks -- each with the numbers behind it and a caption saying what to look for."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cnnlab.formatting import format_seconds, p_value, percent
from cnnlab.report.document import Figure, Section, Table

if TYPE_CHECKING:
    from cnnlab.experiments.evidence import EvidenceResult


def _captions(result: EvidenceResult) -> dict[str, str]:
    s = result.settings
    captions = {
        "evaluation": "Left: where the test images go (rows: true class, columns: prediction; colour: share of the "
                      "row). Look off the diagonal for the classes it mixes up. Right: accuracy per class with its "
                      f"{result.confidence:.0%} Wilson interval: classes whose intervals do not overlap really differ.",
        "mistakes": "The test images the network gets wrong with the highest confidence: often ambiguous or unusual "
                    "images, sometimes label noise; a pattern here (e.g. the same background) hints at a shortcut.",
        "selectivity": "Every channel's mean response per class, scaled to its largest class mean. A channel that "
                       "lights up for one column only is selective; SI is the selectivity index (0: the same for "
                       "every class, 1: one class only); ★ marks a preference that holds on held-out images.",
        "claim": "The claim of the statement above, in pictures: the channel's class means with bootstrap intervals, "
                 "and what zeroing it does to each class's accuracy (● significant after Holm's correction).",
        "ablation": "What each channel is needed for: the change of each class's accuracy when the channel is set to "
                    "zero (red: worse). Dots mark changes that are significant after correcting for all tests; "
                    "compare with the selectivity figure: selective is not the same as needed.",
        "where": f"Top: one test image per class (red title: misclassified). Middle: occlusion -- a "
                 f"{s.patch}x{s.patch} patch of the mean pixel slid with stride {s.stride}; red where hiding the patch "
                 "lowers the true class's probability. Bottom: gradient saliency |dS/dx| of the true class's score, "
                 "from the NumPy engine's backward pass. Does the evidence sit on the object or on the background?",
    }
    for layer in result.layers:
        field = f"{layer.receptive_field}x{layer.receptive_field}-pixel " if layer.receptive_field else ""
        captions[f"top_{layer.name}"] = (
            f"{layer.name}: the test images that drive each channel most, the {field}receptive field of the "
            "strongest position outlined (the patch the channel actually sees). A red title is the channel's "
            "preferred class. Do the outlined patches share a pattern (an edge, a colour, a texture)?")
    return captions


def _evaluation_table(result: EvidenceResult) -> Table:
    ev = result.evaluation
    rows = [[name, p.n, p.correct, percent(p.value), f"{percent(p.low)} .. {percent(p.high)}"]
            for name, p in zip(ev.class_names, ev.per_class, strict=True)]
    rows.append(["all", ev.overall.n, ev.overall.correct, percent(ev.overall.value),
                 f"{percent(ev.overall.low)} .. {percent(ev.overall.high)}"])
    return Table(["class", "images", "correct", "accuracy", f"{ev.confidence:.0%} Wilson interval"], rows,
                 caption="Per-class accuracy (recall) on the test set.")


def _channel_table(result: EvidenceResult) -> Table:
    names = result.class_names
    rows = []
    for layer in result.layers:
        for profile, test in zip(layer.profiles, layer.tests, strict=True):
            rows.append([f"{layer.name} ch {profile.channel}", names[test.chosen],
                         f"{profile.selectivity:.2f} ({profile.selectivity_low:.2f} .. {profile.selectivity_high:.2f})",
                         "—" if test.runner_up is None else names[test.runner_up], f"{test.cohen_d:.2f}",
                         p_value(test.p_holm), "yes" if test.significant(result.settings.alpha) else "no"])
    return Table(["channel", "preferred (exploration half)", "selectivity index (interval)", "closest rival",
                  "Cohen's d", "p (Holm)", "supported"], rows,
                 caption="Each channel's preferred class, tested on the confirmation half: does it respond more to "
                         "that class than to every other one?")


def _ablation_table(result: EvidenceResult) -> Table:
    names = result.class_names
    alpha = result.settings.alpha
    rows = []
    for a in result.ablations:
        worst = min(range(len(a.per_class)), key=lambda k: a.per_class[k].change)
        change = a.per_class[worst]
        flagged = a.flagged(alpha)
        rows.append([f"{a.layer} ch {a.channel}", f"{100 * a.overall.change:+.1f}", names[worst],
                     f"{100 * change.change:+.1f} ({100 * change.low:+.1f} .. {100 * change.high:+.1f})",
                     p_value(change.p_holm), ", ".join(names[k] for k in flagged) or "none"])
    return Table(["channel zeroed", "overall change (points)", "most hurt class", "its change (interval)",
                  "p (Holm)", "classes changed significantly"], rows,
                 caption="Ablation: each channel set to zero in turn, paired with the intact network image by image.")


def section(result: EvidenceResult, figures: dict[str, Path]) -> Section:
    """The claim, the evaluation, what drives the channels, what they are needed for and where the network looks."""
    ev = result.evaluation
    names = result.class_names
    s = result.settings
    where = result.where
    paragraphs = [result.statement, *result.notes]
    confusions = "; ".join(f"{names[c.true]} → {names[c.predicted]}: {c.share.correct} of {c.share.n} "
                           f"({percent(c.share.value)}, interval {percent(c.share.low)} .. {percent(c.share.high)})"
                           for c in ev.confusions)
    if confusions:
        paragraphs.append(f"Most frequent confusions (share of the true class): {confusions}.")
    paragraphs.append(
        "How to read the claim: a channel's response to an image is the largest value of its map after the ReLU "
        "(how strongly its pattern occurs anywhere in the image). The preferred class is picked on a random half of "
        "the test set and tested on the other half, so picking cannot flatter the test; 'responds most' must hold "
        "against every other class (an intersection-union test: the largest of the one-sided Welch p-values), and "
        f"Holm's correction over all channels keeps the chance of any false claim at {s.alpha:g}. The ablation "
        "asks the causal question the selectivity cannot: does the network need the channel for that class? Both "
        "are statistics of this test set, not proofs of what a channel 'means'.")
    if where.agreement is not None:
        a = where.agreement
        paragraphs.append(
            f"Saliency in both engines: the input gradient from the NumPy engine's hand-written backward passes "
            f"matches torch autograd's for the same weights on {a.n_images} images to {a.relative:.1e} of the "
            f"largest gradient (largest difference {a.max_abs_diff:.1e}; logits differ by at most "
            f"{a.max_logit_diff:.1e}). The backward pass that trains the network, carried one step further, gives the "
            "gradient with respect to the pixels.")
    occ, sal = where.occlusion_centre, where.saliency_centre
    paragraphs.append(
        f"Where it looks, in numbers ({len(where.indices)} test images, {s.per_class} per class): "
        f"{percent(occ[0])} of the occlusion evidence (interval {percent(occ[1])} .. {percent(occ[2])}) and "
        f"{percent(sal[0])} of the saliency ({percent(sal[1])} .. {percent(sal[2])}) lie in the central quarter of "
        f"the image, which holds {percent(where.area_share)} of the occlusion positions and 25% of the pixels. "
        + ("Objects in CIFAR-10 photos are roughly centred, but there are no object masks: the central quarter is a "
           "proxy for 'the object', not a segmentation."
           if result.network.dataset == "cifar10" else
           "MNIST digits are centred in a 20x20 box, so central evidence is expected."))
    tables = [_evaluation_table(result)]
    if result.layers:
        tables.append(_channel_table(result))
    if result.ablations:
        tables.append(_ablation_table(result))
    captions = _captions(result)
    timing = ", ".join(f"{key} {format_seconds(value)}" for key, value in result.seconds.items())
    return Section(
        intro=(f"Assignment 000 warns that feature maps of a few images invite easy generalisation: 'in order to make "
               f"objective statements about the learned features we need more rigorous testing'. Here is the "
               f"testing, on all {result.n_test} test images, for the trained network: "
               f"{result.network.description}. Test accuracy "
               f"{percent(ev.overall.value)} ({ev.confidence:.0%} Wilson interval {percent(ev.overall.low)} .. "
               f"{percent(ev.overall.high)})."),
        paragraphs=paragraphs,
        tables=tables,
        figures=[Figure(path, captions.get(key, "")) for key, path in figures.items()],
        settings={"network": str(result.network.folder), "test images": result.n_test,
                  "batch size": s.batch_size, "top k": s.top_k, "bootstrap resamples": s.bootstrap,
                  "alpha (Holm)": s.alpha, "occlusion patch / stride": f"{s.patch} / {s.stride}",
                  "seed": s.seed, "ablation": s.ablation, "time": timing},
    )
