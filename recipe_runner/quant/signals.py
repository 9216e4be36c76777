"""SIGINT, SIGTERM and SIGHUP all end a conversion the same way: an exception, so cleanup code runs.

Python turns only SIGINT into an exception by default; SIGTERM (`kill`, a batch scheduler) and SIGHUP (a
closed terminal) would end the process at once and leave a multi-GB partial directory behind. Inside
`signals_raise()` each raises `Interrupted` in the main thread, once: a second signal during cleanup is
ignored so the cleanup finishes. A signal the caller ignores (`nohup` ignores SIGHUP) stays ignored.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A handled signal arrived; `exit_code` is the shell's 128 + signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


@contextmanager
def signals_raise() -> Iterator[None]:
    """Within the block, the handled signals raise Interrupted (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if not fired:
            fired.append(signum)
            raise Interrupted(signum)

    previous = {s: signal.getsignal(s) for s in HANDLED}
    for s, old in previous.items():
        if old is not signal.SIG_IGN:
            signal.signal(s, handler)
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, signal.SIG_DFL if old is None else old)  # None: set outside Python
