"""What drives each conv channel, from the responses of a :func:`~.scan.scan` (one value per image and channel: the
spatial maximum of its response map):

- the top-k test images of every channel and the receptive-field patch around the position of the maximum;
- per-class mean response with class-stratified bootstrap intervals, and the selectivity index with its interval;
- a split-half test of "this channel responds most to class X": X is picked on one half of the test set (the
  exploration half) and tested on the other (the confirmation half), so the choice cannot flatter the test.
  "Most" means more than *every* other class: an intersection-union test whose p-value is the largest of the
  one-sided Welch tests of X against each other class. Holm's method then adjusts across all channels tested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnlab.experiments.evidence.stats import (
    bootstrap_class_means,
    cohens_d,
    holm,
    percentile_interval,
    selectivity_index,
    welch_greater,
)
from cnnlab.models.introspect import MapGeometry


@dataclass(frozen=True)
class TopImage:
    """One of a channel's top test images: its index, label, response, and the receptive field of the maximum as a
    half-open pixel box ``(y0, y1, x0, x1)`` (it may reach into the padding, outside ``0 .. H``)."""

    index: int
    label: int
    value: float
    box: tuple[int, int, int, int]


@dataclass
class ChannelProfile:
    """One channel on the whole test set: per-class mean response ``means`` ``(K,)`` with bootstrap interval
    ``low``/``high``, the selectivity index with its interval, the class with the largest mean, whether it never
    responds (``dead``: every response <= 0), and its top images."""

    layer: str
    channel: int
    means: np.ndarray
    low: np.ndarray
    high: np.ndarray
    selectivity: float
    selectivity_low: float
    selectivity_high: float
    preferred: int
    dead: bool
    top: list[TopImage]

    def to_dict(self, class_names: Sequence[str]) -> dict[str, Any]:
        return {"layer": self.layer, "channel": self.channel, "preferred": class_names[self.preferred],
                "dead": self.dead, "selectivity": self.selectivity,
                "selectivity_interval": [self.selectivity_low, self.selectivity_high],
                "class_means": {name: {"mean": float(m), "low": float(lo), "high": float(hi)}
                                for name, m, lo, hi in zip(class_names, self.means, self.low, self.high, strict=True)},
                "top": [{"index": t.index, "label": class_names[t.label], "value": t.value, "box": list(t.box)}
                        for t in self.top]}


@dataclass
class PreferenceTest:
    """The split-half test of "``channel`` responds most to class ``chosen``".

    ``chosen``: the class with the largest mean on the exploration half; on the confirmation half: ``runner_up``
    (the other class it is hardest to beat, i.e. with the largest Welch p-value), ``t``/``df``/``p`` of the one-sided
    Welch test against it (``p`` is the intersection-union p-value), ``p_holm`` adjusted across every channel of the
    network, Cohen's ``d`` against the runner-up, the means, and the selectivity index with its bootstrap interval.
    """

    layer: str
    channel: int
    chosen: int
    runner_up: int | None
    mean_chosen: float
    mean_runner_up: float
    mean_rest: float
    t: float
    df: float
    p: float
    p_holm: float
    cohen_d: float
    selectivity: float
    selectivity_low: float
    selectivity_high: float
    n_explore: int
    n_confirm: int

    def significant(self, alpha: float) -> bool:
        return self.p_holm <= alpha

    def to_dict(self, class_names: Sequence[str]) -> dict[str, Any]:
        return {"layer": self.layer, "channel": self.channel, "chosen": class_names[self.chosen],
                "runner_up": None if self.runner_up is None else class_names[self.runner_up],
                "mean_chosen": self.mean_chosen, "mean_runner_up": self.mean_runner_up, "mean_rest": self.mean_rest,
                "t": self.t, "df": self.df, "p": self.p, "p_holm": self.p_holm, "cohen_d": self.cohen_d,
                "selectivity": self.selectivity, "selectivity_interval": [self.selectivity_low, self.selectivity_high],
                "n_explore": self.n_explore, "n_confirm": self.n_confirm}


@dataclass
class LayerChannels:
    """Every channel of one conv layer: its response map size, receptive field, profiles and tests."""

    name: str
    map_shape: tuple[int, int]
    receptive_field: int | None
    profiles: list[ChannelProfile]
    tests: list[PreferenceTest]

    def to_dict(self, class_names: Sequence[str]) -> dict[str, Any]:
        return {"name": self.name, "map_shape": list(self.map_shape), "receptive_field": self.receptive_field,
                "channels": [p.to_dict(class_names) for p in self.profiles],
                "tests": [t.to_dict(class_names) for t in self.tests]}


def top_indices(responses: np.ndarray, k: int) -> np.ndarray:
    """Per column of ``responses`` ``(N, C)``: the indices of the ``k`` largest values, largest first (ties: lower
    index first), as ``(C, min(k, N))``."""
    n, c = responses.shape
    order = np.lexsort((np.broadcast_to(np.arange(n)[:, None], (n, c)), -responses), axis=0)
    return order[:min(k, n)].T


def receptive_box(geometry: MapGeometry, position: int, map_width: int) -> tuple[int, int, int, int]:
    """The input pixels that map position ``position`` (flat, ``y * W + x``) sees: ``(y0, y1, x0, x1)``
    half-open."""
    gy, gx = geometry
    i, j = divmod(int(position), map_width)
    y0, x0 = gy.offset + gy.stride * i, gx.offset + gx.stride * j
    return y0, y0 + gy.extent, x0, x0 + gx.extent


def split_halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of ``range(n)`` into an exploration half and a confirmation half (sorted indices)."""
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2:])


