"""The main job: every experiment of both seeds, in order, into one folder with one ``report.html``.

Parts that need a dataset that is not there are skipped (the report says so and how to get it); a part that
fails is reported with its error and the rest still run. Trained networks are reused: the seed MNIST CNN feeds the
equivariance experiment, the CIFAR-10 LeNet feeds the own-vs-library comparison and the feature maps.
"""

from __future__ import annotations

import platform
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnnlab import __version__, data
from cnnlab.experiments import train as train_exp
from cnnlab.experiments.equivariance import EquivarianceSettings
from cnnlab.report import Section


@dataclass(frozen=True)
class RunPlan:
    """The settings of every part of the main job."""

    quick: bool
    seed: int
    device: str
    mnist_seed: train_exp.TrainConfig
    mnist_better: train_exp.TrainConfig
    cifar: train_exp.TrainConfig
    equivariance: EquivarianceSettings
    compare_images: int = 20
    compare_full_test: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"quick": self.quick, "seed": self.seed, "device": self.device,
                "mnist_seed": asdict(self.mnist_seed), "mnist_better": asdict(self.mnist_better),
                "cifar": asdict(self.cifar), "equivariance": self.equivariance.to_dict(),
                "compare_images": self.compare_images, "compare_full_test": self.compare_full_test}


def make_plan(quick: bool = False, seed: int = 0, device: str = "auto") -> RunPlan:
    """Defaults: the seeds' settings (about 6 minutes on a 2-core CPU); ``quick``: a smoke run under 2 minutes."""
    mnist_seed = train_exp.recipe("mnist-seed", seed=seed)
    mnist_better = train_exp.recipe("mnist-better", seed=seed)
    cifar = train_exp.recipe("cifar-lenet", seed=seed, device=device)
    equivariance = EquivarianceSettings(engine="numpy", epochs=mnist_seed.epochs, batch_size=mnist_seed.batch_size,
                                        lr=mnist_seed.lr, momentum=mnist_seed.momentum,
                                        max_datapoints=mnist_seed.max_datapoints, seed=seed)
    if quick:
        mnist_seed = replace(mnist_seed, epochs=2, max_datapoints=3000)
        mnist_better = replace(mnist_better, epochs=2, max_datapoints=3000)
        cifar = replace(cifar, epochs=2, max_datapoints=8000)
        equivariance = replace(equivariance, epochs=2, max_datapoints=3000, val_max_datapoints=2000,
                               probe_images=200)
    return RunPlan(quick, seed, device, mnist_seed, mnist_better, cifar, equivariance,
                   compare_full_test=not quick)


@dataclass
class PartOutcome:
    """How one part went: ``status`` is ``done``, ``skipped`` (missing data or a missing earlier result) or
    ``failed`` (an unexpected error, kept in ``message``)."""

    key: str
    title: str
    status: str
    seconds: float
    message: str = ""
    results: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    out_dir: Path
    report: Path
    parts: list[PartOutcome]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(part.status != "failed" for part in self.parts)

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": str(self.out_dir), "report": str(self.report), "seconds": self.seconds, "ok": self.ok,
                "parts": [asdict(part) for part in self.parts]}


class MissingPrerequisite(RuntimeError):
    """A part needs the result of an earlier part that did not run."""


