"""Assignment 004's pen-and-paper task: the numbers derived by hand here, other settings against torch, bad input."""

from __future__ import annotations

import json
import unicodedata

import numpy as np
import pytest
import torch

from cnnlab.experiments import xcorr1d
from cnnlab.experiments.base import Context
from cnnlab.experiments.xcorr1d import Xcorr1dSettings, worked_example
from cnnlab.plots import xcorr as xcorr_plots
from cnnlab.report import Section, render_text
from cnnlab.report.sections import xcorr1d as xcorr1d_section
from cnnlab.report.sections.xcorr1d import PHASES


def test_default_is_the_seed_example_worked_by_hand():
    r = worked_example()
    assert (r.x, r.w, r.b, r.y, r.lr, r.stride) == ([1, 2, 3, 4], [2, 1, 3], 1, [2, 4], 0.01, 1)
    # Forward: y_hat_i = w1 x_i + w2 x_(i+1) + w3 x_(i+2) + b.
    y_hat = [2 * 1 + 1 * 2 + 3 * 3 + 1, 2 * 2 + 1 * 3 + 3 * 4 + 1]
    assert y_hat == [14, 20]
    assert r.y_hat == pytest.approx(y_hat)
    loss = 0.5 * ((2 - 14) ** 2 + (4 - 20) ** 2)
    assert loss == 200
    assert r.loss == pytest.approx(loss)
    # Backward: dL/dy_hat = y_hat - y = [12, 16].
    assert r.grad_y_hat == pytest.approx([12, 16])
    grad_w = [12 * 1 + 16 * 2, 12 * 2 + 16 * 3, 12 * 3 + 16 * 4]
    assert grad_w == [44, 72, 100]
    assert r.grad_w == pytest.approx(grad_w)
    assert r.grad_b == pytest.approx(12 + 16)
    assert r.grad_x == pytest.approx([12 * 2, 12 * 1 + 16 * 2, 12 * 3 + 16 * 1, 16 * 3])
    # Update with lr 0.01.
    w_new = [2 - 0.01 * 44, 1 - 0.01 * 72, 3 - 0.01 * 100]
    b_new = 1 - 0.01 * 28
    assert r.w_new == pytest.approx([1.56, 0.28, 2.0]) and r.w_new == pytest.approx(w_new)
    assert r.b_new == pytest.approx(0.72) and r.b_new == pytest.approx(b_new)
    # Second forward and its loss.
    y_hat_new = [1.56 * 1 + 0.28 * 2 + 2.0 * 3 + 0.72, 1.56 * 2 + 0.28 * 3 + 2.0 * 4 + 0.72]
    assert r.y_hat_new == pytest.approx([8.84, 12.68]) and r.y_hat_new == pytest.approx(y_hat_new)
    loss_new = 0.5 * ((2 - 8.84) ** 2 + (4 - 12.68) ** 2)
    assert r.loss_new == pytest.approx(61.064) and r.loss_new == pytest.approx(loss_new)
    assert r.torch_max_abs_diff < 1e-9


def test_steps_show_formula_and_numbers():
    r = worked_example()
    by_name = {step.name: step for step in r.steps}
    assert [step.phase for step in r.steps] == sorted((s.phase for s in r.steps), key=PHASES.index)
    assert by_name["ŷ₁"].formula == "w₁·x₁ + w₂·x₂ + w₃·x₃ + b = 2·1 + 1·2 + 3·3 + 1"
    assert by_name["ŷ₁"].value == pytest.approx(14)
    assert by_name["L"].formula == "½·((y₁ − ŷ₁)² + (y₂ − ŷ₂)²) = ½·((2 − 14)² + (4 − 20)²)"
    assert by_name["∂L/∂w₁"].formula == "∂L/∂ŷ₁·x₁ + ∂L/∂ŷ₂·x₂ = 12·1 + 16·2"
    assert by_name["∂L/∂b"].formula == "∂L/∂ŷ₁ + ∂L/∂ŷ₂ = 12 + 16"
    assert by_name["w₁′"].formula == "w₁ − η·∂L/∂w₁ = 2 − 0.01·44"
    assert by_name["b′"].value == pytest.approx(0.72)
    assert by_name["ŷ₂′"].formula == "w₁′·x₂ + w₂′·x₃ + w₃′·x₄ + b′ = 1.56·2 + 0.28·3 + 2·4 + 0.72"
    assert by_name["L′"].value == pytest.approx(61.064)
    name, formula, value, phase = r.steps[0]  # a plain tuple too
    assert (name, formula, value, phase) == ("ŷ₁", by_name["ŷ₁"].formula, 14, "forward")


