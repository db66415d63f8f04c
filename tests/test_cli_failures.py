"""Every expected failure of the command line is one clear line naming what and where: exit 1 (2 for usage errors,
130 for Ctrl-C), never a traceback -- unless ``--debug`` asks for it. Run folders are never silently reused, a
resumed run keeps its settings, Ctrl-C keeps the last finished epoch, and nothing a user could be handed is
unpickled."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cnnlab.cli import main
from cnnlab.models import build_model
from cnnlab.training import TrainConfig, load_checkpoint, train_model

SRC = str(Path(__file__).parents[1] / "src")


def invoke(*args: str, **kwargs):
    return CliRunner().invoke(main, list(args), env={"CNNLAB_DATA": "", "CNNLAB_DATA_MIRRORS": "http://127.0.0.1:9/"},
                              **kwargs)


def assert_one_clear_failure(result, code: int, *needles: str) -> None:
    """Exit ``code``, no traceback (nor "Aborted!"), and every needle in the output."""
    out = result.output
    assert result.exit_code == code, out
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in out and "Aborted!" not in out, out
    for needle in needles:
        assert needle in out, f"{needle!r} not in {out!r}"


class _Planted:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A finished one-epoch NumPy-engine MLP run (lr 0.01, batch 8), trained on random arrays."""
    folder = tmp_path_factory.mktemp("finished") / "run"
    rng = np.random.default_rng(0)
    data = (rng.random((16, 1, 28, 28), dtype=np.float32), (np.arange(16) % 10).astype(np.int64))
    train_model(TrainConfig(model="mnist-mlp", engine="numpy", epochs=1, batch_size=8, lr=0.01), folder,
                arrays={"train": data, "val": data, "test": data}, progress=False)
    return folder


def copy_run(run: Path, to: Path) -> Path:
    import shutil

    shutil.copytree(run, to)
    return to


def weights_folder(tmp_path: Path, model: str, weights_of: str | None = None) -> Path:
    """A 'cnnlab train' folder whose config names ``model`` and whose model.pt holds ``weights_of``'s weights."""
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model": model}))
    torch.save(build_model(weights_of or model, "torch").state_dict(), folder / "model.pt")
    return folder


