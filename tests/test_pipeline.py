"""The main job: every registered part runs on tiny data, missing data skips parts with the reason, a toy
experiment added through the registry alone appears in the CLI, in `cnnlab run` and in the report."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cnnlab.cli import main
from cnnlab.experiments.base import Context, Experiment
from cnnlab.options import option
from cnnlab.pipeline import part_names, run_all
from cnnlab.registry import Entry, register, unregister
from cnnlab.report import Section, Table

REAL_DATA = Path(os.environ.get("CNNLAB_DATA", "/nonexistent"))
HAS_REAL_DATA = (REAL_DATA / "MNIST" / "raw").is_dir() and (REAL_DATA / "cifar-10-batches-py").is_dir()


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Downloads go to a closed loopback port: no internet is ever tried, and the failure is immediate."""
    monkeypatch.setenv("CNNLAB_DATA_MIRRORS", "http://127.0.0.1:9/")
    monkeypatch.delenv("CNNLAB_DATA", raising=False)


def embedded_images(html: str) -> int:
    return len(re.findall(r'src="data:image/png;base64,', html))


def test_without_data_the_data_free_parts_run_and_the_rest_say_why(tmp_path, offline):
    result = run_all(tmp_path / "out", root=tmp_path / "empty", quick=True, progress=False,
                     only=["xcorr1d", "conv-output", "mnist-data", "mnist-training", "cifar-training"])
    status = {part.key: part.status for part in result.parts}
    assert status == {"xcorr1d": "done", "conv-output": "done", "mnist-data": "skipped", "mnist-training": "skipped",
                      "cifar-training": "skipped"}
    assert result.ok
    first_skip = next(p for p in result.parts if p.key == "mnist-data").message
    assert "train-images-idx3-ubyte" in first_skip and "t10k-images-idx3-ubyte" in first_skip
    assert "How to get them" in first_skip
    assert "part 'mnist-data' above" in next(p for p in result.parts if p.key == "mnist-training").message
    html = result.report.read_text()
    assert "How to get them" in html and "skipped" in html.lower()
    assert embedded_images(html) >= 1  # the xcorr1d diagram
    assert "threads and load" in html and "load average" in html  # the conditions every timing was taken under
    assert "Quick mode" in html and "Appendix: where each assignment task is" in html


@pytest.mark.e2e
def test_every_part_runs_on_tiny_data(tmp_path, tiny_data_root):
    result = run_all(tmp_path, root=tiny_data_root, quick=True, progress=False)
    assert [part.key for part in result.parts] == list(part_names())
    failed = {part.key: part.message for part in result.parts if part.status != "done"}
    assert not failed
    html = result.report.read_text()
    assert embedded_images(html) >= 10
    assert (tmp_path / "cifar-lenet" / "model.pt").exists() and (tmp_path / "mnist-seed" / "curves.png").exists()
    summary = {part.key: part.results for part in result.parts}
    # the equivariance part reused the CNN trained by the MNIST part instead of training its own
    assert summary["equivariance"]["trained"]["cnn"] is True
    assert (tmp_path / "mnist-seed" / "model.pt").exists() and not (tmp_path / "equivariance" / "mnist-seed").exists()


def test_unknown_part_is_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"unknown parts \['nope'\]"):
        run_all(tmp_path, only=["nope"])
    result = CliRunner().invoke(main, ["run", "--only", "nope", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "nope" in result.output and not (tmp_path / "o").exists()


# --- a toy experiment, added through the registry alone ---------------------------------------------------------
@dataclass(frozen=True)
class ToySettings:
    """Square a number."""

    value: int = option(7, "The number to square.", minimum=0)


@dataclass
class ToyResult:
    value: int
    square: int

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "square": self.square}


def run_toy(settings: ToySettings, context: Context) -> ToyResult:
    return ToyResult(settings.value, settings.value ** 2)


def toy_section(result: ToyResult, figures: dict[str, Path]) -> Section:
    return Section(intro=f"The square of {result.value}.", tables=[Table(["n", "n²"], [[result.value, result.square]])])


TOY = Experiment("toy-square", "A toy experiment", "Square a number (a test of the experiment registry).",
                 ToySettings, run_toy)


@pytest.fixture
def toy_registered():
    register(Entry(TOY, toy_section))
    yield
    unregister("toy-square")


def test_a_registered_experiment_appears_in_the_cli_in_run_and_in_the_report(tmp_path, toy_registered):
    runner = CliRunner()
    assert "toy-square" in runner.invoke(main, ["--help"]).output
    assert "--value" in runner.invoke(main, ["toy-square", "--help"]).output
    result = runner.invoke(main, ["toy-square", "--value", "12", "--out", str(tmp_path / "cmd")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "cmd" / "results.json").read_text())["square"] == 144 and "144" in result.output
    assert runner.invoke(main, ["toy-square", "--value", "-1"]).exit_code == 2

    assert "toy-square" in part_names()
    result = runner.invoke(main, ["run", "--only", "toy-square", "--out", str(tmp_path / "run"), "--no-progress"])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "run" / "report.html").read_text()
    assert "A toy experiment" in html and "The square of 7." in html and ">49<" in html


def test_duplicate_names_are_refused(toy_registered):
    with pytest.raises(ValueError, match="called 'toy-square' is registered already"):
        register(Entry(TOY, toy_section))


@pytest.mark.slow
@pytest.mark.skipif(not HAS_REAL_DATA, reason="needs the real MNIST and CIFAR-10 files under $CNNLAB_DATA")
def test_run_quick_on_the_real_data(tmp_path):
    result = CliRunner().invoke(main, ["--data-dir", str(REAL_DATA), "run", "--quick", "--out", str(tmp_path),
                                       "--no-progress"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "results.json").read_text())
    assert all(part["status"] == "done" for part in summary["parts"]), summary["parts"]
    parts = {part["key"]: part["results"] for part in summary["parts"]}
    assert parts["mnist-training"]["mnist-seed"]["history"]["records"][-1]["val_acc"] > 0.85
    assert parts["cifar-training"]["cifar-lenet"]["test_acc"] > 0.30
