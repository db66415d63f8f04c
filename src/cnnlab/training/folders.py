"""Output folders owned by one run: :func:`claim_folder` locks a folder for the command writing into it and refuses
to reuse one that holds the results of an earlier run, unless told to continue it (``resume``) or to replace it
(``overwrite``, which first removes the earlier run's files so nothing of it survives next to the new one).

What counts as an earlier run: a ``cnnlab train`` folder with ``model.pt`` or ``checkpoints/checkpoint.pt``, or any
command's ``results.json`` / ``report.html``. An empty folder, or one holding only other files, is free to use.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

from cnnlab.errors import UserError
from cnnlab.files import FolderLock, FolderLockedError
from cnnlab.training.checkpoints import CHECKPOINT_NAME

CHECKPOINT_DIR = "checkpoints"
#: Files an earlier run leaves in its folder; ``overwrite`` removes them (and ``checkpoints/``) before starting.
RUN_FILES = ("model.pt", "config.json", "results.json", "curves.png", "report.html", "errors.log")


class FolderInUseError(UserError):
    """Another cnnlab process is writing into the folder right now."""


class RunExistsError(UserError):
    """The folder holds an earlier run, and neither ``resume`` nor ``overwrite`` was asked for."""


def earlier_run(folder: Path) -> str | None:
    """What of an earlier run ``folder`` holds, in words (``"a finished training run of 10 epochs"``), or None."""
    checkpoint = folder / CHECKPOINT_DIR / CHECKPOINT_NAME
    results = folder / "results.json"
    if (folder / "model.pt").is_file() or checkpoint.is_file():
        epochs = ""
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            data = json.loads(results.read_text())
            epochs = f" ({len(data['history']['records'])} epochs recorded)"
        finished = "a finished" if (folder / "model.pt").is_file() else "an unfinished"
        return f"{finished} training run{epochs}"
    if results.is_file() or (folder / "report.html").is_file():
        return "the results of an earlier command"
    return None


def _remove_earlier_run(folder: Path) -> None:
    for name in RUN_FILES:
        (folder / name).unlink(missing_ok=True)
    shutil.rmtree(folder / CHECKPOINT_DIR, ignore_errors=True)


@contextlib.contextmanager
def claim_folder(folder: str | Path, *, resume: bool = False, overwrite: bool = False,
                 resumable: bool = True) -> Iterator[Path]:
    """Create ``folder`` if needed and hold its lock for the block; refuse an earlier run in it (see the module
    docstring) unless ``resume`` (continue it; only for ``resumable`` commands) or ``overwrite`` (remove its files
    first). Nested claims of the same folder in one process share the lock (a command and the training it runs).

    Raises :class:`FolderInUseError` when another process holds the folder, :class:`RunExistsError` when it holds
    an earlier run, ``ValueError`` for ``resume`` together with ``overwrite``.
    """
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other: continue the run or replace it, not both")
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UserError(f"--out {folder}: a file of that name exists; choose a folder") from None
    lock = FolderLock(folder)
    try:
        lock.acquire()
    except FolderLockedError:
        raise FolderInUseError(f"--out {folder} is in use by another cnnlab process (its lock {lock.path} is held); "
                               "wait for it to finish or choose another --out") from None
    try:
        found = earlier_run(folder)
        if found is not None and lock.depth == 1:  # a nested claim: the outer one has decided
            if overwrite:
                _remove_earlier_run(folder)
            elif not resume:
                how = ("continue it with --resume or replace it with --overwrite" if resumable
                       else "replace it with --overwrite")
                raise RunExistsError(f"--out {folder} already holds {found}; {how}, or choose another --out")
        yield folder
    finally:
        lock.release()