# ------------------------------------------------------------------------------------------------ usage errors
@pytest.mark.parametrize(("args", "needle"), [
    (["train", "--resume"], "--resume needs --out"),
    (["train", "--resume", "--overwrite", "--out", "{tmp}/o"], "choose one"),
    (["train", "--seed", "-1"], "--seed"),
    (["train", "--lr", "nan"], "--lr must be a finite number"),
    (["train", "--out", "{tmp}/afile"], "is a file"),
    (["run", "--seed", str(2**32)], "--seed"),
    (["conv-output", "--input", "28", "--kernel", "3", "--stride", "0"], "--stride must be positive"),
    (["xcorr1d", "--x", "1e200,1e200,1,1"], "overflows float64"),
    (["xcorr1d", "--lr", "1e307"], "overflows float64"),
    (["featuremaps", "--weights", "{tmp}/nope"], "does not exist"),
])
def test_usage_errors_exit_2(args, needle, tmp_path):
    (tmp_path / "afile").write_text("x")
    result = invoke(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert_one_clear_failure(result, 2, needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # nothing written


# ------------------------------------------------------------------------------------------------ failures
def test_resume_without_a_checkpoint(tmp_path):
    assert_one_clear_failure(invoke("train", "--resume", "--out", str(tmp_path)), 1,
                             f"no checkpoint at {tmp_path / 'checkpoints' / 'checkpoint.pt'}")


def test_out_below_a_file(tmp_path, tiny_data_root):
    (tmp_path / "afile").write_text("x")
    result = invoke("--data-dir", str(tiny_data_root), "train", "--out", str(tmp_path / "afile" / "run"))
    assert_one_clear_failure(result, 1, str(tmp_path / "afile" / "run"), "a part of the path is a file")


def test_weights_of_another_network(tmp_path, tiny_data_root):
    folder = weights_folder(tmp_path, "lenet", weights_of="mnist-cnn")
    result = invoke("--data-dir", str(tiny_data_root), "featuremaps", "--weights", str(folder), "--out",
                    str(tmp_path / "o"), "--no-progress")
    assert_one_clear_failure(result, 1, f"{folder / 'model.pt'}: these are not the weights of a lenet")


def test_truncated_weights(tmp_path, tiny_data_root):
    folder = weights_folder(tmp_path, "lenet")
    (folder / "model.pt").write_bytes((folder / "model.pt").read_bytes()[:300])
    result = invoke("--data-dir", str(tiny_data_root), "featuremaps", "--weights", str(folder), "--out",
                    str(tmp_path / "o"), "--no-progress")
    assert_one_clear_failure(result, 1, f"{folder / 'model.pt'}: damaged or not a weights file")


def test_planted_pickle_weights_are_not_executed(tmp_path, tiny_data_root):
    folder = weights_folder(tmp_path, "lenet")
    marker = tmp_path / "EXECUTED"
    torch.save({"conv1.weight": _Planted(marker)}, folder / "model.pt")
    result = invoke("--data-dir", str(tiny_data_root), "featuremaps", "--weights", str(folder), "--out",
                    str(tmp_path / "o"), "--no-progress")
    assert_one_clear_failure(result, 1, "it was not loaded, as that could run code")
    assert not marker.exists()


def test_config_that_is_not_json(tmp_path, tiny_data_root):
    folder = weights_folder(tmp_path, "lenet")
    (folder / "config.json").write_text("{oops")
    result = invoke("--data-dir", str(tiny_data_root), "featuremaps", "--weights", str(folder), "--out",
                    str(tmp_path / "o"))
    assert_one_clear_failure(result, 1, f"{folder / 'config.json'} is not a cnnlab training config")


def test_a_finished_run_is_not_silently_replaced(finished_run, tmp_path, tiny_data_root):
    run = copy_run(finished_run, tmp_path / "run")
    before = (run / "model.pt").read_bytes()
    result = invoke("--data-dir", str(tiny_data_root), "train", "--recipe", "mlp-seed", "--out", str(run))
    assert_one_clear_failure(result, 1, f"--out {run} already holds a finished training run", "--resume",
                             "--overwrite")
    assert (run / "model.pt").read_bytes() == before


def test_resume_refuses_changed_settings_naming_both_values(finished_run, tmp_path):
    run = copy_run(finished_run, tmp_path / "run")
    result = invoke("train", "--resume", "--out", str(run), "--lr", "0.5", "--batch-size", "7")
    assert_one_clear_failure(result, 2, "--lr 0.5 (the run: 0.01)", "--batch-size 7 (the run: 8)",
                             "only --epochs may grow")
    result = invoke("train", "--resume", "--out", str(run), "--recipe", "cifar-lenet")
    assert_one_clear_failure(result, 2, "--recipe cifar-lenet trains a lenet, but the run in")


@pytest.mark.parametrize(("content", "needle"), [(b"", "the file is empty"),
                                                 (b"\x80\x02garbage", "is damaged or not a checkpoint"),
                                                 (None, "it was not loaded, as that could run code")])
def test_resume_from_a_bad_checkpoint(finished_run, tmp_path, content, needle):
    run = copy_run(finished_run, tmp_path / "run")
    checkpoint = run / "checkpoints" / "checkpoint.pt"
    marker = tmp_path / "EXECUTED"
    if content is None:
        torch.save({"format": "cnnlab-checkpoint/2", "model": _Planted(marker)}, checkpoint)
    else:
        checkpoint.write_bytes(content)
    result = invoke("train", "--resume", "--epochs", "2", "--out", str(run))
    assert_one_clear_failure(result, 1, str(checkpoint), needle)
    assert not marker.exists()


def test_a_folder_in_use_by_another_process(tmp_path, tiny_data_root):
    code = ("import sys, time; from cnnlab.files import FolderLock; FolderLock(sys.argv[1]).acquire(); "
            "print('ready', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                            env={"PYTHONPATH": SRC, "PATH": ""})
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        result = invoke("--data-dir", str(tiny_data_root), "train", "--out", str(tmp_path))
    finally:
        proc.kill()
        proc.wait()
    assert_one_clear_failure(result, 1, f"--out {tmp_path} is in use by another cnnlab process")


@pytest.mark.parametrize(("error", "needle"), [
    (OSError(errno.ENOSPC, "No space left on device", "model.pt"), "model.pt: the disk is full"),
    (PermissionError(errno.EACCES, "Permission denied", "model.pt"), "model.pt: permission denied"),
])
def test_disk_full_and_permission_denied(error, needle, tmp_path, tiny_data_root, monkeypatch):
    import cnnlab.training.run as run

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(run, "load_data", fail)
    result = invoke("--data-dir", str(tiny_data_root), "train", "--out", str(tmp_path))
    assert_one_clear_failure(result, 1, needle)


def test_ctrl_c_outside_training_exits_130(tmp_path, tiny_data_root, monkeypatch):
    import cnnlab.training.run as run

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "load_data", interrupt)
    result = invoke("--data-dir", str(tiny_data_root), "train", "--out", str(tmp_path))
    assert_one_clear_failure(result, 130, "interrupted (Ctrl-C)")


def test_a_bug_is_one_line_pointing_at_debug_and_debug_shows_it(tmp_path, tiny_data_root, monkeypatch):
    import cnnlab.training.run as run

    def bug(*args, **kwargs):
        raise TypeError("unsupported operand")

    monkeypatch.setattr(run, "load_data", bug)
    result = invoke("--data-dir", str(tiny_data_root), "train", "--out", str(tmp_path / "a"))
    assert_one_clear_failure(result, 1, "internal error: TypeError: unsupported operand", "cnnlab --debug")
    debug = invoke("--debug", "--data-dir", str(tiny_data_root), "train", "--out", str(tmp_path / "b"))
    assert isinstance(debug.exception, TypeError)  # the real command prints its traceback


# ------------------------------------------------------------------------------------------------ whole runs
TRAIN = ["train", "--recipe", "mlp-seed", "--max-datapoints", "40", "--batch-size", "8", "--no-progress"]


@pytest.mark.e2e
def test_ctrl_c_saves_the_last_finished_epoch_and_says_so(tmp_path, tiny_data_root, monkeypatch):
    import cnnlab.training.loop as loop

    real, calls = loop._train_epoch, []

    def interrupt_in_epoch_2(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "_train_epoch", interrupt_in_epoch_2)
    result = invoke("--data-dir", str(tiny_data_root), *TRAIN, "--epochs", "3", "--out", str(tmp_path))
    assert_one_clear_failure(result, 130, "interrupted (Ctrl-C) after 1 of 3 epochs: model.pt and results.json hold "
                                          "epoch 1", f"--resume --out {tmp_path}")
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["interrupted"] and saved["model_epoch"] == 1 and len(saved["history"]["records"]) == 1
    model = torch.load(tmp_path / "model.pt", weights_only=True)
    for key, value in load_checkpoint(tmp_path / "checkpoints")["model"].items():
        torch.testing.assert_close(model[key], value, rtol=0, atol=0)
    monkeypatch.setattr(loop, "_train_epoch", real)
    resumed = invoke("--data-dir", str(tiny_data_root), "train", "--resume", "--out", str(tmp_path), "--no-progress")
    assert resumed.exit_code == 0, resumed.output
    assert [r["epoch"] for r in json.loads((tmp_path / "results.json").read_text())["history"]["records"]] == [1, 2, 3]


@pytest.mark.e2e
def test_resume_grows_a_one_cycle_run_and_overwrite_replaces_it(tmp_path, tiny_data_root):
    args = ["--data-dir", str(tiny_data_root), *TRAIN, "--schedule", "onecycle", "--out", str(tmp_path)]
    assert invoke(*args, "--epochs", "1").exit_code == 0
    grown = invoke("--data-dir", str(tiny_data_root), "train", "--resume", "--epochs", "3", "--out", str(tmp_path),
                   "--no-progress")
    assert grown.exit_code == 0, grown.output
    assert json.loads((tmp_path / "config.json").read_text())["epochs"] == 3
    assert len(json.loads((tmp_path / "results.json").read_text())["history"]["records"]) == 3
    again = invoke(*args, "--epochs", "1", "--overwrite")
    assert again.exit_code == 0, again.output
    assert len(json.loads((tmp_path / "results.json").read_text())["history"]["records"]) == 1


@pytest.mark.e2e
def test_divergence_is_one_line_naming_epoch_and_batch(tmp_path, tiny_data_root):
    result = invoke("--data-dir", str(tiny_data_root), *TRAIN, "--lr", "1e30", "--epochs", "2", "--out",
                    str(tmp_path))
    assert_one_clear_failure(result, 1, "training stopped: NaN/inf values reached", "epoch 1, batch",
                             "start again with --overwrite")


@pytest.mark.parametrize("command", [["xcorr1d"], ["run", "--only", "xcorr1d", "--no-progress"]],
                         ids=["experiment", "run"])
def test_other_commands_refuse_an_earlier_result_unless_overwrite(command, tmp_path):
    assert invoke(*command, "--out", str(tmp_path)).exit_code == 0
    before = (tmp_path / "results.json").read_text()
    refused = invoke(*command, "--out", str(tmp_path))
    assert_one_clear_failure(refused, 1, f"--out {tmp_path} already holds the results of an earlier command; "
                                         "replace it with --overwrite")
    assert (tmp_path / "results.json").read_text() == before
    assert invoke(*command, "--out", str(tmp_path), "--overwrite").exit_code == 0
