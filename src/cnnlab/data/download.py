"""Fetching published files safely: temp name, md5 check, atomic rename, one clear error when it fails."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cnnlab.data.errors import DownloadError

CHUNK = 1 << 20
DEFAULT_TIMEOUT_S = 30.0


def md5sum(path: str | os.PathLike[str], chunk: int = CHUNK) -> str:
    """Hex md5 of a file, read in chunks."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _fetch_one(url: str, dest: Path, md5: str | None, *, progress: bool, timeout: float) -> None:
    """Download ``url`` into ``dest`` via a temporary file in the same folder; raise ``OSError``/``ValueError``."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.md5(usedforsecurity=False)
        received = 0
        request = urllib.request.Request(url, headers={"User-Agent": "cnnlab"})
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as response:
            header = response.headers.get("Content-Length")
            expected = int(header) if header and header.isdigit() else None
            bar = _progress_bar(dest.name, expected, progress)
            try:
                while block := response.read(CHUNK):
                    out.write(block)
                    h.update(block)
                    received += len(block)
                    if bar is not None:
                        bar.update(len(block))
            finally:
                if bar is not None:
                    bar.close()
        if expected is not None and received != expected:
            raise ValueError(f"transfer ended after {received:,} of {expected:,} bytes (truncated)")
        got = h.hexdigest()
        if md5 is not None and got != md5:
            raise ValueError(f"md5 mismatch: got {got}, published {md5} ({received:,} bytes received)")
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


def _progress_bar(name: str, total: int | None, enabled: bool) -> Any:  # a tqdm bar, or None
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"downloading {name}", leave=False)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"cannot connect ({exc.reason})"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def download_file(
    filename: str,
    dest_dir: str | os.PathLike[str],
    mirrors: Sequence[str],
    md5: str | None,
    *,
    progress: bool = True,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Path:
    """Fetch ``filename`` from the first mirror that delivers it intact into ``dest_dir/filename``.

    Each attempt writes to a temporary file in ``dest_dir``; only a complete transfer whose md5 equals ``md5``
    (when given) is renamed to the final name, so an interrupted download never leaves a file that looks valid.
    Raises :class:`DownloadError` listing every mirror tried and why it failed.
    """
    dest = Path(dest_dir) / filename
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(dest.parent, os.W_OK):
            raise PermissionError("folder is not writable")
    except OSError as exc:
        raise DownloadError(f"cannot download {filename}: cannot write to {dest.parent} ({_describe(exc)})",
                            missing=[dest]) from None
    failures: list[str] = []
    reached_any = False
    for base in mirrors:
        url = base if base.endswith(filename) else base.rstrip("/") + "/" + filename
        try:
            _fetch_one(url, dest, md5, progress=progress, timeout=timeout)
            return dest
        except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts, disk errors are OSErrors
            failures.append(f"{url}: {_describe(exc)}")
            unreachable = isinstance(exc, urllib.error.URLError | TimeoutError) and not isinstance(
                exc, urllib.error.HTTPError
            )
            reached_any |= not unreachable
    tried = "\n".join(f"    {f}" for f in failures)
    error = DownloadError(f"could not download {filename} to {dest}:\n{tried}", missing=[dest])
    error.unreachable = not reached_any
    raise error
