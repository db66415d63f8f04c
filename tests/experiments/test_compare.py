"""The own-vs-library comparison (seed 000 tasks 2.1, 3.1, 3.2) on tiny synthetic inputs and a random LeNet."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cnnlab.experiments.compare import format_table, layer_differences, run_compare
from cnnlab.models import build_model

FAST = {"warmup": 0, "repeats": 1, "rounds": 1}


@pytest.fixture(scope="module")
def setup() -> tuple[dict, np.ndarray, np.ndarray]:
    """A random LeNet, 30 standard-normal images and labels equal to the network's own predictions."""
    model = build_model("lenet", "torch", seed=3)
    x = np.random.default_rng(0).standard_normal((30, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        predicted = model(torch.from_numpy(x)).argmax(1).numpy()
    return model.state_dict(), x, predicted


def test_layer_differences_vanish_after_copying_the_parameters():
    images = np.random.default_rng(1).random((4, 3, 12, 12), dtype=np.float32)
    linear, conv = layer_differences(images, linear_batch=5)
    assert linear.input_shape == (5, 8) and linear.layer == "Linear(8, 16)"
    assert [c.algorithm for c in conv] == ["im2col", "naive"]
    for d in (linear, *conv):
        assert d.mean_before > 1e-2 and d.max_before >= d.mean_before  # independent initialisations differ
        assert d.max_after < 1e-6 and d.mean_after <= d.max_after
    assert conv[0].input_shape == (4, 3, 12, 12)


def test_run_compare_accuracy_timing_and_json(setup):
    state, x, predicted = setup
    result = run_compare(state, x, predicted, n_first=10, timing_batches=(8, 4), slow_max_batch=4, **FAST)
    library, own_fast, own_naive = result.accuracy
    # labels are the library's predictions: every network that agrees with it is 100% right
    assert (library.network, library.algorithm, library.first_acc, library.full_acc) == ("library", None, 1.0, 1.0)
    assert (own_fast.algorithm, own_fast.first_acc, own_fast.full_acc) == ("im2col", 1.0, 1.0)
    assert own_fast.evaluated == 30 and own_fast.disagreements == 0 and own_fast.max_logit_diff < 1e-5
    # the naive network is evaluated on the first images only by default
    assert own_naive.algorithm == "naive" and own_naive.full_acc is None
    assert (own_naive.first_acc, own_naive.evaluated) == (1.0, 10)
    # naive is timed only at batch sizes up to slow_max_batch
    assert [(t.algorithm, t.batch_size) for t in result.timing] == [("im2col", 8), ("im2col", 4), ("naive", 4)]
    for t in result.timing:
        assert t.library_s > 0 and t.own_s > 0 and t.repeats == 1
        assert t.ratio == pytest.approx(t.own_s / t.library_s)
    assert (result.n_first, result.n_test, result.device) == (10, 30, "cpu")
    data = json.loads(json.dumps(result.to_dict()))
    assert data["timing"][0]["ratio"] == pytest.approx(result.timing[0].ratio)
    table = format_table(result)
    for expected in ("Linear(8, 16)", "Conv2d(3, 8, 5)", "own (naive)", "first 10 / all 30", "own/library"):
        assert expected in table


def test_accuracy_counts_wrong_answers(setup):
    state, x, predicted = setup
    wrong = (predicted + 1) % 10
    wrong[:3] = predicted[:3]  # the first three right: 3/5 of the first five, 3/30 of all
    result = run_compare(state, x, wrong, n_first=5, algorithms=("im2col",), timing_batches=(), **FAST)
    library, own = result.accuracy
    assert library.first_acc == pytest.approx(0.6) and library.full_acc == pytest.approx(0.1)
    assert own.first_acc == pytest.approx(0.6) and own.full_acc == pytest.approx(0.1)
    assert result.timing == [] and [c.algorithm for c in result.conv] == ["im2col"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"algorithms": ("winograd",)}, "unknown conv algorithms"),
    ({"n_first": 0}, "n_first"),
    ({"n_first": 31}, "n_first"),
])
def test_run_compare_rejects_bad_settings(setup, kwargs, message):
    state, x, predicted = setup
    with pytest.raises(ValueError, match=message):
        run_compare(state, x, predicted, **kwargs)


def test_run_compare_rejects_mismatched_test_data(setup):
    state, x, predicted = setup
    with pytest.raises(ValueError, match="equal length"):
        run_compare(state, x, predicted[:-1])
