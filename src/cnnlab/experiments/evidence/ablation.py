"""The causal test of a channel: zero it (everywhere, for every image) and compare each test image's prediction
with the intact network's -- paired outcomes, so the change of a class's accuracy gets McNemar's exact test and
Newcombe's paired interval. Holm's method adjusts the p-values across every (channel, class) pair of the network;
a channel is *flagged* for a class when its adjusted p-value is at most alpha.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnlab.experiments.evidence.stats import holm, mcnemar_exact, newcombe_paired_interval


@dataclass(frozen=True)
class PairedChange:
    """Accuracy with the channel zeroed minus intact accuracy on ``n`` images: ``change`` with its interval,
    ``lost`` (right before, wrong after), ``gained`` (wrong before, right after), McNemar's ``p`` and ``p_holm``."""

    n: int
    change: float
    low: float
    high: float
    lost: int
    gained: int
    p: float
    p_holm: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "change": self.change, "low": self.low, "high": self.high, "lost": self.lost,
                "gained": self.gained, "p": self.p, "p_holm": self.p_holm}


def paired_change(intact: np.ndarray, ablated: np.ndarray, confidence: float = 0.95) -> PairedChange:
    """The paired comparison of two boolean right/wrong vectors over the same images (``ablated`` - ``intact``)."""
    intact, ablated = np.asarray(intact, dtype=bool), np.asarray(ablated, dtype=bool)
    lost = int((intact & ~ablated).sum())
    gained = int((~intact & ablated).sum())
    both = int((intact & ablated).sum())
    neither = len(intact) - lost - gained - both
    change, low, high = newcombe_paired_interval(both, gained, lost, neither, confidence)
    return PairedChange(len(intact), change, low, high, lost, gained, mcnemar_exact(lost, gained))


@dataclass
class ChannelAblation:
    """One channel zeroed: the change of every class's accuracy (``per_class``, Holm-adjusted across the network)
    and of the overall accuracy (``overall``, unadjusted: a summary, not a flag)."""

    layer: str
    channel: int
    per_class: list[PairedChange]
    overall: PairedChange

    def flagged(self, alpha: float) -> list[int]:
        """Classes whose accuracy the ablation changes significantly (Holm-adjusted p <= ``alpha``)."""
        return [k for k, change in enumerate(self.per_class) if change.p_holm <= alpha]

    def to_dict(self, class_names: Sequence[str], alpha: float) -> dict[str, Any]:
        return {"layer": self.layer, "channel": self.channel, "overall": self.overall.to_dict(),
                "per_class": {name: change.to_dict() for name, change in zip(class_names, self.per_class,
                                                                              strict=True)},
                "flagged": [class_names[k] for k in self.flagged(alpha)]}


def ablation_tests(intact_correct: np.ndarray, ablated_correct: dict[str, np.ndarray], labels: np.ndarray,
                   n_classes: int, confidence: float = 0.95) -> list[ChannelAblation]:
    """Per layer and channel (``ablated_correct[layer]`` ``(N, C)``) the paired changes against
    ``intact_correct`` ``(N,)``, per class and overall; per-class p-values Holm-adjusted across all of them."""
    labels = np.asarray(labels, dtype=np.int64)
    intact_correct = np.asarray(intact_correct, dtype=bool)
    results: list[ChannelAblation] = []
    for layer, correct in ablated_correct.items():
        for channel in range(correct.shape[1]):
            per_class = [paired_change(intact_correct[labels == k], correct[labels == k, channel], confidence)
                         for k in range(n_classes)]
            results.append(ChannelAblation(layer, channel, per_class,
                                           paired_change(intact_correct, correct[:, channel], confidence)))
    if results:
        adjusted = holm(np.array([[c.p for c in r.per_class] for r in results]))
        for result, row in zip(results, adjusted, strict=True):
            result.per_class = [PairedChange(c.n, c.change, c.low, c.high, c.lost, c.gained, c.p, float(q))
                                for c, q in zip(result.per_class, row, strict=True)]
    return results
