"""The "objective statement" assignment 000 asks for, generated from the numbers: the strongest per-class selectivity
claim the data support, with its effect size, interval, test and the ablation result -- or, when no channel's
preference survives the test, a statement that none does.

A claim is *supported* when its split-half test (:class:`~.channels.PreferenceTest`) is significant after Holm's
correction; among the supported ones the strongest is the one with the largest selectivity index on the
confirmation half (ties: larger Cohen's d).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cnnlab.experiments.evidence.ablation import ChannelAblation
from cnnlab.experiments.evidence.channels import LayerChannels, PreferenceTest
from cnnlab.formatting import p_value, points


@dataclass(frozen=True)
class Claim:
    """The strongest supported claim: its test, and the ablation of the same channel when it was run."""

    test: PreferenceTest
    ablation: ChannelAblation | None


def strongest_claim(layers: Sequence[LayerChannels], ablations: Sequence[ChannelAblation],
                    alpha: float) -> Claim | None:
    """The supported claim with the largest selectivity index, or None when no test is significant at ``alpha``."""
    supported = [t for layer in layers for t in layer.tests if t.runner_up is not None and t.significant(alpha)]
    if not supported:
        return None
    best = max(supported, key=lambda t: (t.selectivity, t.cohen_d))
    ablation = next((a for a in ablations if a.layer == best.layer and a.channel == best.channel), None)
    return Claim(best, ablation)


def _number(value: float) -> str:
    return f"{value:.3g}"


def statement(claim: Claim | None, layers: Sequence[LayerChannels], ablations: Sequence[ChannelAblation],
              class_names: Sequence[str], alpha: float, confidence: float = 0.95) -> str:
    """The claim in words, every number taken from ``claim`` and the tests (see the module docstring)."""
    tests = [t for layer in layers for t in layer.tests]
    n_tests = len(tests)
    level = f"{confidence:.0%}"
    if claim is None:
        smallest = min((t.p_holm for t in tests), default=float("nan"))
        return (f"No channel supports a selectivity claim: for none of the {n_tests} conv channels does the class "
                "it prefers on the exploration half of the test set respond more than every other class on the "
                f"confirmation half at alpha = {alpha:g} after Holm's correction (smallest adjusted p = "
                f"{p_value(smallest)}). What the feature maps seem to show about single channels remains a "
                "hypothesis.")
    t = claim.test
    chosen, runner = class_names[t.chosen], class_names[t.runner_up] if t.runner_up is not None else "?"
    text = (f"Strongest supported claim: {t.layer} channel {t.channel} responds most to '{chosen}'. On the "
            f"{t.n_confirm} test images held out for confirmation (the class was picked on the other "
            f"{t.n_explore}), its mean response to '{chosen}' is {_number(t.mean_chosen)}, against "
            f"{_number(t.mean_rest)} for the other classes on average and {_number(t.mean_runner_up)} for the "
            f"closest one, '{runner}' (selectivity index {t.selectivity:.2f}, {level} bootstrap interval "
            f"{t.selectivity_low:.2f} to {t.selectivity_high:.2f}; Cohen's d against '{runner}' {t.cohen_d:.2f}; "
            f"one-sided Welch t = {t.t:.1f}, p = {p_value(t.p)}, {p_value(t.p_holm)} after Holm's correction over "
            f"{n_tests} channels).")
    a = claim.ablation
    if a is None:
        return text + " The channel was not ablated (ablation is switched off)."
    change = a.per_class[t.chosen]
    n_ablation_tests = sum(len(x.per_class) for x in ablations)
    verdict = (f"significant after Holm's correction over {n_ablation_tests} channel-class tests"
               if change.p_holm <= alpha else
               f"not significant after Holm's correction over {n_ablation_tests} channel-class tests "
               f"(adjusted p = {p_value(change.p_holm)})")
    text += (f" Zeroing the channel changes the accuracy on '{chosen}' by {points(change.change)} ({level} interval "
             f"{100 * change.low:.1f} to {points(change.high)}; {change.lost} images lost, {change.gained} gained; "
             f"McNemar exact p = {p_value(change.p)}, {verdict}) and the overall accuracy by "
             f"{points(a.overall.change)}.")
    others = [k for k in a.flagged(alpha) if k != t.chosen]
    if change.p_holm > alpha:
        text += (f" So the channel is selective for '{chosen}', but the network does not measurably depend on it "
                 f"to recognise '{chosen}'.")
    elif others:
        text += (" The ablation also changes " + ", ".join(f"'{class_names[k]}' ({points(a.per_class[k].change)})"
                                                           for k in others) + " significantly.")
    else:
        text += f" No other class's accuracy changes significantly: the channel's role is specific to '{chosen}'."
    return text
