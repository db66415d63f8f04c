"""Data-parallel training under torchrun: two CPU processes (gloo) train, resume and test exactly like one process
with the same global batch, rank 0 alone writes and prints, and what cannot run distributed is a usage error."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

import cnnlab
from cnnlab.cli import main
from cnnlab.training.distributed import World, share_of_cores
from cnnlab.training.loop import _TorchSteps

WORKER = Path(__file__).with_name("distributed_worker.py")
#: The assignment's CIFAR-10 recipe (crop+flip augmentation, one-cycle, momentum, weight decay) on 50 training images in
#: batches of 21 (21, 21, 8: shares of 10/11 and 4/4 images), validated on 101 (shares 50/51) and tested on 60.
TRAIN = ["train", "--recipe", "cifar-lenet", "--max-datapoints", "101", "--batch-size", "21", "--no-progress"]
TORCHRUN_LIMIT_S = 300


def torchrun(tmp_path: Path, name: str, data_root: Path, out: Path, *args: str) -> Path:
    """``cnnlab --data-dir data_root TRAIN args --out out`` in 2 CPU processes; the folder of their logs."""
    logs = tmp_path / f"logs-{name}"
    logs.mkdir()
    env = {key: value for key, value in os.environ.items()
           if key not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env.update(PYTHONPATH=os.pathsep.join([str(Path(cnnlab.__file__).parents[1]), env.get("PYTHONPATH", "")]),
               CNNLAB_DIST_TIMEOUT="60", OMP_NUM_THREADS="1", CNNLAB_THREADS="1", MPLBACKEND="Agg")
    # --standalone: a rendezvous on localhost at a port the system picks free, so parallel tests never collide
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               str(WORKER), str(logs), str(out), "--data-dir", str(data_root), *TRAIN, *args, "--out", str(out)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        output, _ = process.communicate(timeout=TORCHRUN_LIMIT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # torchrun and its workers: the session started for them
        output, _ = process.communicate()
        pytest.fail(f"torchrun did not finish within {TORCHRUN_LIMIT_S} s:\n{output[-3000:]}")
    ranks = "\n".join(f"--- {path.name}\n{path.read_text()[-1500:]}" for path in sorted(logs.iterdir()))
    assert process.returncode == 0, f"{output[-3000:]}\n{ranks}"
    return logs


def single(data_root: Path, out: Path, *args: str) -> None:
    result = CliRunner().invoke(main, ["--data-dir", str(data_root), *TRAIN, *args, "--out", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output


def results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


def assert_same_run(one: Path, two: Path) -> None:
    a, b = results(one), results(two)
    assert a["config"] == b["config"]
    assert len(a["history"]["records"]) == len(b["history"]["records"])
    for ra, rb in zip(a["history"]["records"], b["history"]["records"], strict=True):
        assert (ra["epoch"], ra["train_acc"], ra["val_acc"], ra["lr"]) == (rb["epoch"], rb["train_acc"], rb["val_acc"],
                                                                           rb["lr"])
        assert rb["train_loss"] == pytest.approx(ra["train_loss"], rel=1e-5)
        assert rb["val_loss"] == pytest.approx(ra["val_loss"], rel=1e-5)
    assert (a["test_acc"], a["test_size"]) == (b["test_acc"], b["test_size"])
    assert b["test_loss"] == pytest.approx(a["test_loss"], rel=1e-5)
    wa, wb = (torch.load(out / "model.pt", weights_only=True) for out in (one, two))
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wb[key], wa[key], rtol=1e-5, atol=1e-6, msg=key)


def assert_rank0_alone_wrote_and_spoke(logs: Path) -> None:
    writes = {rank: json.loads((logs / f"rank-{rank}.writes.json").read_text()) for rank in (0, 1)}
    assert any(path.endswith("model.pt") for _, path in writes[0]), writes[0]  # the hook sees rank 0's writes
    assert writes[1] == []
    assert "test accuracy" in (logs / "rank-0.stdout").read_text()
    assert (logs / "rank-1.stdout").read_text() == ""
    assert (logs / "rank-1.stderr").read_text() == ""


@pytest.mark.e2e
def test_two_processes_train_and_resume_exactly_like_one(tmp_path, tiny_data_root):
    alone, together = tmp_path / "alone", tmp_path / "together"
    single(tiny_data_root, alone, "--epochs", "1")
    logs = torchrun(tmp_path, "first", tiny_data_root, together, "--epochs", "1")
    assert_same_run(alone, together)
    assert_rank0_alone_wrote_and_spoke(logs)
    assert sorted(p.name for p in together.iterdir()) == sorted(p.name for p in alone.iterdir())

    single(tiny_data_root, alone, "--epochs", "2", "--resume")
    logs = torchrun(tmp_path, "resumed", tiny_data_root, together, "--epochs", "2", "--resume")
    assert [r["epoch"] for r in results(together)["history"]["records"]] == [1, 2]
    assert_same_run(alone, together)
    assert_rank0_alone_wrote_and_spoke(logs)


# --- the gradient of shares -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("batch", "ranks"), [(7, 3), (8, 2), (2, 3)])
def test_weighted_shares_average_to_the_whole_batch_gradient(batch, ranks):
    """What DDP does with the ranks' gradients (their mean) gives the single-process gradient of the whole batch,
    for uneven shares and for ranks whose share is empty."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(batch, 1, 2, 2)).astype(np.float32), rng.integers(0, 3, batch)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))

    def gradients(xs: np.ndarray, ys: np.ndarray, weight: float) -> list[torch.Tensor]:
        steps = _TorchSteps(net, nn.CrossEntropyLoss(), "cpu")
        steps.train_step(torch.optim.SGD(net.parameters(), lr=0.0), xs, ys, weight=weight)
        return [p.grad.clone() for p in net.parameters()]

    whole = gradients(x, y, 1.0)
    shares = [World(rank, ranks).shard(batch) for rank in range(ranks)]
    assert sorted(i for s in shares for i in range(batch)[s]) == list(range(batch))
    assert max(s.stop - s.start for s in shares) - min(s.stop - s.start for s in shares) <= 1
    per_rank = [gradients(x[s], y[s], ranks * len(y[s]) / batch) for s in shares]
    for index, expected in enumerate(whole):
        torch.testing.assert_close(sum(g[index] for g in per_rank) / ranks, expected, rtol=1e-5, atol=1e-7)


