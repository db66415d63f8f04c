"""The report's appendix: every task of both assignments, with its command, library names and report part."""

from __future__ import annotations

from collections.abc import Mapping

from cnnlab.report.document import Section, Table
from cnnlab.seedmap import SEED_TASKS


def section(part_titles: Mapping[str, str]) -> Section:
    """The task table; ``part_titles`` maps a report part's name to its title (parts not in this report show
    their name only)."""
    rows = [[f"{t.assignment} / {t.task}", t.asks, t.exercise_names, t.command, t.library,
             part_titles.get(t.part, t.part)] for t in SEED_TASKS]
    return Section(
        title="Appendix: where each assignment task is",
        intro=("Assignment 000 is the CIFAR-10 assignment (own layers in PyTorch), assignment 004 the MNIST exercise "
               "(the NumPy framework). Each task, the names the assignment gives it, the command that runs it, the "
               "library names, and the section of this report that shows it."),
        tables=[Table(["assignment / task", "asks for", "the assignment's names", "command", "library",
                       "report section"], rows)],
    )
