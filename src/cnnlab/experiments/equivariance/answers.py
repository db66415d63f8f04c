"""The assignment's three questions about the shift experiment, answered with the measured numbers.

Every judgement in the text ("about the same", "exactly up to rounding", "matters little") comes from one of the
named thresholds below, so the words can never contradict the numbers they sit next to.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from cnnlab.formatting import percent, points, relative_error

if TYPE_CHECKING:
    from cnnlab.experiments.equivariance.experiment import AccuracyCurve, EquivarianceResult
    from cnnlab.experiments.equivariance.measure import LayerEquivariance

QUESTIONS = (
    "What do you observe regarding the accuracies? How can the results be explained?",
    "What could we do to improve the accuracy of the MLP model on the shifted validation set?",
    "Why is the performance of the CNN not equal for unshifted and shifted data, if convolutions are equivariant "
    "to translation?",
)

#: Accuracies closer than this (half a percentage point) count as "about the same" / "no real gain".
SAME_ACCURACY = 0.005
#: An accuracy that moved less than this (0.05 points) "stays" where it was.
UNCHANGED = 0.0005
#: A relative equivariance error below this is float rounding: the map *is* the shifted copy.
ROUNDING = 1e-4
#: Below this relative error a map detects the same features, only moved.
SAME_FEATURES = 1e-3
#: A full-map error that exceeds the interior error by more than this is a visible border effect.
BORDER_EFFECT = 0.01
#: An accuracy drop larger than this (5 points) is a clear failure to recognise moved features.
CLEAR_DROP = 0.05


def moves(before: float, after: float) -> str:
    """'falls to X (-d points)', 'rises to X (+d points)' or 'stays at X': the wording follows the numbers."""
    if abs(after - before) < UNCHANGED:
        return f"stays at {percent(after)}"
    verb, sign = ("falls", "-") if after < before else ("rises", "+")
    return f"{verb} to {percent(after)} ({sign}{points(abs(after - before))})"


def trend(first: AccuracyCurve, second: AccuracyCurve, names: tuple[str, str], at: int) -> str:
    """How two accuracy curves (the same direction) relate between shift ``at`` and their largest shift: which
    stays ahead, whether the gap widens or narrows, or where they cross -- said from the numbers, never assumed."""
    top = first.shifts[-1]
    lead_at, lead_top = first.at(at) - second.at(at), first.at(top) - second.at(top)
    values = (f"at {top} px ({first.direction}) the {names[0]} is at {percent(first.at(top))}, the {names[1]} at "
              f"{percent(second.at(top))}")
    if top <= at:
        return f"No larger shift was measured: {values}."
    if abs(lead_top) < SAME_ACCURACY:
        return f"By the largest shift the two meet: {values}."
    ahead = names[0] if lead_top > 0 else names[1]
    if abs(lead_at) < SAME_ACCURACY or (lead_at > 0) != (lead_top > 0):
        parting = next(s for s in first.shifts if s > at and abs(first.at(s) - second.at(s)) >= SAME_ACCURACY
                       and (first.at(s) > second.at(s)) == (lead_top > 0))
        if abs(lead_at) < SAME_ACCURACY:
            return (f"The curves are level at {at} px and part after it: from {parting} px the {ahead} is ahead; "
                    f"{values}.")
        return f"The curves cross: from {parting} px on the {ahead} is ahead; {values}."
    how = "widens" if abs(lead_top) > abs(lead_at) + SAME_ACCURACY else (
        "narrows" if abs(lead_top) < abs(lead_at) - SAME_ACCURACY else "stays about the same")
    return f"With larger shifts the {ahead} stays ahead and the gap {how}: {values}."


def _find(result: EquivarianceResult, model: str, shift_px: tuple[int, int],
          predicate: Callable[[LayerEquivariance], bool]) -> list[LayerEquivariance]:
    return [m for m in result.layers.get(model, []) if tuple(m.shift) == tuple(shift_px) and predicate(m)]


def observation(result: EquivarianceResult) -> list[str]:
    """Question 1: what the four accuracies show, and why (the MLP's per-pixel weights, the conv's equivariance)."""
    acc, s = result.accuracy, result.settings
    if "mlp" not in acc or "cnn" not in acc:
        return ["Not measured (MLP or CNN missing)."]
    dx, dy = s.shift
    mlp, cnn = acc["mlp"], acc["cnn"]
    drop_mlp, drop_cnn = mlp["original"] - mlp["shifted"], cnn["original"] - cnn["shifted"]
    parts = [f"Unshifted, the MLP reaches {percent(mlp['original'])} and the CNN {percent(cnn['original'])} "
             f"validation accuracy. Shifted {dx} px right and {dy} px down, the MLP "
             f"{moves(mlp['original'], mlp['shifted'])} and the CNN {moves(cnn['original'], cnn['shifted'])}."]
    if drop_cnn < drop_mlp - SAME_ACCURACY and drop_cnn <= -UNCHANGED:
        parts[0] += " The shift does not hurt the CNN at all here" + (
            f", while the MLP loses {points(drop_mlp)}." if drop_mlp > UNCHANGED else ".")
    elif drop_cnn < drop_mlp - SAME_ACCURACY:
        both = "Both suffer, but the" if min(drop_mlp, drop_cnn) > SAME_ACCURACY else "The"
        parts[0] += f" {both} CNN loses {points(drop_mlp - drop_cnn)} less than the MLP."
    elif drop_mlp < drop_cnn - SAME_ACCURACY:
        parts[0] += (f" In this run the CNN loses {points(drop_cnn - drop_mlp)} more than the MLP, so its "
                     "convolutions alone did not make it the more shift-robust model (see question 3).")
    else:
        parts[0] += " Both lose about the same."
    parts.append(trend(result.curve("cnn", "diagonal"), result.curve("mlp", "diagonal"), ("CNN", "MLP"),
                       max(dx, dy)))
    explanation = ("Why: the MLP's first layer has one weight per pixel position, so a digit moved by a few pixels "
                   "meets weights fitted to other positions; nothing in it relates neighbouring positions.")
    mlp_out = _find(result, "mlp", s.shift, lambda m: m.is_output)
    cnn_out = _find(result, "cnn", s.shift, lambda m: m.is_output)
    conv = _find(result, "cnn", s.shift, lambda m: m.kind == "conv" and m.whole)
    if mlp_out and cnn_out:
        explanation += (f" Measured on the logits, the shift moves the MLP's output by "
                        f"{relative_error(mlp_out[0].invariance)} of its norm and the CNN's by "
                        f"{relative_error(cnn_out[0].invariance)} (relative distance ||f(shifted x) - f(x)|| / "
                        "||f(x)||).")
    if conv:
        e = conv[0].interior
        match = ("exactly" if e == 0 else f"up to rounding ({relative_error(e)})" if e < ROUNDING else
                 f"only up to a relative error of {relative_error(e)}")
        explanation += (f" The CNN's convolution {conv[0].layer} moves its feature maps along with the input: "
                        f"inside the map, its output for the shifted image is its shifted output for the original "
                        f"{match}" + (", so what it detects does not change, only where." if e < SAME_FEATURES
                                      else "."))
    parts.append(explanation)
    return parts


def mlp_remedy(result: EquivarianceResult) -> list[str]:
    """Question 2: how to make the MLP robust to shifts -- the augmented MLP's numbers, and other remedies."""
    acc, s = result.accuracy, result.settings
    parts = ["Show it shifted digits while training (data augmentation), so that its weights cover every "
             "position a digit can take."]
    if "mlp_augmented" in acc and "mlp" in acc:
        aug, mlp = acc["mlp_augmented"], acc["mlp"]
        gain = aug["shifted"] - mlp["shifted"]
        verdict = (f"recovering {points(gain)}" if gain > SAME_ACCURACY else
                   "no real gain here" if gain > -SAME_ACCURACY else f"{points(-gain)} worse here")
        parts.append(f"Measured: an MLP trained on random shifts of up to ±{s.augment_shift} px reaches "
                     f"{percent(aug['shifted'])} on the shifted set against {percent(mlp['shifted'])} without "
                     f"augmentation ({verdict}), and {percent(aug['original'])} on the unshifted set (plain MLP "
                     f"{percent(mlp['original'])}).")
        c_aug, c_mlp = result.curve("mlp_augmented", "diagonal"), result.curve("mlp", "diagonal")
        inside = [v for v in c_aug.shifts if 0 < v <= s.augment_shift]
        beyond = [v for v in c_aug.shifts if v > s.augment_shift]
        if inside:
            m = inside[-1]
            parts.append(f"Along the diagonal, within the ±{s.augment_shift} px seen in training, at {m} px: "
                         f"{percent(c_aug.at(m))} (plain MLP {percent(c_mlp.at(m))}).")
        if beyond:
            top = beyond[-1]
            parts.append(f"Beyond it, at {top} px: {percent(c_aug.at(top))} (plain MLP {percent(c_mlp.at(top))}); "
                         "augmentation teaches the shifts it shows, no more.")
    parts.append("Other remedies: centre every digit before classifying it (by its centre of mass, as MNIST was "
                 "prepared), or give the model shift-tolerant structure: convolutions followed by pooling, or a "
                 "global pooling before the classifier.")
    return parts