def _class_profile_stats(values: np.ndarray, labels: np.ndarray, n_classes: int, n_boot: int, seed: int,
                         confidence: float) -> tuple[np.ndarray, ...]:
    """Per-class means ``(K, C)``, their bootstrap intervals, and the selectivity index ``(C,)`` with its interval."""
    means = np.stack([values[labels == k].mean(axis=0) if (labels == k).any() else np.full(values.shape[1], np.nan)
                      for k in range(n_classes)])
    present = ~np.isnan(means[:, 0])
    replicates = bootstrap_class_means(values, labels, n_classes, n_boot, np.random.default_rng(seed))
    low, high = percentile_interval(replicates, confidence)
    si = selectivity_index(means[present])
    si_low, si_high = percentile_interval(selectivity_index(replicates[:, present]), confidence)
    return means, low, high, si, si_low, si_high


def preference_test(values: np.ndarray, labels: np.ndarray, explore: np.ndarray, confirm: np.ndarray,
                    n_classes: int) -> tuple[int, int | None, float, float, float, float, float, float, float]:
    """For one channel's ``values`` ``(N,)``: ``(chosen, runner_up, mean_chosen, mean_runner_up, mean_rest, t, df, p,
    d)`` of the split-half test (see :class:`PreferenceTest`). Classes with fewer than 2 confirmation images are left
    out of the comparison; p is 1 when the chosen class itself has fewer."""
    ex_values, ex_labels = values[explore], labels[explore]
    ex_means = np.array([ex_values[ex_labels == k].mean() if (ex_labels == k).any() else -np.inf
                         for k in range(n_classes)])
    chosen = int(np.argmax(ex_means))
    cf_values, cf_labels = values[confirm], labels[confirm]
    groups = {k: cf_values[cf_labels == k] for k in range(n_classes) if (cf_labels == k).sum() >= 2}
    mine = groups.pop(chosen, None)
    if mine is None or not groups:
        return chosen, None, float("nan"), float("nan"), float("nan"), 0.0, float("nan"), 1.0, 0.0
    tests = {k: welch_greater(mine, other) for k, other in groups.items()}
    runner_up = max(tests, key=lambda k: (tests[k][2], -tests[k][0]))
    t, df, p = tests[runner_up]
    rest = float(np.mean([g.mean() for g in groups.values()]))
    return (chosen, runner_up, float(mine.mean()), float(groups[runner_up].mean()), rest, t, df, p,
            cohens_d(mine, groups[runner_up]))


def channel_evidence(responses: dict[str, np.ndarray], positions: dict[str, np.ndarray],
                     map_shapes: dict[str, tuple[int, int]], geometry: dict[str, MapGeometry | None],
                     labels: np.ndarray, n_classes: int, image_hw: tuple[int, int], *, top_k: int = 8,
                     n_boot: int = 1000, seed: int = 0, confidence: float = 0.95) -> list[LayerChannels]:
    """Profiles (whole test set) and split-half tests of every channel of every conv layer in ``responses``.

    ``responses`` / ``positions`` per layer ``(N, C)`` and ``map_shapes`` from a :class:`~.scan.Scan`;
    ``geometry``: the receptive fields per layer (:func:`cnnlab.models.introspect.receptive_fields`; where unknown,
    a top image's box is the whole ``image_hw``). The
    bootstrap (``n_boot`` resamples) and the split are seeded by ``seed``; p-values are Holm-adjusted across every
    channel of every layer given.
    """
    labels = np.asarray(labels, dtype=np.int64)
    explore, confirm = split_halves(len(labels), seed)
    layers: list[LayerChannels] = []
    whole = (0, image_hw[0], 0, image_hw[1])
    # One bootstrap for the channels of all layers side by side (columns), on all images and on the confirmation half.
    columns = np.concatenate([np.asarray(v, dtype=np.float64) for v in responses.values()], axis=1)
    every = _class_profile_stats(columns, labels, n_classes, n_boot, seed, confidence)
    held_out = _class_profile_stats(columns[confirm], labels[confirm], n_classes, n_boot, seed + 1, confidence)
    first = 0
    for name, layer_values in responses.items():
        values = np.asarray(layer_values, dtype=np.float64)
        own = slice(first, first + values.shape[1])
        first = own.stop
        means, low, high = (a[:, own] for a in every[:3])
        si, si_low, si_high = (a[own] for a in every[3:])
        c_si, c_low, c_high = (a[own] for a in held_out[3:])
        geo = geometry.get(name)
        width = map_shapes[name][1]
        tops = top_indices(values, top_k)
        profiles, tests = [], []
        for c in range(values.shape[1]):
            top = [TopImage(int(i), int(labels[i]), float(values[i, c]),
                            receptive_box(geo, int(positions[name][i, c]), width) if geo is not None else whole)
                   for i in tops[c]]
            dead = bool((values[:, c] <= 0).all())
            profiles.append(ChannelProfile(name, c, means[:, c], low[:, c], high[:, c], float(si[c]),
                                           float(si_low[c]), float(si_high[c]), int(np.nanargmax(means[:, c])),
                                           dead, top))
            chosen, runner, m_x, m_r, m_rest, t, df, p, d = preference_test(values[:, c], labels, explore, confirm,
                                                                             n_classes)
            if dead:
                p = 1.0
            tests.append(PreferenceTest(name, c, chosen, runner, m_x, m_r, m_rest, t, df, p, float("nan"), d,
                                        float(c_si[c]), float(c_low[c]), float(c_high[c]), len(explore),
                                        len(confirm)))
        extent = geo[0].extent if geo is not None else None
        layers.append(LayerChannels(name, map_shapes[name], extent, profiles, tests))
    all_tests = [t for layer in layers for t in layer.tests]
    for test, adjusted in zip(all_tests, holm(np.array([t.p for t in all_tests])), strict=True):
        test.p_holm = float(adjusted)
    return layers
