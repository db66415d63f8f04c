"""From feature maps to evidence: what a trained network learned, measured on the whole test set.

Assignment 000 (task 3.3) warns that feature maps of a few images invite over-generalisation, "in order to make
objective statements about the learned features we need more rigorous testing". This experiment does the testing, for
one trained network (the CIFAR-10 LeNet by default, the assignment's MNIST CNN with ``--network mnist-seed``, or any
``--weights`` run):

1. **evaluation**: confusion matrix, per-class accuracy with Wilson intervals, the most frequent confusions and the
   most confidently misclassified images (:mod:`.evaluation`);
2. **what drives each channel**: one streaming pass over the test set (:mod:`.scan`) gives every conv channel's
   response per image; from them the top-k images with their receptive-field patches, per-class means with
   bootstrap intervals, the selectivity index, and the split-half test of each channel's preferred class
   (:mod:`.channels`);
3. **causal test**: the same pass zeroes each channel in turn; McNemar's exact test per class (:mod:`.ablation`);
4. **where the network looks**: occlusion maps (:mod:`.occlusion`) and gradient saliency from the NumPy engine's
   backward pass, checked against torch autograd on the same weights (:mod:`.saliency`);
5. **the statement**: the strongest supported claim in words (:mod:`.claim`).

A network without conv layers (the MLP) gets 1 and 4 and a note for the rest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab import data
from cnnlab.errors import UserError
from cnnlab.experiments.base import Context, Experiment, TrainedNetwork
from cnnlab.experiments.evidence.ablation import ChannelAblation, ablation_tests
from cnnlab.experiments.evidence.channels import LayerChannels, channel_evidence
from cnnlab.experiments.evidence.claim import Claim, statement, strongest_claim
from cnnlab.experiments.evidence.evaluation import Evaluation, evaluate_predictions
from cnnlab.experiments.evidence.occlusion import OcclusionMaps, centre_mask, centre_share, check_patch, occlusion_maps
from cnnlab.experiments.evidence.saliency import (
    EngineAgreement,
    compare_engines,
    numpy_input_gradient,
    saliency_maps,
    torch_input_gradient,
    twin,
)
from cnnlab.experiments.evidence.scan import scan
from cnnlab.experiments.evidence.stats import bootstrap_class_means, percentile_interval
from cnnlab.experiments.featuremaps import display_images
from cnnlab.models import Model, get_model_info
from cnnlab.models.introspect import is_torch_module, receptive_fields
from cnnlab.options import Validated, check_options, option, settings_dict
from cnnlab.training import RECIPES, get_recipe, read_config


def _image_hw(settings: EvidenceSettings) -> tuple[int, int] | None:
    """The image size of the network the settings name, from its recipe or its run's config (None if unreadable)."""
    if settings.weights is not None:
        try:
            model = read_config(settings.weights).model
        except (FileNotFoundError, ValueError):
            return None  # Context.network reports the broken folder
    else:
        model = get_recipe(settings.network).config.model
    _, h, w = get_model_info(model).input_shape
    return h, w


@dataclass(frozen=True)
class EvidenceSettings(Validated):
    """Which network, and how much evidence: images per batch, top-k, bootstrap resamples, the significance level,
    the occlusion patch, how many images get maps, ablation on or off."""

    network: str = option("cifar-lenet", "Recipe of the network to examine when --weights is not given.",
                          choices=lambda: tuple(RECIPES))
    weights: Path | None = option(None, "Folder of a 'cnnlab train' run to examine instead [default: the run's own "
                                  "network of --network, or --train].", metavar="RUN_DIR")
    batch_size: int = option(500, "Test images per batch of the streaming pass (bounds the memory).", minimum=1)
    top_k: int = option(8, "Top test images shown per channel.", minimum=1, maximum=32)
    bootstrap: int = option(1000, "Bootstrap resamples of the intervals of class means and selectivity.",
                            minimum=100)
    alpha: float = option(0.05, "Family-wise significance level (Holm); intervals are at 1 - alpha.", minimum=0,
                          maximum=0.5, min_open=True)
    patch: int = option(6, "Occlusion patch side in pixels (at most the image side).", minimum=1)
    stride: int = option(2, "Occlusion patch stride in pixels.", minimum=1)
    per_class: int = option(2, "Test images per class for the occlusion and saliency maps.", minimum=1, maximum=50)
    mistakes: int = option(12, "Most confidently misclassified test images shown.", minimum=0, maximum=48)
    ablation: bool = option(True, "Zero each conv channel in turn and test the change of every class's accuracy.")
    max_test: int | None = option(None, "Use only the first N test images.", minimum=1)
    seed: int = option(0, "Seeds the bootstrap and the split of the test set into exploration and confirmation.",
                       minimum=0)

    def check(self) -> None:
        check_options(self)
        image_hw = _image_hw(self)
        if image_hw is not None:
            try:
                check_patch(self.patch, self.stride, image_hw)
            except ValueError as error:
                raise ValueError(f"--patch: {error}") from None

    def quick(self) -> EvidenceSettings:
        return replace(self, bootstrap=200, per_class=1, max_test=2000, top_k=6)


