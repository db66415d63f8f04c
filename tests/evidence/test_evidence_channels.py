"""Known answers on the hand-built pattern detector (``evidencenets``): the streaming pass, top-k, receptive-field
boxes, selectivity, the split-half test, ablation and the generated claim, in both engines."""

from __future__ import annotations

import numpy as np
import pytest
from evidencenets import CLASSES, DETECTORS, detector_images

from cnnlab.experiments.evidence import (
    ablation_tests,
    channel_evidence,
    paired_change,
    receptive_box,
    scan,
    split_halves,
    statement,
    strongest_claim,
    top_indices,
)
from cnnlab.experiments.evidence.walk import LayerWalk
from cnnlab.models import build_model
from cnnlab.models.introspect import AxisGeometry, receptive_fields

PER_CLASS = 30


@pytest.fixture(scope="module")
def images():
    return detector_images(PER_CLASS)


def evidence(engine, images, *, top_k=PER_CLASS, batch_size=7):
    x, labels, _ = images
    model = DETECTORS[engine]()
    passed = scan(model, x, labels, batch_size=batch_size)
    layers = channel_evidence(passed.responses, passed.positions, passed.map_shapes, receptive_fields(model, (12, 12)),
                              labels, 3, (12, 12), top_k=top_k, n_boot=300, seed=0)
    ablations = ablation_tests(passed.logits.argmax(axis=1) == labels, passed.ablated_correct, labels, 3)
    return passed, layers, ablations


@pytest.mark.parametrize("engine", sorted(DETECTORS))
def test_the_scan_sees_the_detector(engine, images):
    x, labels, _ = images
    passed, _, _ = evidence(engine, images)
    assert passed.logits.shape == (len(x), 3) and (passed.logits.argmax(axis=1) == labels).all()
    assert [u.name for u in passed.units] == ["conv1"] and passed.map_shapes == {"conv1": (10, 10)}
    r = passed.responses["conv1"]
    cross = labels == 0
    assert (r[cross, 0] > 2.5).all() and (r[~cross, 0] == 0).all()  # channel 0 fires on the cross only
    np.testing.assert_allclose(r[labels == 1, 1], 1.0, rtol=1e-6)  # the mean of a full square of 1
    np.testing.assert_allclose(passed.input_mean, [x.mean()], rtol=1e-5)
    # Zeroing channel 0 loses every cross and nothing else; zeroing channel 1 loses every bright square.
    ablated = passed.ablated_correct["conv1"]
    np.testing.assert_array_equal(ablated[:, 0], ~cross)
    np.testing.assert_array_equal(ablated[:, 1], labels != 1)


def test_both_engines_and_any_batch_size_give_the_same_scan(images):
    a, _, _ = evidence("torch", images, batch_size=90)
    b, _, _ = evidence("numpy", images, batch_size=4)
    np.testing.assert_allclose(a.logits, b.logits, atol=1e-5)
    np.testing.assert_allclose(a.responses["conv1"], b.responses["conv1"], atol=1e-5)
    np.testing.assert_array_equal(a.positions["conv1"], b.positions["conv1"])
    np.testing.assert_array_equal(a.ablated_correct["conv1"], b.ablated_correct["conv1"])


@pytest.mark.parametrize("engine", sorted(DETECTORS))
def test_top_k_finds_exactly_the_pattern_images_and_where_the_pattern_is(engine, images):
    _, labels, corners = images
    _, layers, _ = evidence(engine, images)
    detector = layers[0].profiles[0]
    assert {t.index for t in detector.top} == set(np.flatnonzero(labels == 0))
    values = [t.value for t in detector.top]
    assert values == sorted(values, reverse=True)
    for top in detector.top:  # the receptive field of the maximum is the cross itself (3x3, stride 1, no padding)
        y, x = corners[top.index]
        assert top.box == (y, y + 3, x, x + 3) and top.label == 0
    assert layers[0].receptive_field == 3


@pytest.mark.parametrize("engine", sorted(DETECTORS))
def test_selectivity_and_the_split_half_test(engine, images):
    _, layers, _ = evidence(engine, images)
    detector, brightness = layers[0].profiles
    assert detector.preferred == 0 and not detector.dead
    assert detector.selectivity == pytest.approx(1.0)  # responds to crosses only
    assert detector.selectivity_low == pytest.approx(1.0) and detector.selectivity_high == pytest.approx(1.0)
    np.testing.assert_allclose(detector.means[1:], 0.0)
    assert detector.low[0] < detector.means[0] < detector.high[0]
    assert brightness.preferred == 1 and 0 < brightness.selectivity < 1
    test = layers[0].tests[0]
    assert test.chosen == 0 and test.significant(0.05) and test.p < 1e-6  # crosses vs exact zeros
    assert test.mean_runner_up == 0.0 and test.selectivity == pytest.approx(1.0)
    assert test.n_explore + test.n_confirm == 3 * PER_CLASS
    assert layers[0].tests[1].chosen == 1 and layers[0].tests[1].significant(0.05)


