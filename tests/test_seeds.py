"""Repeated runs: ``train --seeds`` trains one independent process per seed and summarises every accuracy as mean ±
sample std; ``run --seeds`` shows that spread in the training sections while the later parts use the first seed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from cnnlab.cli import main
from cnnlab.pipeline import run_all
from cnnlab.training.seeds import ACCURACIES, final_accuracies, parse_seeds, spread


def results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


# --- the numbers ------------------------------------------------------------------------------------------------
def test_spread_is_the_mean_and_the_sample_standard_deviation():
    result = spread([0.5, 0.7, 0.9])
    assert result.mean == pytest.approx(0.7) and result.std == pytest.approx(0.2) and result.n == 3
    assert result.describe() == "70.00% ± 20.00%"
    assert spread([0.25, 0.25]).std == 0.0
    with pytest.raises(ValueError, match="at least two"):
        spread([0.5])


@pytest.mark.parametrize(("text", "seeds"), [("0,1,2", (0, 1, 2)), ("3 1", (3, 1)), ("7,0,", (7, 0))])
def test_seeds_parse_in_the_order_given(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize(("text", "message"), [("0", "at least two seeds"), ("1,1", "seed 1 is given twice"),
                                               ("0,-1", "out of range"), ("0,x", "separated by commas"),
                                               ("0,4294967296", "out of range")])
def test_bad_seeds_are_refused_with_the_reason(text, message):
    with pytest.raises(ValueError, match=message):
        parse_seeds(text)


# --- cnnlab train --seeds --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "message"), [
    (["train", "--seeds", "0"], "at least two seeds"),
    (["train", "--seeds", "0,0"], "given twice"),
    (["train", "--seeds", "0,1", "--seed", "3"], "--seed and --seeds exclude each other"),
    (["train", "--seeds", "0,1", "--epochs", "0"], "--epochs"),
    (["train", "--seeds", "0,1", "--resume", "--overwrite"], "choose one"),
    (["run", "--seeds", "0,1", "--seed", "2"], "--seed and --seeds exclude each other"),
    (["run", "--seeds", "5"], "at least two seeds"),
])
def test_bad_seed_options_are_usage_errors_and_write_nothing(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.e2e
def test_train_seeds_runs_one_process_per_seed_and_summarises_them(tmp_path, tiny_data_root):
    out = tmp_path / "seeds"
    args = ["--data-dir", str(tiny_data_root), "train", "--recipe", "mnist-seed", "--engine", "torch",
            "--max-datapoints", "40", "--batch-size", "10", "--lr", "0.1", "--seeds", "0,1", "--out", str(out),
            "--no-progress"]
    first = CliRunner().invoke(main, [*args, "--epochs", "1"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    runs = {seed: results(out / f"seed-{seed}") for seed in (0, 1)}
    assert {seed: run["config"]["seed"] for seed, run in runs.items()} == {0: 0, 1: 1}
    assert runs[0]["config"] | {"seed": 1} == runs[1]["config"]  # the same settings but for the seed
    weights = [torch.load(out / f"seed-{seed}" / "model.pt", weights_only=True) for seed in (0, 1)]
    assert not torch.equal(weights[0]["conv1.weight"], weights[1]["conv1.weight"])
    summary = results(out)
    assert summary["seeds"] == [0, 1] and "seed" not in summary["config"]
    assert summary["runs"]["1"]["command"].endswith(f"--seed 1 --out {out / 'seed-1'} --no-progress")
    for key in ACCURACIES:
        values = [final_accuracies(runs[seed])[key] for seed in (0, 1)]
        assert summary["summary"][key]["values"] == values
        assert summary["summary"][key]["mean"] == pytest.approx(sum(values) / 2)
        assert summary["summary"][key]["std"] == pytest.approx(abs(values[0] - values[1]) / math.sqrt(2))
    assert "mean ± std (2 seeds)" in first.output

    again = CliRunner().invoke(main, [*args, "--epochs", "2"], catch_exceptions=False)
    assert again.exit_code == 1 and "--resume" in again.output  # a finished repeat is never silently replaced
    resumed = CliRunner().invoke(main, [*args, "--epochs", "2", "--resume"], catch_exceptions=False)
    assert resumed.exit_code == 0, resumed.output
    for seed in (0, 1):
        assert [r["epoch"] for r in results(out / f"seed-{seed}")["history"]["records"]] == [1, 2]
    assert results(out)["summary"]["test_acc"]["values"] == [results(out / f"seed-{s}")["test_acc"] for s in (0, 1)]


# --- cnnlab run --seeds ----------------------------------------------------------------------------------------
@pytest.mark.e2e
def test_run_seeds_reports_the_spread_and_later_parts_use_the_first_seed(tmp_path, tiny_data_root):
    result = run_all(tmp_path, root=tiny_data_root, quick=True, progress=False, seeds=(4, 2),
                     only=["mnist-training", "equivariance"])
    assert result.ok and [p.status for p in result.parts] == ["done", "done"]
    training = result.parts[0].results
    for recipe in ("mnist-seed", "mnist-better"):
        assert training[recipe]["config"]["seed"] == 4  # the first seed's run is the part's run
        repeats = training[recipe]["seeds"]
        assert list(repeats["runs"]) == ["4", "2"]
        assert repeats["runs"]["4"]["folder"] == str(tmp_path / recipe)
        assert repeats["runs"]["2"]["folder"] == str(tmp_path / f"{recipe}-seed-2")
        other = config_of(tmp_path / f"{recipe}-seed-2")
        assert other["seed"] == 2
        values = repeats["summary"]["test_acc"]["values"]
        assert values[0] == training[recipe]["test_acc"] and len(values) == 2
    # the equivariance part reused seed 4's CNN rather than training one of its own
    assert result.parts[1].results["trained"]["cnn"] is True and not (tmp_path / "equivariance" / "mnist-seed").exists()
    html = result.report.read_text()
    assert "Every seed" in html and "mean ± sample std over the seeds" in html
    spread_cell = repeats["summary"]["final_val_acc"]
    assert f"{100 * spread_cell['mean']:.2f}% ± {100 * spread_cell['std']:.2f}%" in html
    assert "later parts of the report use seed 4" in html


def config_of(folder: Path) -> dict:
    """The settings of the training run in ``folder`` (its config.json)."""
    return json.loads((folder / "config.json").read_text())
