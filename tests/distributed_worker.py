"""One torchrun worker of ``cnnlab`` that records what it does, for tests/test_distributed.py (not a test itself).

Usage: ``torchrun ... tests/distributed_worker.py LOG_DIR WATCHED CNNLAB_ARGS...``. The worker sends its stdout and
stderr (file descriptors 1 and 2, so C-level output too) to ``LOG_DIR/rank-R.stdout`` / ``.stderr``, records through
an audit hook every file or folder it creates, writes, renames or removes inside ``WATCHED`` and, at exit, lists
them in ``LOG_DIR/rank-R.writes.json``; then it runs ``cnnlab CNNLAB_ARGS...``.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from typing import Any

log_dir, watched_dir, *cnnlab_args = sys.argv[1:]
rank = int(os.environ["RANK"])
for fd, stream in ((1, "stdout"), (2, "stderr")):
    target = os.open(os.path.join(log_dir, f"rank-{rank}.{stream}"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(target, fd)
    os.close(target)

WATCHED = os.path.abspath(watched_dir)
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
CHANGES = {"os.rename", "os.remove", "os.mkdir", "os.rmdir", "shutil.rmtree", "os.truncate", "os.chmod", "os.utime",
           "os.symlink", "os.link"}
writes: list[list[str]] = []


def _inside(path: Any) -> bool:
    if not isinstance(path, str | bytes | os.PathLike):
        return False
    absolute = os.path.abspath(os.fsdecode(path))
    return absolute == WATCHED or absolute.startswith(WATCHED + os.sep)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open":
        path, mode, flags = args
        writing = any(c in mode for c in "wax+") if isinstance(mode, str) else bool((flags or 0) & WRITE_FLAGS)
        if writing and _inside(path):
            writes.append([event, os.fsdecode(path)])
    elif event in CHANGES:
        writes.extend([event, os.fsdecode(path)] for path in args[:2] if _inside(path))


def _report() -> None:
    with open(os.path.join(log_dir, f"rank-{rank}.writes.json"), "w") as file:
        json.dump(writes, file)


sys.addaudithook(_audit)
atexit.register(_report)

from cnnlab.cli import main  # noqa: E402  (after the hook: every write of cnnlab is seen)

main(args=cnnlab_args, prog_name="cnnlab")
