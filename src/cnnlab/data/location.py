"""Where the data lives: the data root and the download mirrors (each dataset's folder is in its spec).

``<root>`` is, in order: an explicit argument, ``$CNNLAB_DATA``, or ``./data``. Download mirrors can be replaced
with ``$CNNLAB_DATA_MIRRORS`` (whitespace-separated base URLs; a file is fetched from ``<base>/<file name>``) or the
``mirrors`` argument of the download functions.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

DATA_ENV = "CNNLAB_DATA"
MIRRORS_ENV = "CNNLAB_DATA_MIRRORS"
DEFAULT_ROOT = Path("data")

PathLike = str | os.PathLike[str]


def resolve_root(root: PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else ``$CNNLAB_DATA`` if set and non-empty, else ``./data``.

    The path is returned expanded (``~``) but not required to exist.
    """
    if root is not None and str(root) != "":
        return Path(root).expanduser()
    env = os.environ.get(DATA_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return DEFAULT_ROOT


def root_origin(root: PathLike | None) -> str:
    """Where :func:`resolve_root` took the root from, for messages."""
    if root is not None and str(root) != "":
        return "given explicitly"
    if os.environ.get(DATA_ENV, "").strip():
        return f"from ${DATA_ENV}"
    return f"the default ./data (set ${DATA_ENV} or pass --data-dir to change it)"


def resolve_mirrors(default: Sequence[str], mirrors: Sequence[str] | str | None = None) -> list[str]:
    """Base URLs to try in order: ``mirrors`` if given, else ``$CNNLAB_DATA_MIRRORS`` if set, else ``default``."""
    if mirrors is None:
        env = os.environ.get(MIRRORS_ENV, "").strip()
        mirrors = env.split() if env else list(default)
    elif isinstance(mirrors, str):
        mirrors = mirrors.split()
    out = [m if m.endswith("/") else m + "/" for m in mirrors]
    if not out:
        raise ValueError("no download mirrors given (empty list)")
    return out
