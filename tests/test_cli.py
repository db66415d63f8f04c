"""The command line: help everywhere, usage errors exit 2, each command writes results.json and figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cnnlab.cli import main

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


@pytest.mark.parametrize(
    "command",
    [[], ["conv-output"], ["xcorr1d"], ["train"], ["compare"], ["featuremaps"], ["equivariance"], ["run"], ["data"],
     ["data", "verify"], ["data", "show"], ["data", "download"]],
)
def test_help_everywhere(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0 and "Usage:" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--epochs", "0"],
        ["train", "--model", "resnet"],
        ["train", "--resume"],
        ["conv-output", "--input", "28"],
        ["conv-output", "--input", "a,b", "--kernel", "3"],
        ["xcorr1d", "--stride", "0"],
        ["xcorr1d", "--x", "1,2", "--w", "1,2,3"],
        ["xcorr1d", "--x", "one"],
        ["data", "verify", "imagenet"],
        ["no-such-command"],
    ],
)
def test_bad_arguments_are_usage_errors(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "Error" in result.output


def test_conv_output_query_and_table(tmp_path):
    result = invoke("conv-output", "--input", "28", "--kernel", "4", "--stride", "2", "--padding", "1", "--out",
                    str(tmp_path))
    assert result.exit_code == 0 and "your geometry: output 14" in result.output
    data = results(tmp_path)
    assert data["query"]["output_size"] == [14]
    assert any(not case["possible"] for case in data["examples"])


def test_conv_output_impossible_query_is_reported_not_crashed(tmp_path):
    result = invoke("conv-output", "--input", "4,9", "--kernel", "5", "--out", str(tmp_path))
    assert result.exit_code == 0 and "impossible: in dimension 0" in result.output


def test_xcorr1d_worked_example(tmp_path):
    result = invoke("xcorr1d", "--out", str(tmp_path))
    assert result.exit_code == 0 and "loss 200 -> 61.064" in result.output
    data = results(tmp_path)
    assert data["y_hat"] == [14, 20] and data["grad_w"] == [44, 72, 100] and data["grad_b"] == 28
    assert_png(Path(data["figures"]["windows"]))


def test_train_numpy_engine_on_tiny_mnist(tmp_path, tiny_data_root):
    out = tmp_path / "run"
    result = invoke("--data-dir", str(tiny_data_root), "train", "--recipe", "mnist-seed", "--epochs", "2",
                    "--max-datapoints", "80", "--out", str(out), "--no-progress")
    assert result.exit_code == 0, result.output
    data = results(out)
    assert data["config"]["engine"] == "numpy" and data["train_size"] == 80 and data["val_size"] == 10_000
    assert len(data["history"]["records"]) == 2 and data["test_size"] == 60
    assert 0 <= data["test_acc"] <= 1
    assert_png(out / "curves.png")
    assert (out / "model.pt").stat().st_size > 1000


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
    assert "train-images-idx3-ubyte" in result.output and str(tmp_path) in result.output


def test_data_verify_and_show(tmp_path, tiny_data_root):
    result = invoke("--data-dir", str(tiny_data_root), "data", "verify", "mnist")
    assert "train-images-idx3-ubyte" in result.output
    result = invoke("--data-dir", str(tiny_data_root), "data", "show", "cifar10", "-n", "12", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert_png(tmp_path / "cifar10-train-samples.png")


def test_featuremaps_trains_a_lenet_when_no_weights_are_given_then_reuses_them(tmp_path, tiny_data_root):
    out = tmp_path / "fm"
    result = invoke("--data-dir", str(tiny_data_root), "featuremaps", "--epochs", "1", "--out", str(out),
                    "--no-progress")
    assert result.exit_code == 0, result.output
    data = results(out)
    assert data["n_images"] == 3 and [layer["name"] for layer in data["layers"]] == ["conv1", "pool1", "conv2", "pool2"]
    for path in data["figures"].values():
        assert_png(Path(path))
    again = invoke("--data-dir", str(tiny_data_root), "featuremaps", "--weights", str(out / "lenet"), "--images", "2",
                   "--out", str(tmp_path / "fm2"), "--no-progress")
    assert again.exit_code == 0, again.output
    assert results(tmp_path / "fm2")["n_images"] == 2


def test_featuremaps_with_a_folder_that_is_not_a_run(tmp_path):
    result = invoke("featuremaps", "--weights", str(tmp_path), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1 and "model.pt not found" in result.output


def test_equivariance_on_tiny_mnist(tmp_path, tiny_data_root):
    result = invoke("--data-dir", str(tiny_data_root), "equivariance", "--epochs", "1", "--max-datapoints", "60",
                    "--max-shift", "2", "--out", str(tmp_path), "--no-progress")
    assert result.exit_code == 0, result.output
    data = results(tmp_path)
    assert set(data["accuracy"]) == {"mlp", "cnn", "mlp_augmented"}
    assert len(data["answers"]) == 3 and "Q: " in result.output
    for path in data["figures"].values():
        assert_png(Path(path))


def test_compare_own_layers_against_the_library(tmp_path, tiny_data_root):
    result = invoke("--data-dir", str(tiny_data_root), "compare", "--epochs", "1", "--n-first", "10", "--out",
                    str(tmp_path), "--no-progress")
    assert result.exit_code == 0, result.output
    data = results(tmp_path)
    assert data["linear"]["mean_after"] == 0 and data["n_first"] == 10 and data["n_test"] == 60
    own = {row["algorithm"]: row for row in data["accuracy"] if row["network"] == "own"}
    assert set(own) == {"naive", "im2col"} and all(row["max_logit_diff"] < 1e-4 for row in own.values())
    assert "own/library" in result.output


def test_data_dir_works_after_the_command_name_too(tmp_path, tiny_data_root):
    result = invoke("data", "show", "mnist", "--data-dir", str(tiny_data_root), "-n", "4", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert_png(tmp_path / "mnist-train-samples.png")
