"""The own-vs-library comparison (assignment 000 tasks 2.1, 3.1, 3.2) on tiny synthetic inputs and a random LeNet; the
experiment end to end on the tiny CIFAR-10 files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cnnlab.errors import UserError
from cnnlab.experiments import compare
from cnnlab.experiments.base import Context
from cnnlab.experiments.compare import CompareSettings, layer_differences, run_compare
from cnnlab.formatting import Percent
from cnnlab.models import build_model
from cnnlab.report import render_text
from cnnlab.report.sections import compare as compare_section

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
    assert data["timing"][0]["own"]["repeats"] == 1 and "conditions" in data
    section = compare_section.section(result, {})
    differences, accuracy, timing = section.tables
    assert [row[:2] for row in differences.rows] == [["Linear(8, 16)", "-"], ["Conv2d(3, 8, 5)", "im2col"],
                                                     ["Conv2d(3, 8, 5)", "naive"]]
    assert differences.rows[0][4] == result.linear.mean_after
    assert accuracy.columns[1:3] == ["accuracy, first 10", "accuracy, all 30"]
    assert [row[0] for row in accuracy.rows] == ["torch.nn", "own (im2col)", "own (naive)"]
    assert accuracy.rows[2][2] is None and accuracy.rows[2][4] == "0 / 10"
    assert isinstance(accuracy.rows[0][1], Percent) and accuracy.rows[0][1] == 1.0
    assert timing.columns[-3:] == ["own / torch.nn (means)", "own / torch.nn (medians)", "timed calls"]
    assert [row[:2] for row in timing.rows] == [["im2col", 8], ["im2col", 4], ["naive", 4]]
    first = result.timing[0]
    assert timing.rows[0][4:] == pytest.approx([1e3 * first.library_s, 1e3 * first.own_s, first.mean_ratio,
                                                first.ratio, 1])
    assert timing.rows[0][2] == f"{1e3 * first.library.mean_s:.3g} ± {1e3 * first.library.stdev_s:.2g}"
    assert first.mean_ratio == pytest.approx(first.own.mean_s / first.library.mean_s)
    assert f"im2col at batch 8: {result.timing[0].ratio:.2f}x" in section.paragraphs[0]
    assert section.settings["timing_batches"] == [8, 4]
    text = render_text(section)
    for expected in ("Linear(8, 16)", "Conv2d(3, 8, 5)", "own (naive)", "accuracy, first 10", "own / torch.nn",
                     "100.00%"):
        assert expected in text


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


#: CompareSettings has no __post_init__ calling cnnlab.options.check_options, so its declared bounds and choices are
#: enforced by the CLI's click types only, not on construction as the experiment contract says.


@pytest.mark.parametrize(("kwargs", "message"), [
    pytest.param({"n_first": 0}, "--n-first must be at least 1"),
    pytest.param({"repeats": 0}, "--repeats must be at least 1"),
    pytest.param({"device": "tpu"}, "--device: 'tpu' is not one of auto, cpu, cuda"),
])
def test_settings_are_checked_on_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CompareSettings(**kwargs)


def test_quick_settings_skip_the_full_test_set_and_time_less():
    quick = CompareSettings(n_first=7).quick()
    assert (quick.full_test, quick.repeats, quick.n_first, quick.naive) == (False, 3, 7, True)


def test_weights_of_another_network_are_refused_with_both_names(tmp_path, run_folder):
    folder = run_folder("cnn", "mnist-cnn")
    with pytest.raises(UserError, match=r"that run trained a mnist-cnn, but compare needs a lenet") as info:
        compare.run(CompareSettings(weights=folder), Context(tmp_path / "out"))
    assert "cnnlab train --recipe cifar-lenet" in str(info.value)


@pytest.mark.e2e
def test_experiment_trains_the_lenet_it_needs_and_compares_it(tmp_path, tiny_data_root):
    context = Context(tmp_path, data_root=tiny_data_root, quick=True, train_missing=True, device="cpu")
    settings = CompareSettings(n_first=10, naive=False, repeats=1, device="cpu").quick()
    result = compare.run(settings, context)
    assert (result.n_first, result.n_test, result.device) == (10, 60, "cpu")  # the tiny test split: 60 images
    assert [a.algorithm for a in result.accuracy] == [None, "im2col"]
    library, own = result.accuracy
    assert own.first_acc == library.first_acc and own.full_acc == library.full_acc
    assert own.max_logit_diff < 1e-4 and own.disagreements == 0
    assert {t.algorithm for t in result.timing} == {"im2col"} and [t.batch_size for t in result.timing] == [60, 20]
    assert (tmp_path / "cifar-lenet" / "model.pt").is_file()  # trained into the run's folder, once
    again = compare.run(settings, context)
    assert again.accuracy[0].first_acc == library.first_acc
    json.dumps(result.to_dict())