def test_stride_two_by_hand():
    # x = [1..7], w = [1, -1, 2], stride 2: windows x1..x3, x3..x5, x5..x7.
    r = worked_example(x=[1, 2, 3, 4, 5, 6, 7], w=[1, -1, 2], b=0.5, y=[0, 0, 0], lr=0.1, stride=2)
    assert r.y_hat == pytest.approx([1 - 2 + 6 + 0.5, 3 - 4 + 10 + 0.5, 5 - 6 + 14 + 0.5])  # [5.5, 9.5, 13.5]
    g = [5.5, 9.5, 13.5]
    assert r.grad_w == pytest.approx([g[0] * 1 + g[1] * 3 + g[2] * 5, g[0] * 2 + g[1] * 4 + g[2] * 6,
                                      g[0] * 3 + g[1] * 5 + g[2] * 7])
    assert r.grad_b == pytest.approx(sum(g))
    # x3 and x5 lie in two windows each (first tap of one, last of the other).
    assert r.grad_x == pytest.approx([g[0], -g[0], 2 * g[0] + g[1], -g[1], 2 * g[1] + g[2], -g[2], 2 * g[2]])


def test_inputs_outside_every_window_get_zero_gradient_and_say_so():
    r = worked_example(x=[1, -2, 3, 4, 5, 6, 7, 8], w=[1, 2], b=-0.5, y=[0, 1, 2], stride=3)
    assert r.grad_x[2] == 0 and r.grad_x[5] == 0
    step = next(s for s in r.steps if s.name == "∂L/∂x₃")
    assert "lies in no window" in step.formula
    assert "(−2)" in next(s for s in r.steps if s.name == "ŷ₁").formula  # negatives bracketed


@pytest.mark.parametrize("seed", range(5))
def test_random_cases_match_torch_conv1d(seed):
    rng = np.random.default_rng(seed)
    n_in, stride = int(rng.integers(1, 12)), int(rng.integers(1, 4))
    n_kernel = int(rng.integers(1, n_in + 1))
    n_out = (n_in - n_kernel) // stride + 1
    x, w, y = rng.normal(size=n_in), rng.normal(size=n_kernel), rng.normal(size=n_out)
    b, lr = float(rng.normal()), float(rng.uniform(0.001, 0.5))
    r = worked_example(x=x, w=w, b=b, y=y, lr=lr, stride=stride)
    # Independent reference written here: torch conv1d + autograd.
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor([b], dtype=torch.float64, requires_grad=True)
    out = torch.nn.functional.conv1d(xt.view(1, 1, -1), wt.view(1, 1, -1), bt, stride=stride).view(-1)
    loss = 0.5 * ((torch.tensor(y) - out) ** 2).sum()
    loss.backward()
    np.testing.assert_allclose(r.y_hat, out.detach().numpy(), rtol=1e-12, atol=1e-12)
    assert r.loss == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(r.grad_w, wt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(r.grad_x, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert r.grad_b == pytest.approx(bt.grad.item(), rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(r.w_new, w - lr * wt.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert len(r.steps) == 2 * n_out + 2 + n_out + n_kernel + 1 + n_in + n_kernel + 1


def test_disagreement_with_torch_raises(monkeypatch):
    original = xcorr1d._torch_reference

    def off_by_one(*args):
        reference = original(*args)
        reference["grad_b"] += 1.0
        return reference

    monkeypatch.setattr(xcorr1d, "_torch_reference", off_by_one)
    with pytest.raises(RuntimeError, match="disagree on grad_b"):
        worked_example()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"x": [1, 2], "w": [1, 2, 3], "y": [1]}, r"kernel w \(length 3\) is longer than the input x \(length 2\)"),
    ({"stride": 0}, "stride must be an integer >= 1"),
    ({"stride": 1.5}, "stride must be an integer >= 1"),
    ({"stride": True}, "stride must be an integer >= 1"),
    ({"y": [1, 2, 3]}, "y must have one target per output.*= 2 outputs, got y of length 3"),
    ({"x": []}, "x must be a non-empty 1-D list"),
    ({"w": [[1, 2]]}, "w must be a non-empty 1-D list"),
    ({"x": [1, "a", 3, 4]}, "x must contain only numbers"),
    ({"x": [1, float("nan"), 3, 4]}, "x must contain only finite numbers"),
    ({"b": "1"}, "b must be a finite number"),
    ({"lr": 0}, "learning rate lr must be positive"),
    ({"lr": float("inf")}, "lr must be a finite number"),
])
def test_bad_input_raises_clear_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        worked_example(**kwargs)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"x": (1.0, 2.0), "w": (1.0, 2.0, 3.0), "y": (1.0,)}, "is longer than the input x"),
    ({"stride": 0}, "stride must be an integer >= 1"),
    ({"y": (1.0, 2.0, 3.0)}, "y must have one target per output"),
    ({"lr": -0.1}, "learning rate lr must be positive"),
    ({"b": float("nan")}, "b must be a finite number"),
])
def test_settings_are_checked_on_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Xcorr1dSettings(**kwargs)


