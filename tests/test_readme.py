"""The README's two fresh-machine commands stay true: the test line is exactly the one CI runs, and the main job's
command names a real command of the CLI."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from cnnlab.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_the_readme_test_command_is_the_one_ci_runs():
    first_lines = [block.strip().splitlines()[0] for block in _bash_blocks()]
    test_line = next(line for line in first_lines if "pytest" in line and line.startswith("pip install"))
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_line in ci_lines


def test_the_main_job_command_is_a_real_command(tmp_path):
    main_line = next(block.strip() for block in _bash_blocks() if "cnnlab" in block and " run" in block)
    args = main_line.split("&& cnnlab ", 1)[1].split()
    assert args[:3] == ["--data-dir", "../shared/data", "run"]
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path), *args[2:], "--help"])  # wherever the data are
    assert result.exit_code == 0 and "--out" in result.output
