"""Offline stand-ins for the MNIST mirrors: tiny generated IDX files and a faulty HTTP server.

``make_tiny_dataset`` writes the four MNIST files (same names and format, a few hundred images of
seven-segment digits) and ``IdxServer`` serves a folder on 127.0.0.1 with per-file fault
injection. For several mirrors, start several servers (each has its own port and faults).
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit

import numpy as np

from prml_pipeline.data import write_idx

FILENAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
FAULT_MODES = ("404", "500", "timeout", "truncate", "corrupt")

# Seven-segment layout in a 28x28 frame: (row slice, column slice) of each stroke.
_SEGMENTS = {
    "a": (slice(4, 7), slice(8, 20)),  # top
    "b": (slice(4, 14), slice(17, 20)),  # upper right
    "c": (slice(13, 24), slice(17, 20)),  # lower right
    "d": (slice(21, 24), slice(8, 20)),  # bottom
    "e": (slice(13, 24), slice(8, 11)),  # lower left
    "f": (slice(4, 14), slice(8, 11)),  # upper left
    "g": (slice(12, 15), slice(8, 20)),  # middle
}
_DIGITS = ["abcdef", "bc", "abged", "abgcd", "fgbc", "afgcd", "afgedc", "abc", "abcdefg", "abcdfg"]


def _templates() -> np.ndarray:
    templates = np.zeros((10, 28, 28), dtype=np.float64)
    for digit, segments in enumerate(_DIGITS):
        for name in segments:
            rows, cols = _SEGMENTS[name]
            templates[digit, rows, cols] = 1.0
    return templates


def _images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Digit templates with a random shift (+-3 px), stroke intensity and per-pixel noise."""
    templates = _templates()
    images = np.empty((labels.size, 28, 28), dtype=np.uint8)
    shifts = rng.integers(-3, 4, size=(labels.size, 2))
    intensity = rng.uniform(0.6, 1.0, size=labels.size)
    for i, label in enumerate(labels):
        image = np.roll(templates[label], tuple(shifts[i]), axis=(0, 1))
        noise = rng.uniform(0.7, 1.0, size=image.shape)
        images[i] = np.clip(255.0 * intensity[i] * image * noise, 0, 255).astype(np.uint8)
    return images


def make_tiny_dataset(
    directory: Path, n_train: int = 200, n_test: int = 100, seed: int = 0
) -> dict[str, str]:
    """Write the four gzipped MNIST-format files to ``directory``; return {filename: md5}.

    Byte-deterministic for a given seed (write_idx uses gzip mtime 0).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        # Balanced labels in random order, so every class appears even in tiny sets.
        labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
        arrays[FILENAMES[f"{split}_images"]] = _images(labels, rng)
        arrays[FILENAMES[f"{split}_labels"]] = labels
    checksums = {}
    for filename, array in arrays.items():
        write_idx(directory / filename, array)
        checksums[filename] = hashlib.md5((directory / filename).read_bytes()).hexdigest()
    return checksums


class IdxServer:
    """Serve ``directory`` over HTTP on 127.0.0.1 (free port) in a daemon thread.

    ``faults`` maps a file name to one of FAULT_MODES:
    "404" / "500" answer with that status; "timeout" stalls ``stall_s`` seconds before answering
    (use a shorter client timeout); "truncate" announces the full Content-Length but sends half
    the bytes and closes; "corrupt" sends different bytes of the same length.
    ``requests`` counts GET requests per file name; ``url`` is the base URL, ending in '/'.
    Use as a context manager; leaving it stops the server and wakes any stalled handler.
    """

    def __init__(
        self,
        directory: Path,
        faults: dict[str, str] | None = None,
        *,
        stall_s: float = 3.0,
    ) -> None:
        self.directory = Path(directory)
        self.faults = dict(faults or {})
        unknown = set(self.faults.values()) - set(FAULT_MODES)
        if unknown:
            raise ValueError(f"unknown fault modes {sorted(unknown)}; use {FAULT_MODES}")
        self.stall_s = stall_s
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        # A short poll interval keeps shutdown (which waits for the next poll) fast in tests.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def __enter__(self) -> IdxServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output clean

            def do_GET(self) -> None:
                name = unquote(urlsplit(self.path).path).lstrip("/")
                with server._lock:
                    server.requests[name] += 1
                mode = server.faults.get(name)
                path = server.directory / name
                if mode in ("404", "500"):
                    self.send_error(int(mode))
                    return
                if "/" in name or not path.is_file():
                    self.send_error(404)
                    return
                body = path.read_bytes()
                if mode == "timeout" and server._closing.wait(server.stall_s):
                    return  # server is shutting down: drop the request
                if mode == "corrupt":
                    body = (np.frombuffer(body, dtype=np.uint8) ^ 0x55).tobytes()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2] if mode == "truncate" else body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (e.g. after its own timeout)
                self.close_connection = True

        return Handler
