"""A run folder belongs to one run: the lock (held by another process, released when it dies), refusing an earlier
run, --overwrite, resume keeping the run's settings, atomic writes and the clean-up of a killed writer's files."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from cnnlab.files import atomic_write, owned_temp_file, remove_stale_temps, write_text_atomic
from cnnlab.training import TrainConfig, train_model
from cnnlab.training.folders import FolderInUseError, RunExistsError, claim_folder, earlier_run
from cnnlab.training.run import ResumeConflictError, resume_config

SRC = str(Path(__file__).parents[1] / "src")


@contextmanager
def held_by_another_process(code: str, *args: str) -> Iterator[subprocess.Popen]:
    """Run ``code`` (which prints ``ready`` once it holds what it should) in another Python process; kill -9 it at
    the end of the block."""
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True,
                            env={"PYTHONPATH": SRC, "PATH": ""})
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        proc.kill()
        proc.wait()


HOLD_LOCK = ("import sys, time; from cnnlab.files import FolderLock; FolderLock(sys.argv[1]).acquire(); "
             "print('ready', flush=True); time.sleep(60)")


def test_a_folder_held_by_another_process_is_refused_and_freed_when_it_dies(tmp_path):
    with held_by_another_process(HOLD_LOCK, str(tmp_path)), pytest.raises(FolderInUseError) as info, \
            claim_folder(tmp_path):
        pass
    assert f"--out {tmp_path} is in use by another cnnlab process" in str(info.value)
    with claim_folder(tmp_path):  # kill -9 released the lock: no stale lock to delete by hand
        pass
    assert list(tmp_path.iterdir()) == []  # the lock file goes with its holder


def test_an_earlier_run_is_refused_then_resumed_or_overwritten(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "checkpoint.pt").write_bytes(b"x")
    (tmp_path / "model.pt").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("mine")
    assert earlier_run(tmp_path) == "a finished training run"
    with pytest.raises(RunExistsError, match="already holds a finished training run; continue it with --resume or "
                                             "replace it with --overwrite"), claim_folder(tmp_path):
        pass
    with claim_folder(tmp_path, resume=True):
        assert (tmp_path / "model.pt").exists()
    with claim_folder(tmp_path, overwrite=True):
        assert sorted(p.name for p in tmp_path.iterdir()) == [".cnnlab.lock", "notes.txt"]  # only cnnlab's files go


def test_results_of_another_command_are_refused_without_resume(tmp_path):
    (tmp_path / "results.json").write_text("{}")
    with pytest.raises(RunExistsError, match="the results of an earlier command; replace it with --overwrite"), \
            claim_folder(tmp_path, resumable=False):
        pass


def test_nested_claims_share_the_lock(tmp_path):
    with claim_folder(tmp_path, overwrite=True):
        (tmp_path / "model.pt").write_bytes(b"x")
        with claim_folder(tmp_path):  # the training a command runs: the command has already decided
            pass


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = write_text_atomic(tmp_path / "results.json", "old")

    def fail(file) -> None:
        file.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left") as info:
        atomic_write(path, fail)
    assert info.value.filename == str(path)  # the CLI's message names the file
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_temporary_files_of_a_killed_writer_are_removed_but_not_live_ones(tmp_path):
    code = ("import sys; from pathlib import Path; from cnnlab.files import owned_temp_file; "
            "cm = owned_temp_file(Path(sys.argv[1]), '.f.bin.'); cm.__enter__(); print('ready', flush=True); "
            "import time; time.sleep(60)")
    with held_by_another_process(code, str(tmp_path)), owned_temp_file(tmp_path, ".f.bin.") as (mine, _):
        assert remove_stale_temps(tmp_path, ".f.bin.*.part") == []  # both writers alive
    with owned_temp_file(tmp_path, ".f.bin.") as (mine, _):
        removed = remove_stale_temps(tmp_path, ".f.bin.*.part")
        assert len(removed) == 1 and removed[0] != mine and mine.exists()
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------ train_model
def _arrays(n: int = 24) -> dict:
    rng = np.random.default_rng(0)
    x = rng.random((n, 1, 28, 28), dtype=np.float32)
    y = (np.arange(n) % 10).astype(np.int64)
    return {split: (x, y) for split in ("train", "val", "test")}


CONFIG = TrainConfig(model="mnist-mlp", engine="numpy", epochs=1, batch_size=8, lr=0.01)


def test_train_model_refuses_a_finished_run_and_replaces_it_only_when_asked(tmp_path):
    first = train_model(CONFIG, tmp_path, arrays=_arrays(), progress=False)
    with pytest.raises(RunExistsError, match="--resume or replace it with --overwrite"):
        train_model(CONFIG, tmp_path, arrays=_arrays(), progress=False)
    second = train_model(CONFIG, tmp_path, arrays=_arrays(), progress=False, overwrite=True)
    assert second.history.epochs == 1 and first.files["model"] == second.files["model"]


def test_resume_keeps_the_runs_settings_and_names_each_conflict(tmp_path):
    train_model(CONFIG, tmp_path, arrays=_arrays(), progress=False)
    with pytest.raises(ResumeConflictError) as info:
        resume_config(tmp_path, {"lr": 0.5, "batch_size": 7, "epochs": 3})
    assert "--lr 0.5 (the run: 0.01)" in str(info.value) and "--batch-size 7 (the run: 8)" in str(info.value)
    with pytest.raises(ValueError, match=r"--epochs must be at least 1, got 0"):  # refused by the settings alone
        resume_config(tmp_path, {"epochs": 0})
    config, finished = resume_config(tmp_path, {"epochs": 3, "lr": None})
    assert finished == 1 and config == TrainConfig(**{**CONFIG.to_dict(), "epochs": 3})
    with pytest.raises(ResumeConflictError, match=r"--lr 0\.5"):
        train_model(TrainConfig(**{**CONFIG.to_dict(), "lr": 0.5}), tmp_path, arrays=_arrays(), progress=False,
                    resume=True)
    result = train_model(config, tmp_path, arrays=_arrays(), progress=False, resume=True)
    assert [r.epoch for r in result.history.records] == [1, 2, 3]
    assert json.loads((tmp_path / "config.json").read_text())["epochs"] == 3  # the run now has 3 epochs


def test_resume_cannot_shrink_a_run_below_its_finished_epochs(tmp_path):
    train_model(TrainConfig(**{**CONFIG.to_dict(), "epochs": 2}), tmp_path, arrays=_arrays(), progress=False)
    with pytest.raises(ResumeConflictError, match=r"--epochs 1: the run in .* has already finished 2 epochs"):
        resume_config(tmp_path, {"epochs": 1})


def test_a_writer_killed_mid_write_leaves_a_temporary_file_that_the_next_write_removes(tmp_path):
    code = ("import sys; from pathlib import Path; from cnnlab.files import owned_temp_file; "
            "cm = owned_temp_file(Path(sys.argv[1]), '.checkpoint.pt.', '.tmp'); cm.__enter__(); "
            "print('ready', flush=True); import time; time.sleep(60)")
    with held_by_another_process(code, str(tmp_path)):
        pass  # killed with -9 in the middle of its write
    assert len(list(tmp_path.glob(".checkpoint.pt.*.tmp"))) == 1
    write_text_atomic(tmp_path / "checkpoint.pt", "new")
    assert everything(tmp_path) == ["checkpoint.pt"]


def everything(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_files_written_atomically_get_the_usual_permissions(tmp_path):
    import os

    mask = os.umask(0)
    os.umask(mask)
    assert write_text_atomic(tmp_path / "results.json", "{}").stat().st_mode & 0o777 == 0o666 & ~mask
