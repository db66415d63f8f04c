"""Assignment 004 task 3: the output-size table and the worked formula, checked against torch's own layers."""

from __future__ import annotations

import json

import pytest
import torch

from cnnlab.experiments import conv_output
from cnnlab.experiments.base import Context
from cnnlab.experiments.conv_output import ConvOutputSettings, example_table, run
from cnnlab.experiments.conv_output import conv_output as one_case
from cnnlab.report import Section, render_text
from cnnlab.report.sections import conv_output as conv_output_section


def torch_output_size(case) -> list[int]:
    """What torch's Conv2d/Conv1d gives for the case (the independent reference)."""
    ndim = len(case.input_size)
    conv = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)[ndim - 1]
    layer = conv(1, 1, tuple(case.kernel_size), stride=tuple(case.stride), padding=tuple(case.padding),
                 dilation=tuple(case.dilation))
    return list(layer(torch.zeros(1, 1, *case.input_size)).shape[2:])


def test_examples_match_torch_and_cover_the_seed_layers():
    cases = example_table()
    names = [case.name for case in cases]
    assert any("MNIST CNN conv1" in n for n in names) and any("LeNet pool2" in n for n in names)
    assert any("same" in n for n in names) and any("dilation" in n for n in names)
    for case in cases:
        if case.possible:
            assert case.output_size == torch_output_size(case), case.name
            assert len(case.worked) == len(case.input_size)
        else:
            assert case.output_size is None and case.worked == []
            with pytest.raises(RuntimeError):
                torch_output_size(case)
    impossible = [case for case in cases if not case.possible]
    assert len(impossible) >= 1
    assert "kernel covers 5 pixels" in impossible[0].error


def test_seed_network_chain():
    by_name = {case.name: case.output_size for case in example_table()}
    assert by_name["MNIST CNN conv1 (assignment 004)"] == [14, 14]
    assert by_name["MNIST CNN conv2 (assignment 004)"] == [7, 7]
    lenet = [by_name[n] for n in ("LeNet conv1 (assignment 000, CIFAR-10)", "LeNet pool1: 2 x 2 max-pool",
                                  "LeNet conv2", "LeNet pool2: 2 x 2 max-pool")]
    assert lenet == [[28, 28], [14, 14], [10, 10], [5, 5]]


def test_worked_formula_shows_numbers_and_floor():
    case = one_case(28, 3, stride=2)
    assert case.output_size == [13]
    assert case.worked == ["⌊(28 + 2·0 − 1·(3 − 1) − 1) / 2⌋ + 1 = ⌊25/2⌋ + 1 = 13 (the last 1 pixel of the padded "
                           "input fits no window)"]
    assert one_case(28, 4, 2, 1).worked == ["⌊(28 + 2·1 − 1·(4 − 1) − 1) / 2⌋ + 1 = ⌊26/2⌋ + 1 = 14"]
    assert one_case(32, 5).worked == ["⌊(32 + 2·0 − 1·(5 − 1) − 1) / 1⌋ + 1 = 27 + 1 = 28"]


def test_per_dimension_arguments_broadcast():
    case = one_case((28, 32), (3, 5), stride=(1, 2), padding=(1, 2))
    assert case.output_size == [28, 16]
    assert case.stride == [1, 2] and case.dilation == [1, 1]
    assert one_case((28,), (3, 5)).output_size == [26, 24]  # a one-entry sequence broadcasts like an int


@pytest.mark.parametrize(("args", "message"), [
    ((4, 5), "kernel covers 5 pixels"),
    ((5, 3, 1, 0, 3), "kernel covers 7 pixels"),
    ((28, 3, 0), "stride must be positive"),
    ((28, 3, 1, -1), "padding must be non-negative"),
    (((28, 28, 28), (3, 3)), "disagree on the number of dimensions"),
    (("a", 3), "input_size must be an int"),
])
def test_impossible_or_malformed_geometry_is_reported_not_raised(args, message):
    case = one_case(*args)
    assert not case.possible and case.output_size is None
    assert message in case.error