def test_run_with_the_default_settings_is_the_seed_example(tmp_path):
    r = xcorr1d.run(Xcorr1dSettings(), Context(tmp_path))
    assert r.to_dict() == worked_example().to_dict()
    other = xcorr1d.run(Xcorr1dSettings(x=(1.0, 2.0, 3.0, 4.0, 5.0), w=(1.0, -1.0), b=0.0, y=(0.0, 0.0), stride=3),
                        Context(tmp_path))
    assert other.y_hat == pytest.approx([1 - 2, 4 - 5]) and other.stride == 3


def test_to_dict_is_json_ready_and_section_renders(tmp_path):
    r = worked_example()
    data = json.loads(json.dumps(r.to_dict()))
    assert data["loss"] == pytest.approx(200) and data["grad_w"] == pytest.approx([44, 72, 100])
    assert data["steps"][0] == {"name": "ŷ₁", "formula": r.steps[0].formula, "value": 14.0, "phase": "forward"}
    figures = xcorr_plots.figures(r, tmp_path)
    assert figures["windows"] == tmp_path / "xcorr1d.png"
    assert figures["windows"].read_bytes().startswith(b"\x89PNG")
    section = xcorr1d_section.section(r, figures)
    assert isinstance(section, Section)
    assert section.settings["x"] == [1, 2, 3, 4] and section.figures[0].path == figures["windows"]
    phases = [table.caption for table in section.tables[1:]]
    assert phases == [phase.capitalize() for phase in PHASES]
    assert section.tables[0].rows == [list(row) for row in xcorr1d_section.GENERAL_FORMULAS]
    plain = unicodedata.normalize("NFC", render_text(section))  # the formulas as plain text in a terminal
    assert "ŷ_i = Σ_k w_k x_((i-1)s+k) + b" in plain and "\\hat" not in plain
    values = {row[0]: row[2] for table in section.tables[1:] for row in table.rows}
    assert values["L′"] == "61.064" and values["∂L/∂b"] == "28"
    assert "the loss fell from 200 to 61.064" in section.paragraphs[0]
    assert "w′ = [1.56, 0.28, 2]" in section.paragraphs[0]


def test_long_input_has_no_figure(tmp_path):
    r = worked_example(x=list(range(50)), w=[1, 1], y=[0] * 49)
    assert xcorr_plots.figures(r, tmp_path) == {}
    assert xcorr1d_section.section(r, {}).figures == []


def test_the_numbers_come_from_the_engines_conv1d(monkeypatch):
    """The worked example runs the NumPy engine's Conv1d: a broken backward pass would show in its numbers."""
    from cnnlab.numpy_nn import Conv1d

    calls = []
    original = Conv1d.backward

    def spy(self, grad_out, *, need_input_grad=True):
        calls.append(np.asarray(grad_out).shape)
        return original(self, grad_out, need_input_grad=need_input_grad)

    monkeypatch.setattr(Conv1d, "backward", spy)
    r = worked_example(stride=2, x=[1.0, 2.0, 3.0, 4.0, 5.0], y=[0.0, 1.0])
    assert calls == [(1, 1, 2)]
    assert r.grad_x == pytest.approx([r.grad_y_hat[0] * 2, r.grad_y_hat[0] * 1, r.grad_y_hat[0] * 3
                                      + r.grad_y_hat[1] * 2, r.grad_y_hat[1] * 1, r.grad_y_hat[1] * 3])
