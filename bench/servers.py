"""Start a server as a subprocess on a free loopback port and wait until it is healthy.

Used by the integration tests and the benchmark, so both measure the real thing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """A server subprocess; `ready_after` is the seconds from start to the first healthy answer."""

    def __init__(self, args: list[str], env: dict | None = None, port: int | None = None, timeout: float = 60) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {**os.environ, "HOST": "127.0.0.1", "PORT": str(self.port), **(env or {})}
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [arg.format(port=self.port) for arg in args],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.ready_after = self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("server exited:\n" + self.process.stdout.read().decode(errors="replace"))
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        return time.monotonic() - self.started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"server did not become healthy within {timeout} s")

    def stop(self) -> str:
        """Terminate and return everything it printed."""
        self.process.terminate()
        try:
            out, _ = self.process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        return out.decode(errors="replace")

    def child_pids(self) -> list[int]:
        """The server's direct children (gunicorn's workers), from /proc."""
        children = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                children.append(int(entry))
        return sorted(children)


def gunicorn(workers: int = 2, env: dict | None = None, app: str = "server.wsgi:app") -> ServerProcess:
    """The service as `make serve` runs it (or another app under its settings), on a free port."""
    settings = {"WORKERS": str(workers), "ACCESS_LOG": "", **(env or {})}
    server = ServerProcess([sys.executable, "-m", "gunicorn", "-c", "server/gunicorn.conf.py", app], settings)
    deadline = time.monotonic() + 30  # healthy once one worker answers; on a busy machine the rest may still fork
    while len(server.child_pids()) < workers and time.monotonic() < deadline:
        time.sleep(0.02)
    return server


def flask_baseline() -> ServerProcess:
    """The seed-style Flask + Keras app."""
    return ServerProcess([sys.executable, "-m", "bench.baseline_flask", "{port}"], timeout=120)


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of a process in MB; field="VmHWM" gives its peak so far."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0
