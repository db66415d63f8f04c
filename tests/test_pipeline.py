"""The main job: every part runs on tiny data, missing data skips parts with the reason, the real run --quick."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from cnnlab.cli import main
from cnnlab.pipeline import PART_KEYS, run_all

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
                     only=["xcorr1d", "conv_output", "mnist_data", "mnist_training", "cifar_training"])
    status = {part.key: part.status for part in result.parts}
    assert status == {"xcorr1d": "done", "conv_output": "done", "mnist_data": "skipped", "mnist_training": "skipped",
                      "cifar_training": "skipped"}
    assert result.ok
    first_skip = next(p for p in result.parts if p.key == "mnist_data").message
    assert "train-images-idx3-ubyte" in first_skip and "How to get them" in first_skip
    assert "'MNIST images' above" in next(p for p in result.parts if p.key == "mnist_training").message
    html = result.report.read_text()
    assert "How to get them" in html and "skipped" in html.lower()
    assert embedded_images(html) >= 1  # the xcorr1d diagram


def test_every_part_runs_on_tiny_data(tmp_path, tiny_data_root):
    result = run_all(tmp_path, root=tiny_data_root, quick=True, progress=False)
    assert [part.key for part in result.parts] == list(PART_KEYS)
    failed = {part.key: part.message for part in result.parts if part.status != "done"}
    assert not failed
    html = result.report.read_text()
    assert embedded_images(html) >= 10
    assert (tmp_path / "cifar-lenet" / "model.pt").exists() and (tmp_path / "mnist-seed" / "curves.png").exists()


def test_unknown_part_is_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"unknown parts \['nope'\]"):
        run_all(tmp_path, only=["nope"])
    result = CliRunner().invoke(main, ["run", "--only", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "unknown parts" in result.output


@pytest.mark.slow
@pytest.mark.skipif(not HAS_REAL_DATA, reason="needs the real MNIST and CIFAR-10 files under $CNNLAB_DATA")
def test_run_quick_on_the_real_data(tmp_path):
    result = CliRunner().invoke(main, ["--data-dir", str(REAL_DATA), "run", "--quick", "--out", str(tmp_path),
                                       "--no-progress"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "results.json").read_text())
    assert all(part["status"] == "done" for part in summary["parts"]), summary["parts"]
    parts = {part["key"]: part["results"] for part in summary["parts"]}
    assert parts["mnist_training"]["seed recipe"]["history"]["records"][-1]["val_acc"] > 0.85
    assert parts["cifar_training"]["test_acc"] > 0.30
    assert summary["seconds"] < 300
