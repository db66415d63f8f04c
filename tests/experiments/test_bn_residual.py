"""The BatchNorm/residual study: the four variants differ only where they should, a diverging run is recorded as
such (not as an error), and the part runs on tiny data with its figures and section."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnlab.experiments import bn_residual
from cnnlab.experiments.base import Context
from cnnlab.experiments.bn_residual import VARIANTS, BnResidualResult, BnResidualSettings, StudyRun
from cnnlab.models import build_model
from cnnlab.models.introspect import layer_kind
from cnnlab.plots import bn_residual as bn_residual_plots
from cnnlab.report.sections import bn_residual as bn_residual_section


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_variants_share_their_convolutions_and_differ_only_in_bn_and_skips(variant):
    batch_norm, skip, _ = VARIANTS[variant]
    model = build_model(f"bnres-{variant}", "torch", seed=0)
    kinds = [layer_kind(m) for m in model.modules()]
    assert kinds.count("conv") == 9
    assert ("batchnorm" in kinds) == batch_norm and ("residual" in kinds) == skip
    assert all((m.bias is None) == batch_norm for m in model.modules() if layer_kind(m) == "conv")


def _result(accuracies: dict[tuple[str, float], float | None]) -> BnResidualResult:
    runs = [StudyRun(v, lr, [2.0, 1.5], [0.2, 0.4], [2.1, 1.6], [0.3, acc], acc, acc is None, 1.0)
            for (v, lr), acc in accuracies.items()]
    return BnResidualResult(runs, {v: 100 for v in VARIANTS})


def test_section_reports_the_best_lr_the_spread_and_divergence():
    result = _result({**{(v, 0.1): 0.5 for v in VARIANTS}, **{(v, 1.0): 0.4 for v in VARIANTS},
                      ("plain", 1.0): None})
    section = bn_residual_section.section(result, {})
    assert section.tables[0].rows[0] == ["plain", 100, "50.0%", "diverged"]
    text = " ".join(section.paragraphs)
    assert "plain 50.0% (lr 0.1)" in text and "Diverged (loss NaN or infinite): plain at lr 1" in text
    assert "plain 50.0 points" in text and "BatchNorm 10.0 points" in text


def test_settings_are_checked():
    with pytest.raises(ValueError, match="--lrs: give one or more positive learning rates"):
        BnResidualSettings(lrs=(0.1, -1.0))
    with pytest.raises(ValueError, match="--engine: 'jax' is not one of"):
        BnResidualSettings(engine="jax")
    assert len(BnResidualSettings().quick().lrs) == 1


@pytest.mark.e2e
def test_the_part_on_tiny_data_with_a_diverging_learning_rate(tmp_path, tiny_data_root):
    settings = BnResidualSettings(train_images=128, test_images=32, epochs=2, batch_size=32, lrs=(0.05, 1e5))
    result = bn_residual.run(settings, Context(tmp_path, tiny_data_root))
    assert [(r.variant, r.lr) for r in result.runs] == [(v, lr) for v in VARIANTS for lr in settings.lrs]
    plain = result.run_for("plain", 1e5)
    assert plain.diverged and plain.final_test_acc is None  # kept as a result, not raised
    for run in result.runs:
        if not run.diverged:
            assert len(run.train_loss) == 2 and 0 <= run.final_test_acc <= 1 and np.isfinite(run.train_loss).all()
    assert result.parameters["bn"] > result.parameters["plain"]
    json.dumps(result.to_dict())
    figures = bn_residual_plots.figures(result, tmp_path)
    assert set(figures) == {"curves", "lr-sensitivity"}
    assert all(path.read_bytes()[:4] == b"\x89PNG" for path in figures.values())
    section = bn_residual_section.section(result, figures)
    assert "plain at lr 100000" in " ".join(section.paragraphs)
