"""Fetching published files safely: a unique locked temporary file, md5 check, atomic rename, bounded in time and
size, one clear error when it fails.

Limits of every attempt (one mirror): a per-read ``timeout`` (a server that goes silent), an overall ``deadline``
(a server that drips bytes just fast enough to beat the read timeout, while connecting, sending headers or the
body), and a size cap -- the published size when known (a longer body or a larger ``Content-Length`` stops at
once), else the announced ``Content-Length``, else :data:`MAX_UNKNOWN_SIZE`. Temporary files are hidden
(``.<name>.<random>.part``), removed on every failure, and those of a killed download are removed by the next one.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from cnnlab.data.errors import DownloadError
from cnnlab.files import commit, owned_temp_file, remove_stale_temps

CHUNK = 1 << 20
DEFAULT_TIMEOUT_S = 30.0
#: The deadline of one attempt: this much plus the time the file takes at :data:`SLOWEST_RATE`.
DEADLINE_BASE_S = 120.0
#: The slowest average rate (bytes per second) a download may have before its deadline stops it.
SLOWEST_RATE = 50_000
#: The deadline when the size is not published.
DEFAULT_DEADLINE_S = 1800.0
#: The size cap when neither the publisher nor the server says how large the file is.
MAX_UNKNOWN_SIZE = 2 << 30


def md5sum(path: str | os.PathLike[str], chunk: int = CHUNK) -> str:
    """Hex md5 of a file, read in chunks."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def default_deadline(size: int | None) -> float:
    """Seconds one attempt may take: :data:`DEADLINE_BASE_S` plus ``size`` at :data:`SLOWEST_RATE`."""
    return DEFAULT_DEADLINE_S if size is None else DEADLINE_BASE_S + size / SLOWEST_RATE


