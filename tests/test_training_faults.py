"""Training under faults: NaN/inf stops in both engines (epoch and batch named, finished epochs and their weights
kept), labels out of range, Ctrl-C (the model is that of the last finished epoch, also when Ctrl-C arrives during a
checkpoint write), resume with more epochs (a one-cycle schedule re-planned), checkpoints that cannot carry code."""

from __future__ import annotations

import os
import signal
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from cnnlab import numpy_nn
from cnnlab.training import TrainingDiverged, fit, load_checkpoint
from cnnlab.training.checkpoints import CHECKPOINT_NAME, CheckpointError, save_checkpoint

ENGINES = ["torch", "numpy"]
BATCHES = 4  # 64 samples in batches of 16


def blobs(n: int = 64, seed: int = 0, noisy: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Two classes of tiny 1x2x2 'images' (class = sign of the pixel sum); ``noisy`` flips every third label, so
    the loss never reaches 0 and a huge learning rate really diverges."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(0, 0.5, (n, 1, 2, 2)) + np.where(y == 1, 1.0, -1.0)[:, None, None, None]
    if noisy:
        y[::3] = 1 - y[::3]
    return x.astype(np.float32), y.astype(np.int64)


def kit(engine: str, lr: float = 0.1, seed: int = 0):
    """``(model, loss, optimizer)`` of a tiny MLP in ``engine``."""
    if engine == "torch":
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        return model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    numpy_nn.init.manual_seed(seed)
    model = numpy_nn.Sequential(numpy_nn.Flatten(), numpy_nn.Linear(4, 8), numpy_nn.ReLU(), numpy_nn.Linear(8, 2))
    return model, numpy_nn.CrossEntropyLoss(), numpy_nn.SGD(model.parameters(), lr=lr, momentum=0.9)


def weights(model) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() if hasattr(v, "detach") else np.array(v)
            for k, v in model.state_dict().items()}


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]), err_msg=key)


def run(engine: str, data=None, epochs: int = 3, lr: float = 0.1, **kwargs):
    model, loss, opt = kit(engine, lr)
    history = fit(model, loss, opt, data or blobs(), epochs=epochs, batch_size=16, progress=False, seed=1, **kwargs)
    return model, history


