"""When, and at which commit, a measurement was made: the `measured` field of every artifacts/*.json.

`make report` (evaluate.report) prints it above each table of docs/results.md, so every number there
says what code it came from. "+dirty" marks a work tree with uncommitted changes to anything that can
change a number (the reports themselves, plots and docs do not count); "unknown" is outside git.
"""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What a measuring run writes itself, or cannot change a measurement: edits there leave the tree clean.
NOT_INPUTS = (":(exclude)artifacts/*.json", ":(exclude)artifacts/*.png", ":(exclude)docs", ":(exclude)*.md")


def _git(*args: str) -> str | None:
    """git's output in the repository, or None when git or the repository is missing."""
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def measured() -> dict[str, str]:
    """{"date": today as YYYY-MM-DD, "commit": the short HEAD, "+dirty" with uncommitted changes, or "unknown"}."""
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    if commit != "unknown" and _git("status", "--porcelain", "--untracked-files=no", "--", ".", *NOT_INPUTS):
        commit += "+dirty"
    return {"date": datetime.date.today().isoformat(), "commit": commit}