def cnn_gap(result: EquivarianceResult) -> list[str]:
    """Question 3: why the CNN still loses accuracy -- the fully connected head, strides, borders, data."""
    if "cnn" not in result.layers:
        return ["Not measured (no CNN)."]
    acc, s = result.accuracy, result.settings
    dx, dy = s.shift
    parts = ["Equivariance holds for the convolutions, not for the whole network, and even for the convolutions "
             "only in the interior and for shifts the strides can follow."]
    out_layer = _find(result, "cnn", s.shift, lambda m: m.is_output)
    if out_layer:
        no_pool = not any(m.kind == "pool" for m in result.layers["cnn"])
        text = (f"The last layer is fully connected: it weighs every feature by its position, so features that "
                f"moved meet other weights. At the logits ({out_layer[0].layer}) the {dx},{dy} px shift changes "
                f"the output by {relative_error(out_layer[0].invariance)} of its norm"
                + ("; the network has no pooling that could absorb small shifts." if no_pool else "."))
        # Evidence: a probe shift that every map follows exactly, and the accuracy at that shift.
        for p in s.probe_shifts:
            maps = _find(result, "cnn", p, lambda m: m.spatial)
            if (p == tuple(s.shift) or p[0] != p[1] or "cnn" not in acc or not maps
                    or p[0] not in result.curve("cnn", "diagonal").shifts
                    or not all(m.whole and m.interior < ROUNDING for m in maps)):
                continue
            c = result.curve("cnn", "diagonal")
            at_p, at_0 = c.at(p[0]), c.at(0)
            text += (f" At {p[0]},{p[1]} px every map is an exact shifted copy in the interior, yet the CNN's "
                     f"accuracy is {percent(at_p)} (unshifted {percent(at_0)})"
                     + (": the fully connected layer, not the convolutions, fails to recognise the moved features."
                        if at_p < at_0 - CLEAR_DROP else ": at this shift the classifier copes with the moved "
                                                         "features."))
            break
        parts.append(text)
    spatial = _find(result, "cnn", s.shift, lambda m: m.spatial and m.kind == "conv")
    fractional = [m for m in spatial if not m.whole]
    whole = [m for m in spatial if m.whole]
    if fractional:
        m = fractional[0]
        assert m.stride is not None and m.expected_shift is not None
        text = (f"Strides: {m.layer} has a cumulative stride of {m.stride[0]}, so a {dx} px shift would be "
                f"{m.expected_shift[0]:g} px on its map, which has no whole-pixel equivalent: even the closest "
                f"whole shift leaves an interior error of {relative_error(m.interior)}")
        if whole:
            w0 = whole[0]
            how = ("exactly" if w0.interior == 0 else "exactly up to rounding" if w0.interior < ROUNDING else
                   "only approximately")
            text += (f", while {w0.layer} (stride {w0.stride[0] if w0.stride else 1}) follows the shift {how} "
                     f"(interior error {relative_error(w0.interior)})")
        for p in (p for p in s.probe_shifts if p != tuple(s.shift)):
            same = [q for q in _find(result, "cnn", p, lambda q: True) if q.layer == m.layer]
            if same and same[0].whole:
                text += (f"; with a {p[0]},{p[1]} px shift, a multiple of the stride, {m.layer}'s interior error "
                         f"drops to {relative_error(same[0].interior)}")
                break
        parts.append(text + ".")
    elif whole:
        parts.append(f"Strides: the {dx},{dy} px shift is a whole number of pixels on every map "
                     f"(e.g. {whole[-1].layer}: {relative_error(whole[-1].interior)} in the interior), so the "
                     "strides are not the cause here.")
    border = [m for m in result.layers["cnn"] if m.kind == "conv" and m.whole and not math.isnan(m.interior)]
    if border:
        listing = "; ".join(f"{m.layer} at {m.shift[0]},{m.shift[1]} px: {relative_error(m.full)} on the full map, "
                            f"{relative_error(m.interior)} in the interior" for m in border)
        if max(m.full - m.interior for m in border) > BORDER_EFFECT:
            parts.append(f"Borders: near the edges the maps are not shifted copies even for whole shifts "
                         f"({listing}); this part comes from the zero padding (which need not equal the layer's "
                         "response to empty background) and from content pushed off the image.")
        else:
            parts.append(f"Borders matter little here ({listing}): the digits sit in an empty margin, so "
                         "padding and the vacated pixels see only background.")
    if "cnn" in acc:
        c = result.curve("cnn", "diagonal")
        top = c.shifts[-1]
        parts.append(f"Data: MNIST digits are centred, so the classifier never saw a moved digit during "
                     f"training; at {top} px diagonally the CNN's accuracy {moves(c.at(0), c.at(top))} from "
                     f"{percent(c.at(0))}.")
    return parts


def answers(result: EquivarianceResult) -> list[tuple[str, list[str]]]:
    """The assignment's three questions, each answered in short points with the measured numbers of ``result``."""
    return list(zip(QUESTIONS, (observation(result), mlp_remedy(result), cnn_gap(result)), strict=True))
