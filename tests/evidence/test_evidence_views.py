"""Evaluation views against hand-computed values; occlusion on a network that sees one quadrant only; saliency from
the NumPy engine's backward passes equal to torch autograd's, and a linear model's known gradient."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
from evidencenets import DETECTORS, QUADRANTS, detector_images
from torch import nn

from cnnlab import numpy_nn
from cnnlab.experiments.evidence import (
    centre_mask,
    centre_share,
    compare_engines,
    confusion_matrix,
    evaluate_predictions,
    numpy_input_gradient,
    occlusion_maps,
    saliency_maps,
    torch_input_gradient,
    twin,
    where_maps,
)
from cnnlab.experiments.evidence.evaluation import softmax
from cnnlab.experiments.evidence.occlusion import patch_positions
from cnnlab.experiments.evidence.stats import wilson_interval
from cnnlab.models import build_model


def one_hot_logits(predictions, k, confidence=None):
    logits = np.zeros((len(predictions), k), dtype=np.float32)
    logits[np.arange(len(predictions)), predictions] = 1.0 if confidence is None else confidence
    return logits


def test_confusion_matrix_and_per_class_accuracy_by_hand():
    labels = np.array([0, 0, 1, 1, 1, 2])
    predictions = np.array([0, 1, 1, 1, 0, 2])
    np.testing.assert_array_equal(confusion_matrix(labels, predictions, 3), [[1, 1, 0], [1, 2, 0], [0, 0, 1]])
    ev = evaluate_predictions(one_hot_logits(predictions, 3), labels, ["a", "b", "c"])
    assert [(p.correct, p.n) for p in ev.per_class] == [(1, 2), (2, 3), (1, 1)]
    assert (ev.overall.correct, ev.overall.n, ev.overall.value) == (4, 6, 4 / 6)
    assert (ev.per_class[0].low, ev.per_class[0].high) == wilson_interval(1, 2)
    # 1 of 2 with z = 1.96: centre 0.5, half-width z/(1+z²/2) * sqrt(1/8 + z²/16) = 0.4057
    assert ev.per_class[0].low == pytest.approx(0.0945, abs=1e-4) and ev.per_class[0].high == pytest.approx(0.9055,
                                                                                                            abs=1e-4)
    assert [(c.true, c.predicted, c.share.correct, c.share.n) for c in ev.confusions] == [(0, 1, 1, 2), (1, 0, 1, 3)]
    d = ev.to_dict()
    assert d["per_class"]["b"]["correct"] == 2 and d["confusion"] == [[1, 1, 0], [1, 2, 0], [0, 0, 1]]


def test_confident_mistakes_come_first():
    labels = np.array([0, 0, 1, 1])
    logits = np.array([[0.0, 3.0], [0.0, 1.0], [5.0, 0.0], [0.0, 2.0]], dtype=np.float32)
    ev = evaluate_predictions(logits, labels, ["a", "b"], n_mistakes=5)
    assert [m.index for m in ev.mistakes] == [2, 0, 1]
    p = softmax(logits)
    assert ev.mistakes[0].p_predicted == pytest.approx(p[2, 0]) and ev.mistakes[0].p_true == pytest.approx(p[2, 1])
    assert len(evaluate_predictions(logits, labels, ["a", "b"], n_mistakes=1).mistakes) == 1


def test_bad_evaluation_inputs():
    with pytest.raises(ValueError, match=r"logits must be \(N, 3\)"):
        evaluate_predictions(np.zeros((4, 2)), np.zeros(4, np.int64), ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.1"):
        confusion_matrix(np.array([0, 2]), np.array([0, 1]), 2)


def test_softmax_is_stable():
    p = softmax(np.array([[1000.0, 0.0], [0.0, 0.0]]))
    np.testing.assert_allclose(p, [[1.0, 0.0], [0.5, 0.5]])


@pytest.mark.parametrize("engine", sorted(QUADRANTS))
def test_occlusion_is_non_zero_only_where_the_network_looks(engine):
    model = QUADRANTS[engine]()
    x = np.random.default_rng(0).uniform(0.05, 0.2, size=(3, 1, 8, 8)).astype(np.float32)
    maps = occlusion_maps(model, x, np.zeros(3, np.int64), patch=2, stride=2, fill=0.0, batch_size=5)
    assert maps.drop.shape == (3, 4, 4) and maps.ys == [0, 2, 4, 6]
    inside = np.zeros((4, 4), dtype=bool)
    inside[:2, :2] = True  # the patches inside the top-left 4x4 quadrant
    assert (maps.drop[:, inside] > 1e-3).all()  # hiding part of what it sees lowers p(class 0)
    assert np.abs(maps.drop[:, ~inside]).max() < 1e-6  # the rest is invisible to it
    assert (maps.predictions == 0).all() and (maps.base > 0.5).all()


def test_occlusion_with_overlapping_patches_and_the_mean_fill():
    model = QUADRANTS["torch"]()
    x = np.random.default_rng(1).uniform(0.05, 0.2, size=(2, 1, 8, 8)).astype(np.float32)
    maps = occlusion_maps(model, x, np.zeros(2, np.int64), patch=3, stride=1)
    assert maps.drop.shape == (2, 6, 6)
    np.testing.assert_allclose(maps.fill, [x.mean()], rtol=1e-6)
    # A 3x3 patch at (y, x) overlaps the quadrant [0, 4) x [0, 4) iff y <= 3 and x <= 3.
    seen = np.zeros((6, 6), dtype=bool)
    seen[:4, :4] = True
    assert np.abs(maps.drop[:, ~seen]).max() < 1e-6 and (np.abs(maps.drop[:, seen]) > 0).all()
    rows, cols = maps.centres()
    np.testing.assert_allclose(rows, np.arange(6) + 1)
    np.testing.assert_allclose(cols, rows)


def test_patch_positions_and_bad_patches():
    assert patch_positions((28, 28), 6, 2) == (list(range(0, 23, 2)), list(range(0, 23, 2)))
    assert patch_positions((5, 7), 5, 3) == ([0], [0])
    with pytest.raises(ValueError, match="larger than the 5x7 images"):
        patch_positions((5, 7), 6, 1)
    with pytest.raises(ValueError, match="must be positive"):
        patch_positions((5, 7), 0, 1)


def test_centre_share():
    mask = centre_mask((4, 4), np.arange(4) * 2 + 0.5, np.arange(4) * 2 + 0.5, (8, 8))
    assert mask.sum() == 4 and mask[1:3, 1:3].all()
    maps = np.zeros((3, 4, 4))
    maps[0, 1, 1] = 2.0
    maps[1, 0, 0], maps[1, 2, 2] = 1.0, 1.0
    maps[2] = -1.0  # no positive evidence
    shares = centre_share(maps, mask)
    assert shares[0] == 1.0 and shares[1] == 0.5 and np.isnan(shares[2])


def linear_numpy() -> numpy_nn.Sequential:
    model = numpy_nn.Sequential(OrderedDict([("flatten", numpy_nn.Flatten()), ("fc", numpy_nn.Linear(12, 3))]))
    return model


def test_saliency_of_a_linear_model_is_its_weight_row():
    model = linear_numpy()
    x = np.random.default_rng(0).standard_normal((4, 3, 2, 2)).astype(np.float32)
    labels = np.array([0, 2, 1, 2])
    grad, logits = numpy_input_gradient(model, x, labels)
    weight = model.fc.weight.data
    np.testing.assert_allclose(grad, weight[labels].reshape(4, 3, 2, 2), rtol=1e-6)
    np.testing.assert_allclose(saliency_maps(grad), np.abs(weight[labels].reshape(4, 3, 2, 2)).max(axis=1))
    assert logits.shape == (4, 3)
    assert all((p.grad == 0).all() for p in model.parameters())  # parameter gradients cleared again


@pytest.mark.parametrize("architecture", ["mnist-cnn", "lenet"])
def test_numpy_backward_equals_torch_autograd_for_the_same_weights(architecture):
    numpy_model = build_model(architecture, "numpy", seed=3)
    torch_model = twin(numpy_model, architecture)
    assert isinstance(torch_model, nn.Module)
    shape = (5, 1, 28, 28) if architecture == "mnist-cnn" else (5, 3, 32, 32)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    labels = np.array([0, 3, 9, 1, 1])
    grad, agreement = compare_engines(numpy_model, torch_model, x, labels)
    reference, _ = torch_input_gradient(torch_model, x, labels)
    np.testing.assert_allclose(grad, reference, rtol=1e-4, atol=1e-6 * np.abs(reference).max())
    assert agreement.n_images == 5 and agreement.relative < 1e-5 and agreement.max_abs_grad > 0
    assert agreement.max_logit_diff < 1e-4
    # The twin of the twin is a NumPy model with the same weights again.
    again = twin(torch_model, architecture)
    np.testing.assert_allclose(again.state_dict()["conv1.weight"], numpy_model.state_dict()["conv1.weight"])


def test_torch_gradient_is_the_autograd_of_the_true_logit_and_keeps_the_mode():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2)).train()
    x = np.ones((2, 1, 2, 2), dtype=np.float32)
    grad, _ = torch_input_gradient(model, x, np.array([1, 0]))
    w = model[1].weight.detach().numpy()
    np.testing.assert_allclose(grad.reshape(2, 4), w[[1, 0]])
    assert model.training
    with pytest.raises(TypeError, match="numpy_input_gradient"):
        torch_input_gradient(linear_numpy(), x, np.array([1, 0]))
    with pytest.raises(TypeError, match="torch_input_gradient"):
        numpy_input_gradient(model, x, np.array([1, 0]))
    with pytest.raises(ValueError, match="one label per image"):
        numpy_input_gradient(linear_numpy(), np.ones((2, 3, 2, 2), np.float32), np.array([1]))



@pytest.mark.parametrize("engine", sorted(DETECTORS))
def test_where_maps_of_a_network_outside_the_zoo(engine):
    x, labels, corners = detector_images(2)
    model = DETECTORS[engine]()
    where = where_maps(model, None, x, labels, list(range(len(x))), x, patch=3, stride=1, fill=None, n_boot=100,
                       seed=0, confidence=0.95)
    assert where.agreement is None and where.saliency.shape == (6, 12, 12)
    assert where.predictions == [int(v) for v in labels]
    # Hiding the cross of a class-0 image destroys the evidence for it: the largest drop is on the cross.
    for n in np.flatnonzero(labels == 0):
        y, xx = np.unravel_index(where.occlusion.drop[n].argmax(), where.occlusion.drop[n].shape)
        assert abs(y - corners[n][0]) <= 2 and abs(xx - corners[n][1]) <= 2
    assert 0 <= where.occlusion_centre[1] <= where.occlusion_centre[0] <= where.occlusion_centre[2] <= 1
