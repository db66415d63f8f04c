"""The evidence experiment end to end on tiny data (networks written by hand as run folders, so nothing trains),
its figures and section, the command line, and bad input: the MLP, oversized or non-positive patches, weights of
the wrong architecture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from cnnlab.cli import main
from cnnlab.errors import UserError
from cnnlab.experiments.base import Context
from cnnlab.experiments.evidence import EXPERIMENT, EvidenceSettings, run
from cnnlab.models import build_model
from cnnlab.numpy_nn import to_torch_state_dict
from cnnlab.plots.evidence import figures
from cnnlab.registry import get_entry
from cnnlab.report import render_text, write_report
from cnnlab.report.sections.evidence import section
from cnnlab.training import recipe


def make_run(folder: Path, recipe_name: str, *, model: str | None = None, seed: int = 0) -> Path:
    """A 'cnnlab train' run folder with untrained weights of ``model`` (default: the recipe's) and the recipe's
    config."""
    config = recipe(recipe_name)
    network = build_model(model or config.model, config.engine, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(to_torch_state_dict(network.state_dict()), folder / "model.pt")
    (folder / "config.json").write_text(json.dumps(config.to_dict()))
    return folder


def small(weights: Path, **changes) -> EvidenceSettings:
    return EvidenceSettings(weights=weights, bootstrap=100, per_class=1, mistakes=4, top_k=3, **changes)


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory, tiny_data_root):
    folder = make_run(tmp_path_factory.mktemp("runs") / "cnn", "mnist-seed")
    context = Context(tmp_path_factory.mktemp("out"), tiny_data_root)
    return run(small(folder), context), context


def test_the_experiment_on_a_cnn(cnn_run):
    result, _ = cnn_run
    assert result.n_test == 60 and result.network.model == "mnist-cnn" and result.network.engine == "numpy"
    assert result.evaluation.overall.n == 60 and result.evaluation.confusion.sum() == 60
    assert [layer.name for layer in result.layers] == ["conv1", "conv2"]
    assert [len(layer.profiles) for layer in result.layers] == [5, 10]
    assert [layer.receptive_field for layer in result.layers] == [4, 10]
    assert result.top_images["conv2"].shape == (10, 3, 1, 28, 28)
    assert len(result.ablations) == 15 and all(len(a.per_class) == 10 for a in result.ablations)
    assert result.statement  # generated either way: a claim or the plain "no channel supports"
    assert result.statement.startswith(("Strongest supported claim", "No channel supports"))
    where = result.where
    assert len(where.indices) == len(set(result.evaluation.class_names) & {result.class_names[v]
                                                                           for v in where.labels})
    assert where.occlusion.drop.shape[1:] == (12, 12) and where.saliency.shape[1:] == (28, 28)
    assert where.agreement is not None and where.agreement.relative < 1e-5  # NumPy backward == autograd
    d = result.to_dict()
    text = json.dumps(d)
    assert len(text) < 300_000 and d["network"]["model"] == "mnist-cnn" and d["statement"] == result.statement
    phases = result.seconds  # which phases were timed (their durations depend on the machine and are not checked)
    assert set(phases) >= {"scan", "statistics", "where", "total"}


@pytest.mark.e2e
def test_figures_and_section(cnn_run, tmp_path, check_png):
    result, _ = cnn_run
    paths = figures(result, tmp_path)
    expected = {"evaluation", "selectivity", "top_conv1", "top_conv2", "ablation", "where"}
    assert expected <= set(paths)
    assert ("claim" in paths) == (result.claim is not None) and ("mistakes" in paths) == bool(
        result.evaluation.mistakes)
    for path in paths.values():
        check_png(path)
    sec = section(result, paths)
    assert sec.paragraphs[0] == result.statement
    assert [t.columns[0] for t in sec.tables] == ["class", "channel", "channel zeroed"]
    assert len(sec.tables[1].rows) == 15 and len(sec.tables[2].rows) == 15
    assert all(f.caption for f in sec.figures)
    assert "Saliency in both engines" in " ".join(sec.paragraphs)
    html = write_report([sec], tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(paths)
    assert "Strongest supported claim" in render_text(sec) or "No channel supports" in render_text(sec)


@pytest.mark.e2e
def test_an_mlp_gets_the_views_that_apply_and_a_note(tmp_path, tiny_data_root, check_png):
    folder = make_run(tmp_path / "mlp", "mlp-seed")
    result = run(small(folder), Context(tmp_path / "out", tiny_data_root))
    assert result.layers == [] and result.ablations == [] and result.claim is None
    assert "no convolution layers" in result.notes[0] and "occlusion and saliency" in result.notes[0]
    assert result.statement.startswith("No selectivity claim")
    assert result.evaluation.overall.n == 60 and result.where.agreement is not None
    paths = figures(result, tmp_path / "figures")
    assert set(paths) <= {"evaluation", "mistakes", "where"} and {"evaluation", "where"} <= set(paths)
    for path in paths.values():
        check_png(path)
    sec = section(result, paths)
    assert len(sec.tables) == 1 and result.notes[0] in sec.paragraphs


def test_the_lenet_from_the_torch_engine(tmp_path, tiny_data_root):
    folder = make_run(tmp_path / "lenet", "cifar-lenet")
    result = run(small(folder, ablation=False), Context(tmp_path / "out", tiny_data_root))
    assert result.network.engine == "torch" and result.ablations == []
    assert [layer.receptive_field for layer in result.layers] == [5, 14]
    assert result.where.occlusion.drop.shape[1:] == (14, 14)
    assert result.where.agreement is not None and result.where.agreement.relative < 1e-5
    assert result.claim is None or "not ablated" in result.statement


def test_settings_reject_a_patch_larger_than_the_image_of_the_network(tmp_path):
    with pytest.raises(ValueError, match=r"--patch: the occlusion patch \(29 px\) is larger than the 28x28"):
        EvidenceSettings(network="mnist-seed", patch=29)
    EvidenceSettings(network="cifar-lenet", patch=32)
    with pytest.raises(ValueError, match="larger than the 32x32"):
        EvidenceSettings(weights=make_run(tmp_path / "lenet", "cifar-lenet"), patch=33)
    with pytest.raises(ValueError, match="--stride must be at least 1"):
        EvidenceSettings(stride=0)
    with pytest.raises(ValueError, match="--network"):
        EvidenceSettings(network="nope")
    assert EvidenceSettings().quick().max_test == 2000


def test_cli_usage_errors_before_any_data(tmp_path):
    runner = CliRunner()
    for args, message in ((["--network", "mnist-seed", "--patch", "40"], "larger than the 28x28 images"),
                          (["--patch", "0"], "--patch"), (["--patch", "-3"], "--patch"), (["--stride", "0"], "stride")):
        result = runner.invoke(main, ["--data-dir", str(tmp_path / "none"), "evidence", *args,
                                      "--out", str(tmp_path / "o")])
        assert result.exit_code == 2, result.output
        assert message in result.output
    assert not (tmp_path / "none").exists()


def test_weights_of_the_wrong_architecture_name_the_file_and_what_was_expected(tmp_path, tiny_data_root):
    folder = make_run(tmp_path / "mixed", "mnist-seed", model="lenet")  # config says mnist-cnn, weights are LeNet's
    with pytest.raises(UserError, match=r"mixed/model\.pt: these are not the weights of a mnist-cnn") as info:
        run(small(folder), Context(tmp_path / "out", tiny_data_root))
    assert "conv1.weight is [8, 3, 5, 5], expected [5, 1, 4, 4]" in str(info.value)
    result = CliRunner().invoke(main, ["--data-dir", str(tiny_data_root), "evidence", "--weights", str(folder),
                                       "--out", str(tmp_path / "o"), "--no-progress"])
    assert result.exit_code == 1 and "not the weights of a mnist-cnn" in result.output
    assert "Traceback" not in result.output


def test_unreadable_or_missing_weights_are_clear_errors(tmp_path, tiny_data_root):
    folder = make_run(tmp_path / "broken", "mnist-seed")
    (folder / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match=r"broken/model\.pt: damaged or not a weights file, not a readable model\.pt"):
        run(small(folder), Context(tmp_path / "out", tiny_data_root))
    (folder / "model.pt").unlink()
    with pytest.raises(UserError, match=r"model\.pt not found"):
        run(small(folder), Context(tmp_path / "out", tiny_data_root))


def test_without_a_network_it_says_how_to_get_one(tmp_path, tiny_data_root):
    with pytest.raises(UserError, match="cnnlab train --recipe mnist-seed"):
        run(EvidenceSettings(network="mnist-seed"), Context(tmp_path, tiny_data_root))


def test_registry_entries():
    assert get_entry("evidence").experiment is EXPERIMENT and get_entry("evidence").command
    mnist = get_entry("mnist-evidence")
    assert mnist.settings.network == "mnist-seed" and not mnist.command


@pytest.mark.e2e
def test_the_command_trains_what_it_needs_and_writes_results(tmp_path, tiny_data_root):
    out = tmp_path / "o"
    result = CliRunner().invoke(main, ["--data-dir", str(tiny_data_root), "evidence", "--network", "mnist-seed",
                                       "--train", "--bootstrap", "100", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "Per-class accuracy" in result.output
    saved = json.loads((out / "results.json").read_text())
    assert saved["network"]["model"] == "mnist-cnn" and saved["statement"]
    assert (out / "evidence_evaluation.png").exists() and (out / "mnist-seed" / "model.pt").exists()