def test_run_with_and_without_query(tmp_path):
    context = Context(tmp_path)
    plain = run(ConvOutputSettings(), context)
    assert plain.query is None and len(plain.examples) == len(conv_output.EXAMPLES)
    assert plain.formula == conv_output.FORMULA
    asked = run(ConvOutputSettings(input=(28, 28), kernel=(3,), stride=(2,), padding=(1,)), context)
    assert asked.query.output_size == [14, 14] and asked.query.name == "your geometry"
    assert asked.query.worked == ["⌊(28 + 2·1 − 1·(3 − 1) − 1) / 2⌋ + 1 = ⌊27/2⌋ + 1 = 14 (the last 1 pixel of "
                                  "the padded input fits no window)"] * 2
    impossible = run(ConvOutputSettings(input=(4,), kernel=(7,)), context).query
    assert not impossible.possible and "kernel covers 7 pixels" in impossible.error
    rectangular = run(ConvOutputSettings(input=(28, 32), kernel=(3, 5), stride=(1, 2), padding=(1, 2)), context)
    assert rectangular.query.output_size == [28, 16]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"input": (28,)}, "give both --input and --kernel"),
    ({"kernel": (3,)}, "give both --input and --kernel"),
    ({"input": (28,), "kernel": (3,), "stride": (0,)}, "--stride must be positive"),
    ({"input": (28,), "kernel": (0,)}, "--kernel must be positive"),
    ({"input": (28,), "kernel": (3,), "padding": (-1,)}, "--padding must be non-negative"),
    ({"input": (28,), "kernel": (3,), "dilation": ()}, "--dilation must be positive"),
    ({"input": (28, 28, 28), "kernel": (3, 3)}, "disagree on the number of dimensions"),
])
def test_settings_reject_bad_geometry_on_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ConvOutputSettings(**kwargs)


def test_to_dict_and_section(tmp_path):
    result = run(ConvOutputSettings(input=(28, 28), kernel=(5,)), Context(tmp_path))
    data = json.loads(json.dumps(result.to_dict()))
    assert data["query"]["output_size"] == [24, 24] and data["query"]["possible"] is True
    assert data["examples"][-1]["possible"] is False
    # asked a geometry, the section answers it alone (the examples table is for the plain command)
    sec = conv_output_section.section(result, {})
    assert isinstance(sec, Section)
    assert [t.caption for t in sec.tables] == ["The geometry asked for"]
    assert sec.tables[0].rows == [["your geometry", "28 x 28", "5", "1", "0", "1", "24 x 24",
                                   "⌊(28 + 2·0 − 1·(5 − 1) − 1) / 1⌋ + 1 = 23 + 1 = 24", ""]]
    assert sec.settings["input"] == [28, 28] and sec.settings["kernel"] == [5, 5]
    text = render_text(sec)
    assert "The geometry asked for:" in text and "your geometry" in text and "\\(" not in text

    plain = conv_output_section.section(run(ConvOutputSettings(), Context(tmp_path)), {})
    assert plain.settings == {} and len(plain.tables) == 1
    rows = plain.tables[0].rows
    assert len(rows) == len(result.examples)
    assert all(len(row) == len(conv_output_section.COLUMNS) for row in rows)
    impossible = [row for row in rows if row[6] == "impossible"]
    assert len(impossible) == 2 and "kernel covers 5 pixels" in impossible[0][7]
    assert "(2 in the table)" in plain.paragraphs[2]
    by_case = {row[0]: row for row in rows}
    # one value per column where every dimension has it; per dimension where they differ
    rectangular = by_case["rectangular input, per-dimension settings"]
    assert rectangular[1:7] == ["28 x 32", "3 x 5", "1 x 2", "1 x 2", "1", "28 x 16"]
    assert rectangular[7].startswith("H: ") and "\nW: " in rectangular[7]
    assert by_case["MNIST CNN conv1 (assignment 004)"][7] == "⌊(28 + 2·1 − 1·(4 − 1) − 1) / 2⌋ + 1 = ⌊26/2⌋ + 1 = 14"
    assert "impossible" in render_text(plain)