@dataclass(frozen=True)
class NetworkInfo:
    """The examined network: where it comes from and what it is."""

    recipe: str | None
    model: str
    dataset: str
    engine: str
    folder: Path
    description: str


@dataclass
class WhereMaps:
    """Occlusion and saliency maps of ``per_class`` test images per class, and how much of each lies in the image's
    central quarter (mean over the images with its bootstrap interval; ``area_share``: the central quarter's share of
    the occlusion grid, what a map spread evenly would give)."""

    indices: list[int]
    labels: list[int]
    predictions: list[int]
    images: np.ndarray
    occlusion: OcclusionMaps
    saliency: np.ndarray
    agreement: EngineAgreement | None
    occlusion_centre: tuple[float, float, float]
    saliency_centre: tuple[float, float, float]
    area_share: float

    def to_dict(self) -> dict[str, Any]:
        def share(values: tuple[float, float, float]) -> dict[str, float]:
            return {"mean": values[0], "low": values[1], "high": values[2]}

        return {"indices": self.indices, "patch": self.occlusion.patch, "stride": self.occlusion.stride,
                "grid": [len(self.occlusion.ys), len(self.occlusion.xs)],
                "fill": [float(v) for v in self.occlusion.fill],
                "max_drop": [float(v) for v in self.occlusion.drop.max(axis=(1, 2))],
                "occlusion_centre_share": share(self.occlusion_centre),
                "saliency_centre_share": share(self.saliency_centre), "area_share": self.area_share,
                "engine_agreement": None if self.agreement is None else self.agreement.to_dict()}


@dataclass
class EvidenceResult:
    """Everything measured (see the module docstring); :meth:`to_dict` is the JSON form (no pixel arrays).

    ``mistake_images`` ``(m, C, H, W)`` and ``top_images`` (per layer ``(channels, k, C, H, W)``), shown as by
    :func:`~cnnlab.experiments.featuremaps.display_images`, are kept for the figures.
    """

    settings: EvidenceSettings
    network: NetworkInfo
    class_names: list[str]
    n_test: int
    evaluation: Evaluation
    mistake_images: np.ndarray
    layers: list[LayerChannels]
    top_images: dict[str, np.ndarray]
    ablations: list[ChannelAblation]
    claim: Claim | None
    statement: str
    where: WhereMaps
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def confidence(self) -> float:
        return 1 - self.settings.alpha

    def to_dict(self) -> dict[str, Any]:
        names = self.class_names
        claim = None if self.claim is None else {
            "layer": self.claim.test.layer, "channel": self.claim.test.channel,
            "class": names[self.claim.test.chosen]}
        return {
            "settings": settings_dict(self.settings),
            "network": {"recipe": self.network.recipe, "model": self.network.model, "dataset": self.network.dataset,
                        "engine": self.network.engine, "folder": str(self.network.folder)},
            "n_test": self.n_test,
            "evaluation": self.evaluation.to_dict(),
            "layers": [layer.to_dict(names) for layer in self.layers],
            "ablations": [a.to_dict(names, self.settings.alpha) for a in self.ablations],
            "claim": claim,
            "statement": self.statement,
            "where": self.where.to_dict(),
            "notes": self.notes,
            "seconds": self.seconds,
        }


def load_network(network: TrainedNetwork) -> Model:
    """The trained model, or a :class:`UserError` naming the file and what was expected (missing, unreadable or
    of another architecture than its ``config.json`` says)."""
    try:
        return network.load()
    except FileNotFoundError as error:
        raise UserError(str(error)) from None


def _mean_share(values: np.ndarray, n_boot: int, seed: int, confidence: float) -> tuple[float, float, float]:
    """Mean of ``values`` (NaN ignored) with a bootstrap interval over the values."""
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return float("nan"), float("nan"), float("nan")
    replicates = bootstrap_class_means(values[:, None], np.zeros(len(values), np.int64), 1, n_boot,
                                       np.random.default_rng(seed))
    low, high = percentile_interval(replicates[:, 0, 0], confidence)
    return float(values.mean()), float(low), float(high)


def _first_per_class(labels: np.ndarray, n_classes: int, per_class: int) -> list[int]:
    """The first ``per_class`` indices of every class, class by class."""
    return [int(i) for k in range(n_classes) for i in np.flatnonzero(labels == k)[:per_class]]