class _Runner:
    """Runs the parts in order, sharing trained models and loaded arrays between them."""

    def __init__(self, plan: RunPlan, out_dir: Path, root: Path | None, progress: bool) -> None:
        self.plan, self.out_dir, self.root, self.progress = plan, out_dir, root, progress
        self.trained: dict[str, train_exp.TrainResult] = {}
        self.models: dict[str, Any] = {}

    def folder(self, name: str) -> Path:
        path = self.out_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    # --- parts that need no data -------------------------------------------------------------------------------
    def xcorr1d(self) -> tuple[Section, dict]:
        from cnnlab.experiments import xcorr1d

        result = xcorr1d.worked_example()
        return xcorr1d.section(result, xcorr1d.save_figures(result, self.folder("xcorr1d"))), result.to_dict()

    def conv_output(self) -> tuple[Section, dict]:
        from cnnlab.experiments import conv_output

        result = conv_output.run()
        return conv_output.section(result), result.to_dict()

    def engine_check(self) -> tuple[Section, dict]:
        from cnnlab.experiments import engine_check

        result = engine_check.run(seed=self.plan.seed)
        return engine_check.section(result), result.to_dict()

    # --- datasets -----------------------------------------------------------------------------------------------
    def _samples(self, name: str, title: str) -> tuple[Section, dict]:
        from cnnlab.plots.samples import plot_samples
        from cnnlab.report import Figure, Table

        rows, figure = [], None
        for split in ("train", "val", "test"):
            start = time.perf_counter()
            ds = data.load_dataset(name, split, self.root, progress=self.progress)
            seconds = time.perf_counter() - start
            counts = np.bincount(ds.labels, minlength=len(ds.classes))
            rows.append([split, len(ds), " x ".join(map(str, ds.images.shape[1:])), int(counts.min()),
                         int(counts.max()), float(ds.images.mean()), seconds])
            if split == "train":
                figure = plot_samples(ds.images[:24], ds.labels[:24], self.folder("data") / f"{name}-samples.png",
                                      class_names=ds.classes, title=f"{name}: the first 24 training images")
        section = Section(title=title, intro=f"Read from {data.resolve_root(self.root)} (torchvision's layout).",
                          tables=[Table(["split", "images", "C x H x W", "fewest per class", "most per class",
                                         "mean pixel (0-255)", "load s"], rows)],
                          figures=[Figure(figure, "The first training images with their class names")])
        return section, {"splits": [dict(zip(["split", "images", "shape", "min_class", "max_class", "mean",
                                              "seconds"], row, strict=True)) for row in rows]}

    def mnist_data(self) -> tuple[Section, dict]:
        return self._samples("mnist", "MNIST images (seed 004, task 2)")

    def cifar_data(self) -> tuple[Section, dict]:
        return self._samples("cifar10", "CIFAR-10 images (seed 000, task 1.0)")

    # --- training -----------------------------------------------------------------------------------------------
    def _train(self, key: str, config: train_exp.TrainConfig) -> train_exp.TrainResult:
        result = train_exp.train_model(config, self.folder(key), root=self.root, progress=self.progress)
        self.trained[key] = result
        return result

    def mnist_training(self) -> tuple[Section, dict]:
        from cnnlab.plots.curves import plot_histories

        runs = {"seed recipe": self._train("mnist-seed", self.plan.mnist_seed),
                "better recipe": self._train("mnist-better", self.plan.mnist_better)}
        figure = plot_histories({name: r.history for name, r in runs.items()},
                                self.folder("mnist-seed") / "curves-both.png", title="MNIST CNN, NumPy engine")
        seed_acc = runs["seed recipe"].history.val_acc[-1]
        intro = ("The seed's CNN (conv 1→5 and 5→10, kernel 4, stride 2, padding 1, ReLU, Flatten, Linear 490→10) "
                 "trained with cnnlab's NumPy engine: every forward and backward pass hand-written. The seed expects "
                 f"about 96% validation accuracy after 10 epochs; this run reached {seed_acc:.2%}.")
        section = train_exp.section("MNIST CNN training, NumPy engine (seed 004, task 5)", intro, runs, figure)
        return section, {name: r.to_dict() for name, r in runs.items()}

    def cifar_training(self) -> tuple[Section, dict]:
        result = self._train("cifar-lenet", self.plan.cifar)
        intro = ("The seed's LeNet-style network (conv 8@5x5, ReLU, maxpool 2, conv 16@5x5, ReLU, maxpool 2, fc 128, "
                 "ReLU, fc 64, ReLU, fc 10; 64,058 parameters) trained with PyTorch's own layers on CIFAR-10, "
                 f"tracking loss and accuracy on training and validation data. Test accuracy: {result.test_acc:.2%}.")
        section = train_exp.section("CIFAR-10 LeNet training, PyTorch (seed 000, tasks 1.1-1.2)", intro,
                                    {"LeNet": result}, result.files["curves"])
        return section, result.to_dict()

    def _trained_model(self, key: str, engine: str = "torch") -> Any:
        if key not in self.trained:
            raise MissingPrerequisite(f"needs the network trained in part '{key}', which did not run")
        return train_exp.load_trained(self.trained[key].out_dir, engine)[0]

    # --- experiments on trained networks ------------------------------------------------------------------------
    def equivariance(self) -> tuple[Section, dict]:
        from cnnlab.experiments import equivariance
        from cnnlab.plots.equivariance import save_figures

        settings = replace(self.plan.equivariance, data_root=str(self.root) if self.root else None)
        models = {"cnn": self._trained_model("mnist-seed", "numpy")} if "mnist-seed" in self.trained else {}
        result = equivariance.run_equivariance(settings, models=models, progress=self.progress)
        figures = save_figures(result, self.folder("equivariance"))
        return equivariance.section(result, figures), result.to_dict()

    def compare(self) -> tuple[Section, dict]:
        from cnnlab.experiments import compare

        model = self._trained_model("cifar-lenet")
        test = data.load_dataset("cifar10", "test", self.root, progress=self.progress)
        x, y = data.prepare(test, self.plan.cifar.normalization)
        if not self.plan.compare_full_test:
            x, y = x[:1000], y[:1000]
        result = compare.run_compare(model.state_dict(), x, y, n_first=min(self.plan.compare_images, len(y)),
                                     device=self.plan.device)
        return compare.section(result), result.to_dict()

    def featuremaps(self) -> tuple[Section, dict]:
        from cnnlab.experiments import featuremaps
        from cnnlab.plots.featuremaps import save_figures

        model = self._trained_model("cifar-lenet")
        test = data.load_dataset("cifar10", "test", self.root, progress=self.progress)
        chosen = featuremaps.choose_images(test.labels, n=3, seed=self.plan.seed)
        x, _ = data.prepare(test, self.plan.cifar.normalization)
        result = featuremaps.feature_maps(model, x[chosen], labels=test.labels[chosen], class_names=test.classes,
                                          display=test.images[chosen], model_name="LeNet (CIFAR-10)")
        figures = save_figures(result, self.folder("featuremaps"))
        return featuremaps.section(result, figures), result.to_dict()


