"""The seed map: every task of both assignments is listed once, points at a real report part and command, and the
README's task table agrees with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnlab.registry import entries
from cnnlab.report.sections.seedmap import section
from cnnlab.seedmap import SEED_TASKS

#: The tasks as the assignment texts number them (course logistics left out: deadlines, uploads, feedback).
ASSIGNMENT_TASKS = {
    "000": ["1.0", "1.1", "1.2", "2.1", "3.1", "3.2", "3.3"],
    "004": ["1", "2", "3", "4.1", "4.2", "5", "6.1", "6.2", "7"],
}
README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_task_of_both_assignments_is_mapped_once():
    listed = {(t.assignment, t.task) for t in SEED_TASKS}
    expected = {(a, task) for a, tasks in ASSIGNMENT_TASKS.items() for task in tasks}
    assert listed == expected and len(SEED_TASKS) == len(expected)


def test_every_task_points_at_a_report_part_and_a_command():
    parts = {entry.name for entry in entries()}
    commands = {"train", "data", "run", *(entry.name for entry in entries() if entry.command)}
    for task in SEED_TASKS:
        assert task.part in parts or task.part == "—", task
        if task.command.startswith("cnnlab "):
            assert task.command.split()[1] in commands, task


@pytest.mark.parametrize("task", SEED_TASKS, ids=lambda t: f"{t.assignment}-{t.task}")
def test_the_readme_table_lists_the_task_and_its_command(task):
    row = f"| {task.assignment} / {task.task} |"
    lines = [line for line in README.read_text().splitlines() if line.startswith(row)]
    assert len(lines) == 1, f"README has no (or several) rows for task {task.assignment} / {task.task}"
    assert f"`{task.command}`" in lines[0]


def test_the_appendix_names_the_report_sections():
    appendix = section({"compare": "Own layers vs torch.nn"})
    rows = appendix.tables[0].rows
    assert len(rows) == len(SEED_TASKS)
    assert any(row[-1] == "Own layers vs torch.nn" for row in rows)