# --- what torchrun cannot run ---------------------------------------------------------------------------------------
@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """This process as rank 0 of two started by torchrun (no process group is joined: the refusals come first)."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    return monkeypatch


@pytest.mark.parametrize(("args", "message"), [
    (["train", "--engine", "numpy"], "the NumPy engine does not run distributed"),
    (["train", "--recipe", "mnist-seed"], "the NumPy engine does not run distributed"),
    (["train", "--engine", "torch", "--batch-size", "1"], "shared by the 2 processes, so it needs at least 2"),
    (["train", "--engine", "torch", "--seeds", "0,1"], "--seeds starts one process per seed itself"),
    (["run", "--quick"], "only `cnnlab train` (torch engines) trains data-parallel"),
    (["conv-output", "--input", "28", "--kernel", "3"], "run `cnnlab conv-output` as one process"),
])
def test_what_cannot_run_distributed_is_a_usage_error(args, message, launched, tmp_path):
    launched.chdir(tmp_path)
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_other_ranks_leave_usage_errors_to_rank_0(launched, tmp_path):
    launched.setenv("RANK", "1")
    launched.setattr("cnnlab.training.distributed.PEER_GRACE_SECONDS", 0.0)
    result = CliRunner().invoke(main, ["train", "--engine", "numpy", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and result.output == ""


def test_processes_on_one_machine_share_its_cores(launched):
    launched.setenv("LOCAL_WORLD_SIZE", "2")
    assert [share_of_cores(n) for n in (1, 2, 5)] == [1, 1, 2]
    launched.setenv("WORLD_SIZE", "1")
    assert share_of_cores(4) == 4
