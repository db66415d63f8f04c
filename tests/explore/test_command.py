"""``cnnlab explore`` end to end on tiny data: pages from run folders, clear errors for wrong folders and
combinations, and in ``cnnlab run`` pages of the run's own networks linked from the report."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from data.datafixtures import make_mnist
from explore.explorefixtures import write_run

from cnnlab.cli import main
from cnnlab.pipeline import run_all

pytestmark = pytest.mark.e2e


def explore(*args: str):
    return CliRunner().invoke(main, ["explore", *map(str, args)])


def test_a_page_of_a_cnn_with_the_mlp_beside_it(tmp_path, tiny_data_root):
    cnn = write_run(tmp_path / "cnn", "mnist-cnn")
    mlp = write_run(tmp_path / "mlp", "mnist-mlp", normalization="standard")
    result = explore("--data-dir", tiny_data_root, "--weights", cnn, "--beside", mlp, "--images", 12,
                     "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    page = tmp_path / "out" / "explorer-mnist.html"
    assert page.is_file() and f"Open the MNIST explorer (explorer-mnist.html): {page}" in result.output
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    (entry,) = results["pages"]
    assert entry["images"] == 12 and entry["size_bytes"] == page.stat().st_size
    assert [(n["label"], n["model"], n["weights"]) for n in entry["networks"]] == [
        ("CNN", "mnist-cnn", str(cnn)), ("MLP", "mnist-mlp", str(mlp))]
    text = page.read_text()
    assert '"drawable":true' in text and "CNN (mnist-cnn) and MLP (mnist-mlp) on MNIST" in text


def test_a_lenet_page_stays_small(tmp_path, tiny_data_root):
    result = explore("--data-dir", tiny_data_root, "--weights", write_run(tmp_path / "lenet", "lenet"),
                     "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    page = tmp_path / "out" / "explorer-cifar10.html"
    assert page.stat().st_size < 2_000_000 and '"drawable":false' in page.read_text()


def test_help_says_what_is_written_where():
    result = CliRunner().invoke(main, ["explore", "--help"])
    assert result.exit_code == 0
    flat = " ".join(result.output.split())
    assert "explorer-<dataset>.html" in flat and "--out" in flat and "--weights RUN_DIR" in flat
    assert "--beside RUN_DIR" in flat


def test_wrong_folders_and_combinations_are_clear_errors(tmp_path, tiny_data_root):
    cnn = write_run(tmp_path / "cnn", "mnist-cnn")
    result = explore("--beside", cnn, "--out", tmp_path / "o1")
    assert result.exit_code == 2 and "--beside needs --weights" in result.output
    result = explore("--data-dir", tiny_data_root, "--weights", cnn, "--beside", write_run(tmp_path / "l", "lenet"),
                     "--out", tmp_path / "o2")
    assert result.exit_code == 1 and "trained a lenet on cifar10" in result.output
    assert "must be of one dataset" in result.output
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text((cnn / "config.json").read_text())
    result = explore("--weights", tmp_path / "half", "--out", tmp_path / "o3")
    assert result.exit_code == 1 and "model.pt is missing" in result.output and "Traceback" not in result.output
    result = explore("--out", tmp_path / "o4")
    assert result.exit_code == 1 and "needs a trained network (recipe mnist-seed)" in result.output
    assert "--train" in result.output


def test_in_cnnlab_run_the_report_links_the_pages_of_the_runs_networks(tmp_path, tiny_data_root):
    result = run_all(tmp_path, root=tiny_data_root, quick=True, progress=False, only=["explore"])
    (part,) = result.parts
    assert part.status == "done", part.message
    pages = {page["dataset"]: page for page in part.results["pages"]}
    assert [n["weights"] for n in pages["mnist"]["networks"]] == [str(tmp_path / "mnist-seed"),
                                                                   str(tmp_path / "mlp-seed")]
    assert [n["weights"] for n in pages["cifar10"]["networks"]] == [str(tmp_path / "cifar-lenet")]
    report = result.report.read_text()
    for name in ("explorer-mnist.html", "explorer-cifar10.html"):
        assert (tmp_path / "explore" / name).is_file()
        assert f'<a href="explore/{name}">' in report  # relative: the run's folder can be moved whole


def test_a_missing_dataset_leaves_out_only_its_page(tmp_path):
    make_mnist(tmp_path / "data", n_train=10_100, n_test=40, gz=False)
    result = run_all(tmp_path / "run", root=tmp_path / "data", quick=True, progress=False, only=["explore"])
    (part,) = result.parts
    assert part.status == "done", part.message
    assert [page["dataset"] for page in part.results["pages"]] == ["mnist"]
    assert "cifar-lenet" in part.results["left_out"] and "CIFAR-10" in part.results["left_out"]["cifar-lenet"]
    assert "Not written: the page of cifar-lenet" in result.report.read_text()
