"""A thread-safe progress line on stderr: bytes of input done, rate and ETA."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

_GIB = 1024**3


class Progress:
    """Redraws at most every 0.2 s; prints nothing when disabled or when the stream is not a terminal."""

    def __init__(self, total: int, label: str, enabled: bool = True, stream: TextIO | None = None) -> None:
        # sys.stderr is looked up per call, not bound at import: it may be replaced (pytest, redirection)
        self.total, self.label, self.stream = max(total, 1), label, stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self.done = 0
        self.start = self.last = time.monotonic()
        self.lock = threading.Lock()

    def advance(self, nbytes: int) -> None:
        with self.lock:
            self.done += nbytes
            now = time.monotonic()
            if self.enabled and (now - self.last > 0.2 or self.done >= self.total):
                self.last = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        self.stream.write(
            f"\r{self.label}: {self.done / _GIB:6.2f}/{self.total / _GIB:.2f} GiB "
            f"{100 * self.done / self.total:5.1f}%  {rate / _GIB:5.2f} GiB/s  ETA {eta:5.0f} s "
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