class _Deadline:
    """A watchdog that shuts down the sockets of one attempt when its time is up, so no blocked read can outlast
    it (a server dripping bytes defeats a per-read timeout)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
        if self.expired:
            self._expire()

    def remaining(self) -> float:
        return max(0.0, self.expires - time.monotonic())

    def check(self) -> None:
        if self.expired or time.monotonic() > self.expires:
            raise TimeoutError(self.message())

    def message(self) -> str:
        return f"not finished within the deadline of {self.seconds:.0f} s (the server is too slow or stalls)"

    def cancel(self) -> None:
        self._timer.cancel()


def _opener(deadline: _Deadline) -> urllib.request.OpenerDirector:
    """A urllib opener whose HTTP(S) connections are registered with ``deadline``."""
    def tracked(base: Any) -> Any:
        class Tracked(base):
            def connect(self) -> None:
                super().connect()
                deadline.watch(self.sock)
        return Tracked

    class HTTP(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(tracked(http.client.HTTPConnection), req)

    class HTTPS(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(tracked(http.client.HTTPSConnection), req,
                                context=self._context)  # type: ignore[attr-defined]

    return urllib.request.build_opener(HTTP(), HTTPS())


def _fetch_one(url: str, dest: Path, md5: str | None, *, size: int | None, progress: bool, timeout: float,
               deadline_s: float) -> None:
    """Download ``url`` into ``dest`` via a temporary file in the same folder; raise ``OSError``/``ValueError``/
    ``http.client.HTTPException`` (a :class:`TimeoutError` when the deadline passes)."""
    deadline = _Deadline(deadline_s)
    try:
        with owned_temp_file(dest.parent, prefix=f".{dest.name}.") as (tmp, out):
            request = urllib.request.Request(url, headers={"User-Agent": "cnnlab"})
            with _opener(deadline).open(request, timeout=min(timeout, deadline_s)) as response:
                _receive(response, out, md5, size, dest.name, progress, deadline)
            commit(out, tmp, dest)
    except (OSError, http.client.HTTPException, ValueError):
        if deadline.expired:
            raise TimeoutError(deadline.message()) from None
        raise
    finally:
        deadline.cancel()


def _receive(response: Any, out: IO[bytes], md5: str | None, size: int | None, name: str, progress: bool,
             deadline: _Deadline) -> None:
    header = response.headers.get("Content-Length")
    announced = int(header) if header and header.isdigit() else None
    if size is not None and announced is not None and announced != size:
        raise ValueError(f"the server announces {announced:,} bytes, but the published file is {size:,} bytes")
    cap = size if size is not None else announced if announced is not None else MAX_UNKNOWN_SIZE
    h = hashlib.md5(usedforsecurity=False)
    received = 0
    bar = _progress_bar(name, announced or size, progress)
    try:
        while block := response.read1(CHUNK):
            received += len(block)
            if received > cap:
                raise ValueError(f"the server sent more than the expected {cap:,} bytes; stopped")
            out.write(block)
            h.update(block)
            deadline.check()
            if bar is not None:
                bar.update(len(block))
    finally:
        if bar is not None:
            bar.close()
    expected = size if size is not None else announced
    if expected is not None and received != expected:
        raise ValueError(f"transfer ended after {received:,} of {expected:,} bytes (truncated)")
    got = h.hexdigest()
    if md5 is not None and got != md5:
        raise ValueError(f"md5 mismatch: got {got}, published {md5} ({received:,} bytes received)")


def _progress_bar(name: str, total: int | None, enabled: bool) -> Any:  # a tqdm bar, or None
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"downloading {name}", leave=False)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        return str(reason) if isinstance(reason, TimeoutError) and str(reason) else f"cannot connect ({reason})"
    if isinstance(exc, TimeoutError):
        return str(exc) if str(exc) and str(exc) != "timed out" else "timed out (no data from the server)"
    if isinstance(exc, http.client.HTTPException):
        return f"the server's answer is not valid HTTP ({type(exc).__name__}: {exc})"
    return str(exc) or type(exc).__name__


def download_file(
    filename: str,
    dest_dir: str | os.PathLike[str],
    mirrors: Sequence[str],
    md5: str | None,
    *,
    progress: bool = True,
    timeout: float = DEFAULT_TIMEOUT_S,
    size: int | None = None,
    deadline: float | None = None,
) -> Path:
    """Fetch ``filename`` from the first mirror that delivers it intact into ``dest_dir/filename``.

    Each attempt writes to its own hidden temporary file in ``dest_dir``; only a complete transfer of ``size`` bytes
    (when published) whose md5 equals ``md5`` (when given) is renamed to the final name, so an interrupted download
    never leaves a file that looks valid. ``timeout``: seconds a read may wait; ``deadline``: seconds an attempt may
    take in all (default :func:`default_deadline`). Raises :class:`DownloadError` listing every mirror tried and why
    it failed.
    """
    dest = Path(dest_dir) / filename
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(dest.parent, os.W_OK):
            raise PermissionError("folder is not writable")
        remove_stale_temps(dest.parent, f".{filename}.*.part")  # left by a download that was killed
        if size is not None and shutil.disk_usage(dest.parent).free < size:
            free = shutil.disk_usage(dest.parent).free
            raise OSError(f"not enough free space: {filename} needs {size / 1e6:.1f} MB, {free / 1e6:.1f} MB free")
    except OSError as exc:
        raise DownloadError(f"cannot download {filename}: cannot write to {dest.parent} ({_describe(exc)})",
                            missing=[dest]) from None
    seconds = deadline if deadline is not None else default_deadline(size)
    failures: list[str] = []
    reached_any = False
    for base in mirrors:
        url = base if base.endswith(filename) else base.rstrip("/") + "/" + filename
        try:
            _fetch_one(url, dest, md5, size=size, progress=progress, timeout=timeout, deadline_s=seconds)
            return dest
        except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError, timeouts, disk errors: OSError
            failures.append(f"{url}: {_describe(exc)}")
            unreachable = isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError)
            reached_any |= not unreachable
    tried = "\n".join(f"    {f}" for f in failures)
    error = DownloadError(f"could not download {filename} to {dest}:\n{tried}", missing=[dest])
    error.unreachable = not reached_any
    raise error
