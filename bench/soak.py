"""`make soak`: sustained saturation (errors, worker memory growth), then kill -9 of a worker under load.

The load is wrk in its own process posting the benchmark's 280x280 canvas PNG at 16 connections.
Writes artifacts/soak.json and prints a markdown table.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import servers
from bench.run import body_file, canvas_png, wrk
from datasets import provenance, reports_missing_data
from evaluate import report as report_doc

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "artifacts" / "soak.json"
CONNECTIONS = 16
WARM_UP_SECONDS = 5  # caches and lazy allocations settle before the memory baseline is taken


def soak(body: Path, seconds: int) -> dict:
    """`seconds` at saturation: requests, errors, and each worker's RSS before and after."""
    service = servers.gunicorn()
    try:
        wrk(service.url, body, CONNECTIONS, WARM_UP_SECONDS)
        before = {pid: servers.rss_mb(pid) for pid in service.child_pids()}
        load = wrk(service.url, body, CONNECTIONS, seconds)
        after = {pid: servers.rss_mb(pid) for pid in service.child_pids()}
    finally:
        service.stop()
    kept = sorted(before.keys() & after.keys())  # a recycled worker (max_requests) has no "after"
    return {
        **load,
        "rss_before_mb": [before[pid] for pid in kept],
        "rss_after_mb": [after[pid] for pid in kept],
        "rss_growth_mb": max(after[pid] - before[pid] for pid in kept) if kept else None,
        "workers_recycled": len(before.keys() - after.keys()),
    }


def fault(body: Path, seconds: int) -> dict:
    """kill -9 one worker a third of the way into `seconds` of saturation: errors and time to replacement."""
    service = servers.gunicorn()
    try:
        with ThreadPoolExecutor(1) as pool:
            load = pool.submit(wrk, service.url, body, CONNECTIONS, seconds)
            time.sleep(seconds / 3)
            workers = service.child_pids()
            os.kill(workers[0], signal.SIGKILL)
            killed = time.monotonic()
            while len(now := service.child_pids()) < len(workers) or workers[0] in now:
                time.sleep(0.01)
            replaced_after = time.monotonic() - killed
            result = load.result()
    finally:
        service.stop()
    return {**result, "workers": len(workers), "replaced_after_s": replaced_after}


@reports_missing_data
def main() -> int:
    """Soak, then fault; write the report."""
    seconds = int(os.environ.get("SOAK_SECONDS", 60))
    with body_file(canvas_png()) as body:
        report = {"soak": soak(body, seconds), "fault": fault(body, 20), "measured": provenance.measured()}
    REPORT.write_text(json.dumps(report, indent=1))
    print("\n".join(report_doc.soak_section(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
