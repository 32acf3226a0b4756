"""Ctrl-C and SIGTERM in the sweep's main thread: SIGTERM is handled as Ctrl-C, and waiting stays interruptible."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any


def wait_all(done: list[threading.Event]) -> None:
    """Wait for the workers with plain sleeps: a Thread.join interrupted by Ctrl-C can wrongly report the
    thread as finished (CPython), and the main thread must stay interruptible."""
    while not all(ev.is_set() for ev in done):
        time.sleep(0.05)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (docker stop, a job scheduler) is handled like Ctrl-C: cancel, record, exit 130."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