def where_maps(model: Model, architecture: str | None, x: np.ndarray, labels: np.ndarray, indices: list[int],
               display: np.ndarray, *, patch: int, stride: int, fill: np.ndarray | None, n_boot: int, seed: int,
               confidence: float) -> WhereMaps:
    """Occlusion and saliency maps of the images ``x`` (model inputs), the occlusion patch filled with ``fill`` per
    channel (None: the mean of ``x``). ``architecture`` (a zoo name) builds the model's twin in the other engine:
    the saliency then comes from the NumPy engine's backward pass, checked against torch autograd; with None the
    model's own engine computes it and ``agreement`` is None."""
    occlusion = occlusion_maps(model, x, labels, patch=patch, stride=stride, fill=fill)
    agreement = None
    if architecture is None:
        grad = (torch_input_gradient if is_torch_module(model) else numpy_input_gradient)(model, x, labels)[0]
    else:
        other = twin(model, architecture)
        numpy_model, torch_model = (other, model) if is_torch_module(model) else (model, other)
        grad, agreement = compare_engines(numpy_model, torch_model, x, labels)
    saliency = saliency_maps(grad)
    image_hw = (x.shape[2], x.shape[3])
    rows, cols = occlusion.centres()
    mask = centre_mask(occlusion.drop.shape[1:], rows, cols, image_hw)
    pixels = centre_mask(image_hw, np.arange(image_hw[0]) + 0.5, np.arange(image_hw[1]) + 0.5, image_hw)
    return WhereMaps(indices, [int(v) for v in labels], [int(v) for v in occlusion.predictions], display, occlusion,
                     saliency, agreement, _mean_share(centre_share(occlusion.drop, mask), n_boot, seed, confidence),
                     _mean_share(centre_share(saliency, pixels), n_boot, seed + 1, confidence),
                     float(mask.mean()))


def run(settings: EvidenceSettings, context: Context) -> EvidenceResult:
    """All the evidence for one trained network on its test set (see the module docstring)."""
    seconds: dict[str, float] = {}
    start_all = time.perf_counter()
    network = context.network(settings.network, settings.weights, purpose="evidence")
    model = load_network(network)
    config = network.config
    test = context.dataset(config.dataset, "test", max_datapoints=settings.max_test)
    _, h, w = test.images.shape[1:]
    names = list(test.classes)
    k = len(names)
    confidence = 1 - settings.alpha
    seconds["load"] = time.perf_counter() - start_all

    def transform(batch: np.ndarray) -> np.ndarray:
        like = data.Dataset(batch, np.zeros(len(batch), np.int64), names, test.name, test.split, test.spec)
        return data.prepare(like, config.normalization)[0]

    start = time.perf_counter()
    passed = scan(model, test.images, test.labels, transform=transform, batch_size=settings.batch_size,
                  ablation=settings.ablation, progress=context.progress, desc=f"evidence {config.model}: test set")
    seconds["scan"] = time.perf_counter() - start

    start = time.perf_counter()
    evaluation = evaluate_predictions(passed.logits, test.labels, names, n_mistakes=settings.mistakes,
                                      confidence=confidence)
    mistake_images = display_images(test.images[[m.index for m in evaluation.mistakes]]) if evaluation.mistakes \
        else np.zeros((0, *test.images.shape[1:]), np.float32)
    notes: list[str] = []
    layers: list[LayerChannels] = []
    ablations: list[ChannelAblation] = []
    top_images: dict[str, np.ndarray] = {}
    if passed.units:
        layers = channel_evidence(passed.responses, passed.positions, passed.map_shapes,
                                  receptive_fields(model, (h, w)),
                                  test.labels, k, (h, w), top_k=settings.top_k, n_boot=settings.bootstrap,
                                  seed=settings.seed, confidence=confidence)
        top_images = {layer.name: np.stack([display_images(test.images[[t.index for t in p.top]])
                                            for p in layer.profiles]) for layer in layers}
        if settings.ablation:
            intact = passed.logits.argmax(axis=1) == test.labels
            ablations = ablation_tests(intact, passed.ablated_correct, test.labels, k, confidence)
    else:
        notes.append(f"The {config.model} network has no convolution layers, so there are no channels: the "
                     "per-channel statistics, top images, selectivity tests, ablations and the selectivity claim "
                     "apply to CNNs only. The evaluation, occlusion and saliency views below apply to any image "
                     "classifier.")
    claim = strongest_claim(layers, ablations, settings.alpha) if layers else None
    text = (statement(claim, layers, ablations, names, settings.alpha, confidence) if layers else
            "No selectivity claim: the network has no conv channels to make one about.")
    seconds["statistics"] = time.perf_counter() - start

    start = time.perf_counter()
    chosen = _first_per_class(test.labels, k, settings.per_class)
    where = where_maps(model, config.model, transform(test.images[chosen]), test.labels[chosen], chosen,
                       display_images(test.images[chosen]), patch=settings.patch, stride=settings.stride,
                       fill=passed.input_mean, n_boot=settings.bootstrap, seed=settings.seed, confidence=confidence)
    seconds["where"] = time.perf_counter() - start
    seconds["total"] = time.perf_counter() - start_all
    recipe = None if settings.weights is not None else settings.network
    info = NetworkInfo(recipe, config.model, config.dataset, config.engine, network.folder, config.describe())
    return EvidenceResult(settings, info, names, len(test), evaluation, mistake_images, layers, top_images, ablations,
                          claim, text, where, notes, seconds)


EXPERIMENT = Experiment("evidence", "From feature maps to evidence: what the CIFAR-10 LeNet learned",
                        "Assignment 000 task 3.3 made rigorous: confusion, per-class accuracy with intervals, what "
                        "drives each conv channel (top images, bootstrap class means, selectivity tests), occlusion "
                        "and saliency, channel ablation with paired tests, and the claim the numbers support.",
                        EvidenceSettings, run, uses_networks=True)
