"""The sanity checks on networks whose answers are known: zero logits give exactly ln 10, scaled-up logits fail the
check, a linear classifier memorises separable images and a frozen one cannot; and the whole part on tiny data."""

from __future__ import annotations

import json
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch

from cnnlab import numpy_nn
from cnnlab.experiments import sanity
from cnnlab.experiments.base import Context
from cnnlab.experiments.sanity import InitialLoss, OverfitRun, SanityResult, SanitySettings
from cnnlab.plots import sanity as sanity_plots
from cnnlab.report.sections import sanity as sanity_section


def _linear(scale: float, lib=numpy_nn):
    """Flatten + Linear(12 -> 10) with every weight equal to ``scale`` times a fixed pattern and zero bias."""
    model = lib.Sequential(OrderedDict([("flatten", lib.Flatten()), ("fc", lib.Linear(12, 10))]))
    pattern = np.arange(120, dtype=np.float32).reshape(10, 12) / 120 - 0.5
    state = {"fc.weight": scale * pattern, "fc.bias": np.zeros(10, np.float32)}
    model.load_state_dict(state if lib is numpy_nn else numpy_nn.to_torch_state_dict(state))
    return model


def _images(n: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3, 2, 2)).astype(np.float32), rng.integers(0, 10, n)


@pytest.mark.parametrize("engine, lib", [("numpy", numpy_nn), ("torch", torch.nn)])
def test_zero_logits_give_exactly_ln_10_and_large_ones_fail(engine, lib):
    x, y = _images()
    loss, spread = sanity._initial_loss(_linear(0.0, lib), engine, x, y)
    assert loss == pytest.approx(math.log(10), abs=1e-6) and spread == 0.0
    loss, spread = sanity._initial_loss(_linear(20.0, lib), engine, x, y)
    assert spread > 3 and not InitialLoss("m", engine, loss, math.log(10), spread, 40).ok
    loss, spread = sanity._initial_loss(_linear(0.1, lib), engine, x, y)
    assert InitialLoss("m", engine, loss, math.log(10), spread, 40).ok


def test_a_linear_classifier_memorises_and_a_frozen_one_does_not():
    x, y = _images(20)
    settings = SanitySettings(overfit_steps=60, overfit_lr=0.1)
    learner = sanity._overfit("linear", "numpy", _linear(0.0), x, y, settings, "cpu")
    assert learner.memorised and learner.steps_to_memorise is not None
    assert len(learner.loss) < 60 and len(learner.loss) % sanity.CHECK_EVERY == 0  # stopped once memorised
    frozen = sanity._overfit("linear", "numpy", _linear(0.0), x, y, SanitySettings(overfit_steps=10,
                                                                                  overfit_lr=1e-9), "cpu")
    assert not frozen.memorised and len(frozen.loss) == 10
    result = SanityResult([InitialLoss("linear", "numpy", 2.31, math.log(10), 0.1, 20)], [learner, frozen])
    text = " ".join(sanity_section.section(result, {}).paragraphs)
    assert "Not memorised within the step budget: linear (numpy)" in text


def test_settings_are_checked():
    with pytest.raises(ValueError, match="--engines: give at least one"):
        SanitySettings(engines=())
    with pytest.raises(ValueError, match="--models: 'resnet50' is not one of"):
        SanitySettings(models=("resnet50",))
    quick = SanitySettings().quick()
    assert quick.overfit_images < SanitySettings().overfit_images


@pytest.mark.e2e
def test_the_part_on_tiny_data_agrees_across_engines(tmp_path, tiny_data_root):
    settings = SanitySettings(models=("mnist-cnn", "bnres-bn-skip"), loss_images=32, overfit_models=("mnist-cnn",),
                              overfit_images=16, overfit_steps=40, overfit_lr=1e-2)
    result = sanity.run(settings, Context(tmp_path, tiny_data_root))
    by_key = {(r.model, r.engine): r for r in result.initial}
    for model in settings.models:  # the same initial weights: the same initial loss in both engines
        assert by_key[(model, "numpy")].loss == pytest.approx(by_key[(model, "torch")].loss, rel=1e-5)
    torch_run, numpy_run = sorted(result.overfit, key=lambda r: r.engine, reverse=True)
    np.testing.assert_allclose(numpy_run.loss[:5], torch_run.loss[:5], rtol=1e-3)
    assert torch_run.memorised and numpy_run.memorised
    json.dumps(result.to_dict())
    figures = sanity_plots.figures(result, tmp_path)
    assert set(figures) == {"initial-loss", "overfit"} and all(p.read_bytes()[:4] == b"\x89PNG"
                                                                 for p in figures.values())
    section = sanity_section.section(result, figures)
    assert len(section.tables) == 2 and len(section.figures) == 2


def test_overfit_run_counts_the_steps_to_memorise():
    run = OverfitRun("m", "torch", 10, [2.0, 1.0, 0.5], [0.5, 0.99, 1.0], 1.0, 0.1, 0.3)
    assert run.steps_to_memorise == 2 and run.memorised
