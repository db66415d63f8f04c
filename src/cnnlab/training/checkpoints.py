"""Checkpoints of :func:`cnnlab.training.fit`: the model, optimizer, scheduler, history and RNG state after every
finished epoch.

The format cannot carry code: ``torch.save`` of a dict holding only tensors and plain Python values (dicts, lists,
tuples, strings, numbers, bools, None), read back with ``torch.load(weights_only=True)``, which refuses anything
else instead of running it. NumPy arrays (the NumPy engine's weights and optimizer state) are stored as tensors
(:func:`to_storable`); the loader gets tensors back, which every ``load_state_dict`` of both engines accepts. Each
file is marked with :data:`CHECKPOINT_FORMAT`; a file of an older format (cnnlab 0.1 pickled NumPy arrays) or no
checkpoint at all is refused with a :class:`CheckpointError` saying so, never executed.

Files are written atomically (:func:`cnnlab.files.atomic_write`: a temporary file unique to this writer, fsynced,
then renamed), so a kill never leaves a half-written checkpoint and two writers never share a temporary file.
"""

from __future__ import annotations

import io
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnnlab.errors import UserError
from cnnlab.files import atomic_write

CHECKPOINT_NAME = "checkpoint.pt"
#: Marks the current format; files without it were written by cnnlab 0.1 (pickled NumPy arrays) or are foreign.
CHECKPOINT_FORMAT = "cnnlab-checkpoint/2"
#: What every checkpoint holds besides its format mark.
REQUIRED_KEYS = ("model", "optimizer", "scheduler", "history", "rng")


class CheckpointError(UserError):
    """A checkpoint that cannot be used: missing, damaged, foreign, or of an older format. The message names the
    file and what to do."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """There is no checkpoint to resume from."""

    def __str__(self) -> str:  # FileNotFoundError would otherwise format errno/filename
        return str(self.args[0])


def to_storable(value: Any) -> Any:
    """``value`` with every NumPy array turned into a tensor and every NumPy scalar into a Python number, recursively
    through dicts, lists and tuples; anything else that is not a plain value is a ``TypeError`` (it could not be
    read back without unpickling code)."""
    if isinstance(value, torch.Tensor | str | bytes | bool | int | float) or value is None:
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value, order="C", copy=True))  # keeps 0-d buffers 0-d (num_batches_tracked)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {key: to_storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        items = [to_storable(item) for item in value]
        return items if isinstance(value, list) else tuple(items)
    raise TypeError(f"cannot store a {type(value).__name__} in a checkpoint (tensors, arrays and plain values only)")


def save_checkpoint(path: Path, state: Mapping[str, Any]) -> None:
    """Write ``state`` (see :data:`REQUIRED_KEYS`) to ``path`` atomically, in the code-free format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": CHECKPOINT_FORMAT, **to_storable(dict(state))}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write(path, lambda file: file.write(buffer.getbuffer()))


def refused_object(error: BaseException) -> str | None:
    """The Python object (``"numpy._core.multiarray._reconstruct"``) that ``torch.load(weights_only=True)`` refused to
    create, or None when the error is not such a refusal (a damaged file)."""
    found = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
    return found.group(1) if found else None


def _refuse(path: Path, problem: str) -> CheckpointError:
    return CheckpointError(f"{path}: {problem}. Start the run afresh with --overwrite (or delete {path.parent}), "
                           "or point --out at another folder")


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (``path``: the file or its folder) without running any
    code; :class:`CheckpointError` naming the file when it is missing, damaged, foreign or of an older format."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise CheckpointNotFoundError(f"no checkpoint at {path}: nothing to resume; run without --resume to start "
                                      "afresh")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        refused = refused_object(error)
        if refused is not None:
            raise _refuse(path, f"holds a Python object ({refused}) besides tensors and plain values (a checkpoint of "
                                "cnnlab 0.1, or not a cnnlab checkpoint); it was not loaded, as that could run "
                                "code") from None
        raise _refuse(path, "is damaged or not a checkpoint (not a pickle of tensors and plain values)") from None
    except (EOFError, RuntimeError, zipfile.BadZipFile, ValueError) as error:
        detail = "the file is empty" if isinstance(error, EOFError) or path.stat().st_size == 0 else \
            str(error).split(". ")[0]
        raise _refuse(path, f"is damaged or not a checkpoint ({detail})") from None
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({error.strerror or error})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise _refuse(path, f"is not a checkpoint of this cnnlab version (format {found!r}, expected "
                            f"{CHECKPOINT_FORMAT!r})")
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise _refuse(path, f"is incomplete (no {', '.join(missing)})")
    return state
