"""Evaluation views of a classifier on a test set: the confusion matrix, per-class accuracy with Wilson intervals,
the most frequent confusions and the most confidently misclassified images. Pure functions of logits and labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnlab.experiments.evidence.stats import wilson_interval


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(N, K)`` logits, in float64 (shifted by the row maximum, so never overflowing)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """``(K, K)`` counts: row = true class, column = predicted class."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.shape != predictions.shape or labels.ndim != 1:
        raise ValueError(f"labels and predictions must be equal-length vectors, got {labels.shape} and "
                         f"{predictions.shape}")
    for name, values in (("labels", labels), ("predictions", predictions)):
        if len(values) and (values.min() < 0 or values.max() >= n_classes):
            raise ValueError(f"{name} must lie in 0..{n_classes - 1}, got {values.min()}..{values.max()}")
    return np.bincount(labels * n_classes + predictions, minlength=n_classes * n_classes).reshape(n_classes,
                                                                                                  n_classes)


@dataclass(frozen=True)
class Proportion:
    """``correct`` of ``n`` with its Wilson interval ``[low, high]`` (``value`` = correct / n, NaN for n = 0)."""

    correct: int
    n: int
    low: float
    high: float

    @property
    def value(self) -> float:
        return self.correct / self.n if self.n else float("nan")

    @classmethod
    def of(cls, correct: int, n: int, confidence: float = 0.95) -> Proportion:
        low, high = wilson_interval(correct, n, confidence)
        return cls(int(correct), int(n), low, high)

    def to_dict(self) -> dict[str, Any]:
        return {"correct": self.correct, "n": self.n, "value": self.value, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class Confusion:
    """Images of class ``true`` predicted as ``predicted``: ``share`` of the class, with its Wilson interval."""

    true: int
    predicted: int
    share: Proportion


@dataclass(frozen=True)
class Mistake:
    """A misclassified test image: its index, true and predicted class and their probabilities."""

    index: int
    true: int
    predicted: int
    p_predicted: float
    p_true: float


@dataclass
class Evaluation:
    """A classifier on a test set: ``confusion`` ``(K, K)`` (rows true), ``per_class`` accuracy (recall) with Wilson
    intervals, ``overall`` accuracy, the largest off-diagonal ``confusions`` and the most confident ``mistakes``."""

    class_names: list[str]
    confusion: np.ndarray
    per_class: list[Proportion]
    overall: Proportion
    confusions: list[Confusion]
    mistakes: list[Mistake]
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "confidence": self.confidence,
            "overall": self.overall.to_dict(),
            "per_class": {name: p.to_dict() for name, p in zip(self.class_names, self.per_class, strict=True)},
            "confusion": self.confusion.tolist(),
            "confusions": [{"true": self.class_names[c.true], "predicted": self.class_names[c.predicted],
                            **c.share.to_dict()} for c in self.confusions],
            "mistakes": [{"index": m.index, "true": self.class_names[m.true],
                          "predicted": self.class_names[m.predicted], "p_predicted": m.p_predicted,
                          "p_true": m.p_true} for m in self.mistakes],
        }


def evaluate_predictions(logits: np.ndarray, labels: np.ndarray, class_names: Sequence[str], *,
                         n_mistakes: int = 12, n_confusions: int = 5, confidence: float = 0.95) -> Evaluation:
    """The evaluation views of ``logits`` ``(N, K)`` against ``labels`` ``(N,)``.

    ``mistakes``: the ``n_mistakes`` wrong predictions with the highest predicted probability (ties: lower index
    first); ``confusions``: the ``n_confusions`` largest off-diagonal cells as shares of their true class.
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels, dtype=np.int64)
    k = len(class_names)
    if logits.ndim != 2 or logits.shape != (len(labels), k):
        raise ValueError(f"logits must be (N, {k}) for {len(labels)} labels and {k} classes, got {logits.shape}")
    probs = softmax(logits)
    predictions = probs.argmax(axis=1)
    matrix = confusion_matrix(labels, predictions, k)
    per_class = [Proportion.of(int(matrix[c, c]), int(matrix[c].sum()), confidence) for c in range(k)]
    overall = Proportion.of(int(np.trace(matrix)), int(matrix.sum()), confidence)
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    cells = [(int(off[t, p]), t, p) for t in range(k) for p in range(k) if off[t, p] > 0]
    cells.sort(key=lambda cell: (-cell[0], cell[1], cell[2]))
    confusions = [Confusion(t, p, Proportion.of(count, int(matrix[t].sum()), confidence))
                  for count, t, p in cells[:n_confusions]]
    wrong = np.flatnonzero(predictions != labels)
    p_pred = probs[np.arange(len(labels)), predictions]
    order = wrong[np.lexsort((wrong, -p_pred[wrong]))][:n_mistakes]
    mistakes = [Mistake(int(i), int(labels[i]), int(predictions[i]), float(p_pred[i]), float(probs[i, labels[i]]))
                for i in order]
    return Evaluation(list(class_names), matrix, per_class, overall, confusions, mistakes, confidence)
