"""A wall-clock limit on blocking reads from a client, by SIGALRM.

A sync worker blocks on a client that trickles its request; a per-read socket timeout never fires for
one that sends a byte a second, so the whole read gets one alarm. Signals reach the main thread only,
so elsewhere (a threaded server) the limit is not set.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Expired(Exception):
    """The time limit ran out."""


def _expire(signum: int, frame: object) -> None:
    raise Expired


def start(seconds: float) -> bool:
    """Raise Expired in the main thread `seconds` from now; False where that cannot be done."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        return False
    signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    return True


def cancel() -> None:
    """Stop the pending alarm, if any."""
    if threading.current_thread() is threading.main_thread():
        signal.setitimer(signal.ITIMER_REAL, 0)


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise Expired if the block runs longer than `seconds`."""
    previous = signal.getsignal(signal.SIGALRM)
    started = start(seconds)
    try:
        yield
    finally:
        if started:
            cancel()
            signal.signal(signal.SIGALRM, previous)
