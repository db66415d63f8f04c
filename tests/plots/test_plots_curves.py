"""Training curves from a History, from a mapping, several runs overlaid; bad input rejected."""

from __future__ import annotations

import pytest

from cnnlab.plots.curves import plot_histories, plot_history
from cnnlab.training import EpochRecord, History


def make_history(epochs: int = 4, with_val: bool = True) -> History:
    records = [EpochRecord(epoch=e + 1, train_loss=2.0 / (e + 1), train_acc=0.5 + 0.1 * e,
                           val_loss=2.2 / (e + 1) if with_val else None, val_acc=0.45 + 0.1 * e if with_val else None,
                           lr=0.01, seconds=0.1) for e in range(epochs)]
    return History(records)


def test_history_object(tmp_path, check_png):
    path = plot_history(make_history(), tmp_path / "curves.png", title="MNIST CNN")
    width, height = check_png(path)
    assert width > height  # loss and accuracy side by side


def test_mapping_and_missing_validation(tmp_path, check_png):
    history = {"train_loss": [1.0, 0.5, 0.25], "train_acc": [0.6, 0.8, 0.9]}  # no val lists at all
    check_png(plot_history(history, tmp_path / "a.png"))
    check_png(plot_history(make_history(with_val=False), tmp_path / "b.png"))  # val lists of None
    check_png(plot_history({"train_loss": [1.0]}, tmp_path / "c.png"))  # one epoch, no accuracy


def test_several_runs_overlaid(tmp_path, check_png):
    runs = {"numpy engine": make_history(3), "torch": make_history(5), "percent": {
        "train_loss": [1, 0.8], "train_acc": [60, 70], "val_loss": [1.1, float("nan")], "val_acc": [55, None]}}
    check_png(plot_histories(runs, tmp_path / "runs.png", title="engines"))


@pytest.mark.parametrize(("runs", "message"), [
    ({}, "non-empty mapping"),
    ({"a": {"val_loss": [1.0]}}, "run 'a': no train_loss"),
    ({"a": {"train_loss": ["x"]}}, "train_loss must be a list of numbers"),
    ({"a": {"train_loss": 3.0}}, "train_loss must be a list of numbers"),
])
def test_bad_input(tmp_path, runs, message):
    with pytest.raises(ValueError, match=message):
        plot_histories(runs, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_plot_history_rejects_object_without_metrics(tmp_path):
    with pytest.raises(ValueError, match="no train_loss"):
        plot_history(object(), tmp_path / "x.png")


def train_result(name: str, folder, epochs: int):
    from cnnlab.training import TrainConfig, TrainResult

    config = TrainConfig(model="mnist-cnn", engine="numpy")
    return TrainResult(config, make_history(epochs), 0.5, 0.8, 1000, 100, 10, 10, 1.0, folder / name)


def test_training_part_draws_each_run_and_overlays_several(tmp_path, check_png):
    from cnnlab.experiments.train import TrainingResult
    from cnnlab.plots.training import figures, run_title

    one = TrainingResult({"mnist-seed": train_result("mnist-seed", tmp_path, 3)})
    assert figures(one, tmp_path) == {"curves-mnist-seed": tmp_path / "mnist-seed" / "curves.png"}
    assert run_title(one.runs["mnist-seed"]) == "mnist-cnn (numpy engine) on mnist"
    two = TrainingResult({"a": train_result("a", tmp_path, 2), "b": train_result("b", tmp_path, 4)})
    paths = figures(two, tmp_path / "part")
    assert paths == {"curves-a": tmp_path / "a" / "curves.png", "curves-b": tmp_path / "b" / "curves.png",
                     "curves": tmp_path / "part" / "curves.png"}
    for path in paths.values():
        check_png(path)