# ------------------------------------------------------------------------------------------------ NaN / inf
@pytest.mark.parametrize("engine", ENGINES)
def test_divergence_stops_cleanly_in_both_engines(engine):
    with pytest.raises(TrainingDiverged, match=rf"training stopped: .* at epoch 1, batch \d/{BATCHES} \(learning "
                                               r"rate 1e\+30\); the 0 finished epochs are kept") as info:
        run(engine, blobs(noisy=True), lr=1e30)
    assert info.value.history.epochs == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_nan_in_epoch_2_keeps_epoch_1_and_its_weights(engine, tmp_path):
    calls = []

    def poison(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        calls.append(1)
        return batch * np.float32(np.nan) if len(calls) == BATCHES + 3 else batch

    reference, _ = run(engine, epochs=1)
    model, loss, opt = kit(engine)
    with pytest.raises(TrainingDiverged, match=rf"at epoch 2, batch 3/{BATCHES}") as info:
        fit(model, loss, opt, blobs(), epochs=3, batch_size=16, progress=False, seed=1, augment=poison,
            checkpoint_dir=tmp_path)
    if engine == "numpy":  # the NumPy engine's layers refuse NaN input: the message names the layer
        assert "NaN/inf values reached the input of 1: Linear(in_features=4" in str(info.value)
    assert info.value.history.epochs == 1
    assert_same_weights(weights(model), weights(reference))
    assert len(load_checkpoint(tmp_path)["history"]["records"]) == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_labels_out_of_range_are_named_before_training(engine):
    x, y = blobs()
    y[3] = 5
    with pytest.raises(ValueError, match=r"train_data: label 5 of image 3 is out of range for a model with 2 "
                                         r"outputs \(classes 0..1\)"):
        run(engine, (x, y))
    y[3] = -1
    with pytest.raises(ValueError, match="label -1 of image 3 is negative"):
        run(engine, (x, y))


# ------------------------------------------------------------------------------------------------ Ctrl-C
@pytest.mark.parametrize("engine", ENGINES)
def test_ctrl_c_leaves_the_model_of_the_last_finished_epoch(engine, tmp_path):
    calls = []

    def interrupt_in_epoch_3(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        calls.append(1)
        if len(calls) == 2 * BATCHES + 2:
            raise KeyboardInterrupt
        return batch

    model, history = run(engine, epochs=5, augment=interrupt_in_epoch_3, checkpoint_dir=tmp_path)
    assert history.interrupted and history.epochs == 2
    assert_same_weights(weights(model), {k: v.numpy() for k, v in load_checkpoint(tmp_path)["model"].items()})
    reference, _ = run(engine, epochs=2)
    assert_same_weights(weights(model), weights(reference))


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT to itself")
def test_ctrl_c_during_a_checkpoint_write_is_delivered_after_the_epoch_is_recorded(tmp_path, monkeypatch):
    import cnnlab.training.loop as loop

    real = loop.save_checkpoint

    def interrupted_save(path: Path, state: dict) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C right in the middle of writing epoch 1's checkpoint
        real(path, state)

    monkeypatch.setattr(loop, "save_checkpoint", interrupted_save)
    model, history = run("torch", epochs=3, checkpoint_dir=tmp_path)
    assert history.interrupted and history.epochs == 1
    saved = load_checkpoint(tmp_path)
    assert len(saved["history"]["records"]) == 1
    assert_same_weights(weights(model), {k: v.numpy() for k, v in saved["model"].items()})


# ------------------------------------------------------------------------------------------------ resume
@pytest.mark.parametrize("engine", ENGINES)
def test_resume_with_more_epochs_stretches_a_one_cycle_schedule(engine, tmp_path):
    def schedule(optimizer, total: int):
        if engine == "torch":
            return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=total)
        return numpy_nn.OneCycleLR(optimizer, max_lr=0.1, total_steps=total)

    model, loss, opt = kit(engine)
    fit(model, loss, opt, blobs(), epochs=2, batch_size=16, progress=False, scheduler=schedule(opt, 2 * BATCHES),
        checkpoint_dir=tmp_path)
    model, loss, opt = kit(engine, seed=7)
    grown = schedule(opt, 4 * BATCHES)
    history = fit(model, loss, opt, blobs(), epochs=4, batch_size=16, progress=False, scheduler=grown,
                  checkpoint_dir=tmp_path, resume=True)
    assert [r.epoch for r in history.records] == [1, 2, 3, 4] and grown.last_epoch == 4 * BATCHES
    _, _, fresh_opt = kit(engine)
    fresh = schedule(fresh_opt, 4 * BATCHES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for step in range(1, 4 * BATCHES + 1):
            fresh.step()
            if step == 3 * BATCHES:  # the lr recorded after epoch 3 is that of the longer cycle's step 12
                assert history.records[2].lr == pytest.approx(fresh.get_last_lr()[0])
    assert history.records[3].lr == pytest.approx(fresh.get_last_lr()[0])


def test_resume_to_fewer_epochs_than_finished_is_refused(tmp_path):
    run("numpy", epochs=2, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="the checkpoint has already finished 2 epochs"):
        run("numpy", epochs=1, checkpoint_dir=tmp_path, resume=True)


# ------------------------------------------------------------------------------------------------ checkpoints
class _Planted:
    """Unpickling this creates the file ``marker`` (stands for any code a planted pickle could run)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _checkpoint_file(folder: Path, content: bytes | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CHECKPOINT_NAME
    if content is not None:
        path.write_bytes(content)
    return path


def test_a_planted_pickle_in_a_checkpoint_is_never_executed(tmp_path):
    marker = tmp_path / "EXECUTED"
    path = _checkpoint_file(tmp_path / "run")
    torch.save({"format": "cnnlab-checkpoint/2", "model": _Planted(marker)}, path)
    with pytest.raises(CheckpointError, match="it was not loaded, as that could run code") as info:
        load_checkpoint(tmp_path / "run")
    assert not marker.exists()
    assert str(path) in str(info.value) and "--overwrite" in str(info.value)


def test_a_checkpoint_of_cnnlab_0_1_is_refused_with_a_reason(tmp_path):
    path = _checkpoint_file(tmp_path)
    torch.save({"model": {"w": np.zeros(3)}, "rng": np.random.default_rng(0).bit_generator.state}, path)
    with pytest.raises(CheckpointError, match=r"a checkpoint of cnnlab 0\.1, or not a cnnlab checkpoint"):
        load_checkpoint(path)
    torch.save({"model": {}, "optimizer": {}, "history": {"records": []}}, path)  # plain values, but no format mark
    with pytest.raises(CheckpointError, match="is not a checkpoint of this cnnlab version"):
        load_checkpoint(path)


@pytest.mark.parametrize(("content", "problem"), [
    (b"", "the file is empty"),
    (b"PK\x03\x04" + bytes(60), "damaged or not a checkpoint"),
    (bytes(range(256)) * 8, "damaged or not a checkpoint"),
])
def test_damaged_checkpoints_are_one_clear_error(tmp_path, content, problem):
    path = _checkpoint_file(tmp_path, content)
    with pytest.raises(CheckpointError, match=problem) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_a_truncated_checkpoint_is_refused(tmp_path):
    run("torch", epochs=1, checkpoint_dir=tmp_path)
    path = tmp_path / CHECKPOINT_NAME
    path.write_bytes(path.read_bytes()[:700])
    with pytest.raises(CheckpointError, match=f"{path}: is damaged or not a checkpoint"):
        load_checkpoint(path)


def test_numpy_engine_checkpoints_hold_tensors_and_plain_values_only(tmp_path):
    run("numpy", epochs=1, checkpoint_dir=tmp_path)
    state = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)  # would refuse anything else
    assert all(isinstance(v, torch.Tensor) for v in state["model"].values())
    assert all(isinstance(v, torch.Tensor) for entry in state["optimizer"]["state"].values() for v in entry.values())
    assert isinstance(state["numpy_nn_rng"]["state"]["state"], int)


def test_concurrent_checkpoint_writers_never_leave_an_unloadable_file(tmp_path):
    model, _, opt = kit("torch")
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": None,
             "history": {"records": []}, "rng": np.random.default_rng(0).bit_generator.state}
    path = tmp_path / CHECKPOINT_NAME
    save_checkpoint(path, state)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(15):
                save_checkpoint(path, state)
        except BaseException as error:
            errors.append(error)

    writers = [threading.Thread(target=write) for _ in range(3)]
    for thread in writers:
        thread.start()
    loads = 0
    while any(thread.is_alive() for thread in writers):
        load_checkpoint(path)
        loads += 1
    for thread in writers:
        thread.join()
    assert errors == [] and loads > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_NAME]  # no temporary file left


def test_nothing_in_src_loads_with_weights_only_false():
    src = Path(__file__).parents[1] / "src"
    offenders = [str(p) for p in src.rglob("*.py") if "weights_only=False" in p.read_text()]
    assert offenders == []


def test_a_checkpoint_of_another_network_is_refused_naming_the_file(tmp_path):
    run("numpy", epochs=1, checkpoint_dir=tmp_path)
    numpy_nn.init.manual_seed(0)
    other = numpy_nn.Sequential(numpy_nn.Flatten(), numpy_nn.Linear(4, 3), numpy_nn.ReLU(), numpy_nn.Linear(3, 2))
    with pytest.raises(CheckpointError, match=f"{tmp_path / CHECKPOINT_NAME}: the checkpoint does not fit this "
                                              "network and optimizer"):
        fit(other, numpy_nn.CrossEntropyLoss(), numpy_nn.SGD(other.parameters(), lr=0.1), blobs(), epochs=2,
            batch_size=16, progress=False, checkpoint_dir=tmp_path, resume=True)
