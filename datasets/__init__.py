"""Data every stage shares: MNIST, UNIPEN pen strokes, pen redraws, user-like renders.

Imports digits, never train, export, evaluate or bench.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable


class DataMissing(RuntimeError):
    """A one-line, actionable problem with a data set's files; `source` names the data set."""

    source = "data"


def reports_missing_data(main: Callable[[], int]) -> Callable[[], int]:
    """A stage's main that answers DataMissing with its one line on stderr and exit status 1, not a traceback."""

    @functools.wraps(main)
    def run() -> int:
        try:
            return main()
        except DataMissing as exc:
            print(f"{exc.source}: {exc}", file=sys.stderr)
            return 1

    return run