@pytest.mark.parametrize("engine", sorted(DETECTORS))
def test_ablation_hurts_only_the_class_of_the_pattern(engine, images):
    _, _, ablations = evidence(engine, images)
    detector, brightness = ablations
    assert detector.flagged(0.05) == [0] and brightness.flagged(0.05) == [1]
    lost = detector.per_class[0]
    assert lost.change == -1.0 and lost.lost == PER_CLASS and lost.gained == 0
    assert lost.p == pytest.approx(2 / 2 ** PER_CLASS)  # McNemar exact: all 30 discordant pairs one way
    assert lost.p_holm == pytest.approx(6 * lost.p)  # the smallest of 2 channels x 3 classes
    assert detector.per_class[1].change == 0 and detector.per_class[1].p == 1.0
    assert detector.overall.change == pytest.approx(-1 / 3)


def test_the_claim_names_the_detector_with_its_numbers(images):
    _, layers, ablations = evidence("numpy", images)
    claim = strongest_claim(layers, ablations, 0.05)
    assert claim is not None and (claim.test.layer, claim.test.channel, claim.test.chosen) == ("conv1", 0, 0)
    text = statement(claim, layers, ablations, CLASSES, 0.05)
    t = claim.test
    assert text.startswith("Strongest supported claim: conv1 channel 0 responds most to 'cross'.")
    assert f"{t.n_confirm} test images held out" in text and "selectivity index 1.00" in text
    assert "by -100.0 points" in text and f"{PER_CLASS} images lost, 0 gained" in text
    assert "significant after Holm's correction over 6 channel-class tests" in text
    assert "No other class's accuracy changes significantly" in text


def test_without_ablation_the_claim_says_so(images):
    _, layers, _ = evidence("torch", images)
    claim = strongest_claim(layers, [], 0.05)
    assert claim is not None and claim.ablation is None
    assert "not ablated" in statement(claim, layers, [], CLASSES, 0.05)


def test_nothing_significant_is_said_plainly():
    """A channel that responds alike to every class: no claim, and the statement says so."""
    rng = np.random.default_rng(0)
    labels = np.arange(120) % 3
    responses = {"conv1": rng.uniform(1, 2, size=(120, 2))}
    positions = {"conv1": np.zeros((120, 2), dtype=np.int64)}
    geometry = {"conv1": (AxisGeometry(0, 1, 3, 12), AxisGeometry(0, 1, 3, 12))}
    layers = channel_evidence(responses, positions, {"conv1": (10, 10)}, geometry, labels, 3, (12, 12), n_boot=200)
    assert strongest_claim(layers, [], 0.05) is None
    text = statement(None, layers, [], CLASSES, 0.05)
    assert text.startswith("No channel supports a selectivity claim") and "2 conv channels" in text
    assert "remains a hypothesis" in text


def test_a_dead_channel_is_never_claimed():
    labels = np.arange(60) % 3
    responses = {"conv1": np.zeros((60, 1))}
    layers = channel_evidence(responses, {"conv1": np.zeros((60, 1), np.int64)}, {"conv1": (2, 2)}, {"conv1": None},
                              labels, 3, (4, 4), n_boot=100)
    profile, test = layers[0].profiles[0], layers[0].tests[0]
    assert profile.dead and profile.selectivity == 0 and test.p == 1.0
    assert profile.top[0].box == (0, 4, 0, 4)  # unknown geometry: the whole image


def test_helpers():
    np.testing.assert_array_equal(top_indices(np.array([[1.0, 5.0], [3.0, 5.0], [2.0, 0.0]]), 2), [[1, 2], [0, 1]])
    geometry = (AxisGeometry(-1, 2, 4, 28), AxisGeometry(-1, 2, 4, 28))  # conv k4 s2 p1
    assert receptive_box(geometry, 14 * 3 + 5, 14) == (5, 9, 9, 13)
    explore, confirm = split_halves(11, 0)
    assert len(explore) == 5 and sorted([*explore, *confirm]) == list(range(11))
    np.testing.assert_array_equal(split_halves(11, 0)[0], explore)
    change = paired_change(np.array([True, True, False, False]), np.array([True, False, True, True]))
    assert (change.lost, change.gained, change.change) == (1, 2, 0.25)


@pytest.mark.parametrize(("architecture", "engine"), [("lenet", "torch"), ("lenet", "numpy"), ("mnist-cnn", "numpy")])
def test_zeroing_after_relu_and_pooling_is_zeroing_the_conv_output(architecture, engine):
    """The scan zeroes a channel after the channel-wise layers that follow its conv; the predictions must be those of
    zeroing the conv's own output and running every later layer."""
    model = build_model(architecture, engine, seed=1)
    shape = (6, 3, 32, 32) if architecture == "lenet" else (6, 1, 28, 28)
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    walk = LayerWalk(model)
    assert [u.ablation_index for u in walk.units] == ([2, 5] if architecture == "lenet" else [1, 3])
    for unit in walk.units:
        for channel in (0, unit.channels - 1):
            with walk.evaluating():
                outputs = walk.all_outputs(walk.inputs(x))
                direct = walk.run(walk.without_channel(outputs[unit.index], channel), unit.index + 1)
            predicted = walk.numpy(direct).argmax(axis=1)
            passed = scan(model, x, predicted, batch_size=4)
            assert passed.ablated_correct[unit.name][:, channel].all(), (unit.name, channel)