#: The parts in report order: (key, title, method name, dataset it needs or None).
PARTS: tuple[tuple[str, str, str, str | None], ...] = (
    ("xcorr1d", "1-D cross-correlation by hand", "xcorr1d", None),
    ("mnist_data", "MNIST images", "mnist_data", "mnist"),
    ("conv_output", "Convolution output size", "conv_output", None),
    ("engine_check", "NumPy Conv2d vs PyTorch", "engine_check", None),
    ("mnist_training", "MNIST CNN training", "mnist_training", "mnist"),
    ("equivariance", "Translation equivariance", "equivariance", "mnist"),
    ("cifar_data", "CIFAR-10 images", "cifar_data", "cifar10"),
    ("cifar_training", "CIFAR-10 LeNet training", "cifar_training", "cifar10"),
    ("compare", "Own layers vs torch.nn", "compare", "cifar10"),
    ("featuremaps", "Feature maps", "featuremaps", "cifar10"),
)
PART_KEYS = tuple(part[0] for part in PARTS)


def _meta(plan: RunPlan, root: Path | None, seconds: float) -> dict[str, Any]:
    import os

    return {"cnnlab": __version__, "date": f"{datetime.now():%Y-%m-%d %H:%M}", "mode": "quick" if plan.quick
            else "default", "total time": f"{seconds:.0f} s", "data root": str(data.resolve_root(root)),
            "python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}",
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"}


def run_all(out_dir: str | Path, *, root: str | Path | None = None, quick: bool = False, seed: int = 0,
            device: str = "auto", progress: bool = True, only: Sequence[str] | None = None,
            on_part: Callable[[PartOutcome], None] | None = None) -> RunResult:
    """Run the parts of :data:`PARTS` (all, or those named in ``only``) into ``out_dir``; write ``report.html``.

    Once a dataset turns out to be missing, the later parts that need it are skipped with the same reason instead
    of trying again. ``on_part`` is called after each part (the CLI prints a line). Never raises for a part's
    failure: see :attr:`RunResult.ok`.
    """
    unknown = sorted(set(only or ()) - set(PART_KEYS))
    if unknown:
        raise ValueError(f"unknown parts {unknown}; choose from {', '.join(PART_KEYS)}")
    start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    root_path = Path(root) if root is not None else None
    plan = make_plan(quick, seed, device)
    runner = _Runner(plan, out_dir, root_path, progress)
    sections, outcomes, missing = [], [], {}
    for key, title, method, dataset in PARTS:
        if only is not None and key not in only:
            continue
        part_start = time.perf_counter()
        try:
            if dataset in missing:
                raise MissingPrerequisite(f"the {dataset} files are not available; '{missing[dataset]}' above says "
                                          "what is missing and how to get it")
            section, results = getattr(runner, method)()
            outcome = PartOutcome(key, title, "done", 0.0, results=results)
        except (data.DataError, MissingPrerequisite) as error:
            if isinstance(error, data.DataError) and dataset is not None:
                missing.setdefault(dataset, title)
            section, outcome = Section(title=title, skipped=str(error)), PartOutcome(key, title, "skipped", 0.0,
                                                                                      str(error))
        except Exception as error:  # one broken part must not lose the others' results
            with (out_dir / "errors.log").open("a") as log:
                log.write(f"--- {key}\n{traceback.format_exc()}\n")
            message = f"failed: {type(error).__name__}: {error} (traceback in {out_dir / 'errors.log'})"
            section, outcome = Section(title=title, skipped=message), PartOutcome(key, title, "failed", 0.0, message)
        outcome.seconds = time.perf_counter() - part_start
        section.seconds = outcome.seconds
        sections.append(section)
        outcomes.append(outcome)
        if on_part is not None:
            on_part(outcome)
    from cnnlab.report import write_report

    seconds = time.perf_counter() - start
    report = write_report(sections, out_dir / "report.html", title="cnnlab report",
                          meta=_meta(plan, root_path, seconds))
    return RunResult(out_dir, report, outcomes, seconds)
