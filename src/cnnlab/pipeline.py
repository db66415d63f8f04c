"""The main job: every registered experiment (:mod:`cnnlab.registry`), in order, into one folder with one
``report.html``.

Parts run through one shared :class:`~cnnlab.experiments.base.Context`, so datasets are read once and trained
networks are reused (the assignment's MNIST CNN feeds the equivariance experiment, the CIFAR-10 LeNet the comparison
and the feature maps; a part that needs a network nobody trained yet trains it). A part whose dataset is missing is
skipped (the report says so and how to get it); a part that fails is reported with its error and the rest still run.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnnlab import __version__, data
from cnnlab.errors import UserError
from cnnlab.experiments.base import Context, quick_settings
from cnnlab.formatting import format_seconds
from cnnlab.registry import Entry, entries
from cnnlab.report import Section, write_report
from cnnlab.report.sections.seedmap import section as seedmap_section
from cnnlab.timing import Conditions, ConditionsRecorder


@dataclass
class PartOutcome:
    """How one part went: ``status`` is ``done``, ``skipped`` (its data is missing) or ``failed`` (an error, kept in
    ``message``)."""

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


def part_names() -> tuple[str, ...]:
    """The parts of the main job, in report order (the ``--only`` choices)."""
    return tuple(entry.name for entry in entries())


def part_settings(entry: Entry, *, quick: bool, seed: int, device: str, seeds: Sequence[int] = ()) -> Any:
    """The settings a part runs with: the entry's, made small when ``quick``, with the run's seed, device and
    (when given) repeat seeds applied to the settings that have them."""
    settings = quick_settings(entry.settings) if quick else entry.settings
    names = {f.name for f in dataclasses.fields(settings)}
    given: dict[str, Any] = {"seed": seed, "device": device, **({"seeds": tuple(seeds)} if seeds else {})}
    return dataclasses.replace(settings, **{k: v for k, v in given.items() if k in names})


def run_part(entry: Entry, settings: Any, context: Context) -> tuple[Section, dict[str, Any]]:
    """One entry: run it, draw its figures into its folder, build its section; returns the section and the
    result's JSON form."""
    result = entry.experiment.run(settings, context)
    figures = entry.figures(result, context.folder())
    section = entry.section(result, figures)
    section.title = entry.title
    return section, {**result.to_dict(), "figures": {key: str(path) for key, path in figures.items()}}


#: Shown above a quick run's report.
QUICK_BANNER = ("Quick mode: every part ran with small settings (2 epochs, a few thousand images, fewer timing "
                "repeats). This report is a smoke test that everything works; its numbers are not results. Run "
                "without --quick for those.")


def _run_guarded(entry: Entry, settings: Any, context: Context, out_dir: Path) -> tuple[Section, PartOutcome]:
    """:func:`run_part`, with a missing dataset turned into a skipped part and any other error into a failed one
    (its traceback appended to ``errors.log``), timed."""
    start = time.perf_counter()
    try:
        section, results = run_part(entry, settings, context.for_part(entry.name))
        outcome = PartOutcome(entry.name, entry.title, "done", 0.0, results=results)
    except data.DataError as error:
        section = Section(title=entry.title, skipped=str(error))
        outcome = PartOutcome(entry.name, entry.title, "skipped", 0.0, str(error))
    except Exception as error:  # one broken part must not lose the others' results
        if isinstance(error, UserError):
            message = f"failed: {error}"
        else:
            with (out_dir / "errors.log").open("a") as log:
                log.write(f"--- {entry.name}\n{traceback.format_exc()}\n")
            message = f"failed: {type(error).__name__}: {error} (traceback in {out_dir / 'errors.log'})"
        section = Section(title=entry.title, skipped=message)
        outcome = PartOutcome(entry.name, entry.title, "failed", 0.0, message)
    outcome.seconds = section.seconds = time.perf_counter() - start
    return section, outcome


def _meta(quick: bool, root: Path | None, seconds: float, conditions: Conditions,
          seeds: Sequence[int]) -> dict[str, Any]:
    return {"cnnlab": __version__, "date": f"{datetime.now():%Y-%m-%d %H:%M}", "mode": "quick" if quick
            else "default", **({"seeds": ", ".join(map(str, seeds))} if seeds else {}),
            "total time": format_seconds(seconds), "data root": str(data.resolve_root(root)),
            "python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "threads and load": conditions.describe() + (" (busy: timings are suspect)" if conditions.busy else ""),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"}


def run_all(out_dir: str | Path, *, root: str | Path | None = None, quick: bool = False, seed: int = 0,
            device: str = "auto", progress: bool = True, only: Sequence[str] | None = None,
            on_part: Callable[[PartOutcome], None] | None = None, overwrite: bool = False,
            seeds: Sequence[int] = ()) -> RunResult:
    """Run the registered parts (all, or those named in ``only``) into ``out_dir``; write ``report.html``.

    A dataset found missing makes every later part that needs it skip at once with the same reason. ``on_part``
    is called after each part (the CLI prints a line). ``overwrite``: networks trained now replace earlier runs in
    their folders (``out_dir/<recipe>``). ``seeds`` (at least two): the training parts train every recipe once per
    seed and report mean ± std over them; everything else runs with the first seed (it replaces ``seed``) and its
    networks. Never raises for a part's failure: see :attr:`RunResult.ok`.
    """
    unknown = sorted(set(only or ()) - set(part_names()))
    if unknown:
        raise ValueError(f"unknown parts {unknown}; choose from {', '.join(part_names())}")
    if seeds:
        seed = seeds[0]
    start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    root_path = Path(root) if root is not None else None
    context = Context(out_dir, root_path, progress=progress, quick=quick, train_missing=True, seed=seed,
                      device=device, overwrite=overwrite)
    sections: list[Section] = []
    outcomes: list[PartOutcome] = []
    with ConditionsRecorder() as recorder:
        for entry in entries():
            if only is not None and entry.name not in only:
                continue
            settings = part_settings(entry, quick=quick, seed=seed, device=device, seeds=seeds)
            section, outcome = _run_guarded(entry, settings, context, out_dir)
            sections.append(section)
            outcomes.append(outcome)
            if on_part is not None:
                on_part(outcome)
    sections.append(seedmap_section({entry.name: entry.title for entry in entries()}))
    seconds = time.perf_counter() - start
    report = write_report(sections, out_dir / "report.html", title="cnnlab report",
                          meta=_meta(quick, root_path, seconds, recorder.conditions, seeds),
                          banner=QUICK_BANNER if quick else None)
    return RunResult(out_dir, report, outcomes, seconds)
