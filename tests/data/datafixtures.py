"""Builders for the data tests: tiny files in the exact real formats, and a loopback HTTP server (no internet)."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.server
import io
import pickle
import socket
import socketserver
import tarfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

IDX_TYPE_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array``: 0, 0, type code, ndim, big-endian uint32 dims, big-endian data."""
    array = np.asarray(array)
    big = array.astype(array.dtype.newbyteorder(">")) if array.dtype.itemsize > 1 else array
    code = IDX_TYPE_CODES[np.dtype(big.dtype)]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + big.tobytes()


def write_bytes(path: Path, data: bytes, gz: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def write_idx(path: Path, array: np.ndarray, gz: bool | None = None) -> Path:
    """Write ``array`` as an IDX file; gzipped if ``gz`` (default: when the name ends in .gz)."""
    return write_bytes(path, idx_bytes(array), path.suffix == ".gz" if gz is None else gz)


@dataclass
class MnistFiles:
    root: Path
    train_images: np.ndarray  # (N, 28, 28) uint8 as written
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    paths: dict[str, Path] = field(default_factory=dict)


def make_mnist(root: Path, n_train: int = 12, n_test: int = 5, gz: bool = True, seed: int = 0) -> MnistFiles:
    """Write the four MNIST files under ``root/MNIST/raw`` with distinctive, seeded content."""
    rng = np.random.default_rng(seed)
    tr_x = rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8)
    tr_x[:, 0, 0] = np.arange(n_train)  # pixel (0, 0) = index: makes order checks easy
    tr_y = (np.arange(n_train) % 10).astype(np.uint8)
    te_x = rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8)
    te_x[:, 0, 0] = 200 + np.arange(n_test)
    te_y = ((np.arange(n_test) * 3) % 10).astype(np.uint8)
    folder = root / "MNIST" / "raw"
    suffix = ".gz" if gz else ""
    files = MnistFiles(root, tr_x, tr_y, te_x, te_y)
    for key, arr in (("train-images-idx3-ubyte", tr_x), ("train-labels-idx1-ubyte", tr_y),
                     ("t10k-images-idx3-ubyte", te_x), ("t10k-labels-idx1-ubyte", te_y)):
        files.paths[key] = write_idx(folder / (key + suffix), arr, gz)
    return files


CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def cifar_batch_bytes(data: np.ndarray, labels: list[int] | np.ndarray, keys: str = "str", protocol: int = 2,
                      extra: dict | None = None) -> bytes:
    """A pickled CIFAR batch dict with ``str`` or ``bytes`` keys (the real files load as either)."""
    d = {"batch_label": "fixture batch", "labels": [int(v) for v in labels], "data": data,
         "filenames": [f"img_{i}.png" for i in range(len(labels))]}
    d.update(extra or {})
    if keys == "bytes":
        d = {k.encode(): (v.encode() if isinstance(v, str) else v) for k, v in d.items()}
    return pickle.dumps(d, protocol=protocol)


def meta_bytes(keys: str = "str", names: list[str] | None = None) -> bytes:
    names = CIFAR_NAMES if names is None else names
    d = {"num_cases_per_batch": 10000, "label_names": names, "num_vis": 3072}
    if keys == "bytes":
        d = {b"num_cases_per_batch": 10000, b"label_names": [n.encode() for n in names], b"num_vis": 3072}
    return pickle.dumps(d, protocol=2)


@dataclass
class CifarFiles:
    root: Path
    train_images: np.ndarray  # (5 * n_per_batch, 3, 32, 32)
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    contents: dict[str, bytes]  # file name -> bytes written


def cifar_contents(n_per_batch: int = 4, n_test: int = 6, keys: str = "str", seed: int = 1) -> CifarFiles:
    rng = np.random.default_rng(seed)
    n_train = 5 * n_per_batch
    tr_x = rng.integers(0, 256, size=(n_train, 3072), dtype=np.uint8)
    tr_x[:, 0] = np.arange(n_train)  # red pixel (0, 0) = index
    tr_y = np.arange(n_train) % 10
    te_x = rng.integers(0, 256, size=(n_test, 3072), dtype=np.uint8)
    te_y = (np.arange(n_test) * 7) % 10
    contents = {}
    for b in range(5):
        sl = slice(b * n_per_batch, (b + 1) * n_per_batch)
        contents[f"data_batch_{b + 1}"] = cifar_batch_bytes(tr_x[sl], tr_y[sl], keys)
    contents["test_batch"] = cifar_batch_bytes(te_x, te_y, keys)
    contents["batches.meta"] = meta_bytes(keys)
    return CifarFiles(Path(), tr_x.reshape(-1, 3, 32, 32), tr_y, te_x.reshape(-1, 3, 32, 32), te_y, contents)


def make_cifar(root: Path, n_per_batch: int = 4, n_test: int = 6, keys: str = "str") -> CifarFiles:
    """Write ``root/cifar-10-batches-py/*`` (5 train batches, test batch, meta)."""
    files = cifar_contents(n_per_batch, n_test, keys)
    files.root = root
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.contents.items():
        (folder / name).write_bytes(data)
    return files


def tar_gz_bytes(members: dict[str, bytes]) -> bytes:
    """A .tar.gz with the given member names and contents."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def cifar_archive_bytes(files: CifarFiles) -> bytes:
    return tar_gz_bytes({f"cifar-10-batches-py/{n}": d for n, d in files.contents.items()})


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# ------------------------------------------------------------------------------------------------ HTTP server


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    truncate_to: int | None = None  # send Content-Length of the full body but only this many bytes
    hits: int = 0


class FixtureServer:
    """Serves ``routes`` (path -> Route) on 127.0.0.1; unknown paths get 404."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404, "no such fixture")
                    return
                route.hits += 1
                if route.status != 200:
                    self.send_error(route.status)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                body = route.body if route.truncate_to is None else route.body[: route.truncate_to]
                self.wfile.write(body)
                self.wfile.flush()
                if route.truncate_to is not None:
                    self.close_connection = True

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def add(self, path: str, body: bytes = b"", **kwargs: object) -> Route:
        route = Route(body, **kwargs)  # type: ignore[arg-type]
        self.routes["/" + path.lstrip("/")] = route
        return route


class RawServer:
    """A TCP server on 127.0.0.1 that reads a request and lets ``behave(sock)`` answer however it likes (drip,
    stall, send garbage or endless bodies); ``close()`` stops it. For downloads that must fail cleanly."""

    def __init__(self, behave: Callable[[socket.socket], None]) -> None:
        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.settimeout(10)
                with contextlib.suppress(OSError):
                    request = b""
                    while b"\r\n\r\n" not in request and len(request) < 65536:
                        chunk = self.request.recv(4096)
                        if not chunk:
                            return
                        request += chunk
                    behave(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def http_head(length: int | None) -> bytes:
    """A 200 response's status line and headers (with ``Content-Length`` when given)."""
    text = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n"
    return (text + (f"Content-Length: {length}\r\n" if length is not None else "") + "\r\n").encode()
