"""The command line: help everywhere, usage errors exit 2 before anything is written, each command writes
results.json and figures, expected failures are one line (exit 1)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cnnlab.cli import main
from cnnlab.models import FAMILIES, MODELS, all_conv_algorithms, get_family
from cnnlab.registry import entries

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env={"CNNLAB_DATA": "", **(env or {})}, catch_exceptions=False)


def assert_png(path: Path, min_side: int = 100) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= min_side and height >= min_side, f"{path} is only {width}x{height}"


def results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


COMMANDS = [[], ["train"], ["run"], ["data"], ["data", "verify"], ["data", "show"], ["data", "download"],
            *([entry.name] for entry in entries() if entry.command)]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "cnnlab")
def test_help_everywhere(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0 and "Usage:" in result.output


def test_every_registered_command_is_listed():
    listed = invoke("--help").output
    for entry in entries():
        assert (f"  {entry.name} " in listed) == entry.command, entry.name


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--epochs", "0"],
        ["train", "--model", "resnet"],
        ["train", "--resume"],
        ["train", "--seed", "-1"],
        ["conv-output", "--input", "28"],
        ["conv-output", "--input", "a,b", "--kernel", "3"],
        ["conv-output", "--input", "28", "--kernel", "3", "--stride", "0"],
        ["xcorr1d", "--stride", "0"],
        ["xcorr1d", "--x", "1,2", "--w", "1,2,3"],
        ["xcorr1d", "--x", "one"],
        ["featuremaps", "--images", "0"],
        ["equivariance", "--shift", "1,2,3"],
        ["data", "verify", "imagenet"],
        ["run", "--only", "nope"],
        ["no-such-command"],
    ],
)
def test_bad_arguments_are_usage_errors_and_write_nothing(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default output folder would be ./runs/...
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "Error" in result.output
    assert list(tmp_path.iterdir()) == []


#: The assignments' networks run with every conv algorithm; the others (BatchNorm, residual blocks: the same conv
#: layers, many more multiply-adds) with each engine's default one -- the seven-loop reference would take minutes on
#: them.
SEED_MODELS = ("lenet", "mnist-cnn", "mnist-mlp")


def _combinations():
    algorithms = [None, *all_conv_algorithms()]
    for model, engine, algorithm in itertools.product(sorted(MODELS), sorted(FAMILIES), algorithms):
        valid = algorithm is None or algorithm in get_family(engine).conv_algorithms
        if valid and algorithm is not None and model not in SEED_MODELS:
            continue
        yield pytest.param(model, engine, algorithm, valid, id=f"{model}-{engine}-{algorithm}",
                           marks=[pytest.mark.e2e] if valid else [])


@pytest.mark.parametrize(("model", "engine", "algorithm", "valid"), list(_combinations()))
def test_every_engine_algorithm_model_combination_runs_or_is_a_usage_error(model, engine, algorithm, valid,
                                                                           tmp_path, tiny_data_root):
    out = tmp_path / "run"
    args = ["--data-dir", str(tiny_data_root), "train", "--model", model, "--engine", engine, "--epochs", "1",
            "--max-datapoints", "8", "--batch-size", "4", "--out", str(out), "--no-progress"]
    if algorithm is not None:
        args += ["--conv-algorithm", algorithm]
    result = CliRunner().invoke(main, args)
    if valid:
        assert result.exit_code == 0, result.output
        data = results(out)
        assert (data["config"]["model"], data["config"]["engine"]) == (model, engine)
        assert data["train_size"] == data["val_size"] == data["test_size"] == 8
    else:
        assert result.exit_code == 2, result.output
        assert "has no conv algorithm" in result.output or "uses the library's own convolution" in result.output
        assert "Traceback" not in result.output and not out.exists()


def test_conv_output_query_and_table(tmp_path):
    result = invoke("conv-output", "--input", "28", "--kernel", "4", "--stride", "2", "--padding", "1", "--out",
                    str(tmp_path))
    assert result.exit_code == 0 and "The geometry asked for" in result.output
    data = results(tmp_path)
    assert data["query"]["output_size"] == [14]
    assert any(not case["possible"] for case in data["examples"])


def test_conv_output_impossible_query_is_reported_not_crashed(tmp_path):
    result = invoke("conv-output", "--input", "4,9", "--kernel", "5", "--out", str(tmp_path))
    assert result.exit_code == 0 and "impossible" in result.output and "in dimension 0" in result.output


def test_xcorr1d_worked_example(tmp_path):
    result = invoke("xcorr1d", "--out", str(tmp_path))
    assert result.exit_code == 0 and "the loss fell from 200 to 61.064" in result.output
    data = results(tmp_path)
    assert data["y_hat"] == [14, 20] and data["grad_w"] == [44, 72, 100] and data["grad_b"] == 28
    assert_png(Path(data["figures"]["windows"]))


@pytest.mark.e2e
def test_train_numpy_engine_on_tiny_mnist(tmp_path, tiny_data_root):
    out = tmp_path / "run"
    result = invoke("--data-dir", str(tiny_data_root), "train", "--recipe", "mnist-seed", "--epochs", "2",
                    "--max-datapoints", "80", "--out", str(out), "--no-progress")
    assert result.exit_code == 0, result.output
    data = results(out)
    assert data["config"]["engine"] == "numpy" and data["train_size"] == 80 and data["val_size"] == 80
    assert len(data["history"]["records"]) == 2 and data["test_size"] == 60
    assert 0 <= data["test_acc"] <= 1
    assert_png(out / "curves.png")
    assert (out / "model.pt").stat().st_size > 1000


@pytest.mark.e2e
def test_train_resume_continues_to_more_epochs(tmp_path, tiny_data_root):
    args = ["--data-dir", str(tiny_data_root), "train", "--engine", "torch", "--max-datapoints", "100", "--out",
            str(tmp_path), "--no-progress"]
    assert invoke(*args, "--epochs", "1").exit_code == 0
    result = invoke(*args, "--epochs", "2", "--resume")
    assert result.exit_code == 0, result.output
    assert [r["epoch"] for r in results(tmp_path)["history"]["records"]] == [1, 2]


def test_missing_data_is_one_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "train", "--out", str(tmp_path / "o"),
                                       "--no-progress"], env={"CNNLAB_DATA_MIRRORS": "http://127.0.0.1:9/"})
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "train-images-idx3-ubyte" in result.output and "t10k-images-idx3-ubyte" in result.output
    assert str(tmp_path) in result.output


def test_data_verify_and_show(tmp_path, tiny_data_root):
    result = invoke("--data-dir", str(tiny_data_root), "data", "verify", "mnist")
    assert "train-images-idx3-ubyte" in result.output
    result = invoke("--data-dir", str(tiny_data_root), "data", "show", "cifar10", "-n", "12", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert_png(tmp_path / "cifar10-train-samples.png")


@pytest.mark.e2e
def test_featuremaps_trains_a_lenet_only_when_asked_then_reuses_it(tmp_path, tiny_data_root):
    out = tmp_path / "fm"
    refused = invoke("--data-dir", str(tiny_data_root), "featuremaps", "--out", str(out), "--no-progress")
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "cnnlab train --recipe cifar-lenet" in refused.output and "--train" in refused.output
    result = invoke("--data-dir", str(tiny_data_root), "featuremaps", "--train", "--out", str(out), "--no-progress")
    assert result.exit_code == 0, result.output
    data = results(out)
    assert data["n_images"] == 3 and [layer["name"] for layer in data["layers"]] == ["conv1", "pool1", "conv2", "pool2"]
    for path in data["figures"].values():
        assert_png(Path(path))
    again = invoke("--data-dir", str(tiny_data_root), "featuremaps", "--weights", str(out / "cifar-lenet"),
                   "--images", "2", "--out", str(tmp_path / "fm2"), "--no-progress")
    assert again.exit_code == 0, again.output
    assert results(tmp_path / "fm2")["n_images"] == 2


def test_featuremaps_with_a_folder_that_is_not_a_run(tmp_path):
    result = invoke("featuremaps", "--weights", str(tmp_path), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1 and "config.json not found" in result.output and "Traceback" not in result.output


@pytest.mark.e2e
def test_featuremaps_of_an_mlp_run_is_a_clear_error(tmp_path, tiny_data_root):
    run = tmp_path / "mlp"
    assert invoke("--data-dir", str(tiny_data_root), "train", "--recipe", "mlp-seed", "--epochs", "1",
                  "--max-datapoints", "20", "--out", str(run), "--no-progress").exit_code == 0
    result = invoke("--data-dir", str(tiny_data_root), "featuremaps", "--weights", str(run), "--out",
                    str(tmp_path / "o"), "--no-progress")
    assert result.exit_code == 1 and "has no convolution" in result.output and "Traceback" not in result.output


@pytest.mark.e2e
def test_equivariance_on_tiny_mnist(tmp_path, tiny_data_root):
    result = invoke("--data-dir", str(tiny_data_root), "equivariance", "--train", "--max-shift", "2",
                    "--val-max-datapoints", "200", "--out", str(tmp_path), "--no-progress")
    assert result.exit_code == 0, result.output
    data = results(tmp_path)
    assert set(data["accuracy"]) == {"mlp", "cnn", "mlp_augmented"}
    assert len(data["answers"]) == 3 and "Q: " in result.output
    for path in data["figures"].values():
        assert_png(Path(path))


@pytest.mark.e2e
def test_compare_own_layers_against_the_library(tmp_path, tiny_data_root):
    result = invoke("--data-dir", str(tiny_data_root), "compare", "--train", "--n-first", "10", "--repeats", "1",
                    "--out", str(tmp_path), "--no-progress")
    assert result.exit_code == 0, result.output
    data = results(tmp_path)
    assert data["linear"]["mean_after"] == 0 and data["n_first"] == 10 and data["n_test"] == 60
    own = {row["algorithm"]: row for row in data["accuracy"] if row["network"] == "own"}
    assert set(own) == {"naive", "im2col"} and all(row["max_logit_diff"] < 1e-4 for row in own.values())
    assert "own / torch.nn" in result.output


def test_compare_with_weights_of_another_network_names_both(tmp_path, tiny_data_root):
    run = tmp_path / "cnn"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"model": "mnist-cnn"}))
    result = invoke("--data-dir", str(tiny_data_root), "compare", "--weights", str(run), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1 and "trained a mnist-cnn" in result.output and "needs a lenet" in result.output


def test_data_show_draws_as_many_images_as_asked(tmp_path, tiny_data_root, monkeypatch):
    import cnnlab.plots.samples as samples

    drawn = {}
    real = samples.plot_samples

    def spy(images, labels, path, **kwargs):
        drawn.update(n=kwargs.get("n"), images=len(images), title=kwargs.get("title"))
        return real(images, labels, path, **kwargs)

    monkeypatch.setattr(samples, "plot_samples", spy)
    result = invoke("--data-dir", str(tiny_data_root), "data", "show", "cifar10", "-n", "40", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert drawn == {"n": 40, "images": 40, "title": "cifar10 train: first 40 images"}


def test_data_dir_works_after_the_command_name_too(tmp_path, tiny_data_root):
    result = invoke("data", "show", "mnist", "--data-dir", str(tiny_data_root), "-n", "4", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert_png(tmp_path / "mnist-train-samples.png")
