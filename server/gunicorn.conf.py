"""Gunicorn settings: the variable ones come from server.config.Config, like the app's."""

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import tempfile
from pathlib import Path

from server import logs
from server.config import Config

_config = Config.from_env()  # not "config": that name is a gunicorn setting

# Prometheus multiprocess mode: workers write their samples under one directory per deployment,
# named before any worker imports prometheus_client. A directory we make, we remove at exit.
_memory = "/dev/shm" if os.path.isdir("/dev/shm") else None  # tmpfs: samples are rewritten on every request
_metrics_dir = Path(_config.metrics_dir or tempfile.mkdtemp(prefix="digits-metrics-", dir=_memory))
_metrics_dir.mkdir(parents=True, exist_ok=True)
for _stale in _metrics_dir.glob("*.db"):  # a previous run's samples would add to this one's
    _stale.unlink()
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir)

bind = f"{_config.host}:{_config.port}"
workers = _config.workers  # one sync worker per core on the 2-core target machine
worker_class = "server.worker.Worker"  # sync, with a time limit on slow request heads
preload_app = False  # each worker imports the app, so the onnxruntime session is created after the fork
worker_tmp_dir = "/dev/shm"  # the heartbeat file: memory, not disk
timeout = _config.worker_timeout
graceful_timeout = 10
keepalive = 5
max_requests = _config.max_requests  # recycle workers to bound slow leaks
max_requests_jitter = 2000  # ... but not all at once
limit_request_line = 4094
limit_request_fields = 50
accesslog = None  # the app writes the access log as JSON lines (server.logs)
errorlog = "-"
loglevel = _config.log_level
logconfig_dict = logs.config_dict(_config.log_level, _config.access_log)
control_socket_disable = True  # unused; it would be a file in $HOME, read-only in the container


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
MMAP_THRESHOLD_BYTES = 4 << 20  # above a paper photo's working arrays: those keep the heap's reuse (1 MiB cost ~10%)
# A request's freed arrays stay in the heap for the next one: glibc would give back its top over 128 KiB,
# and every request paid ~400 page faults re-taking it (a canvas's preprocessing 3.9 -> 2.7 ms).
TRIM_THRESHOLD_BYTES = 8 << 20


def post_fork(server, worker) -> None:
    """Big allocations (4 MiB or more) mapped on their own, so a decoded image's memory goes back when freed.

    glibc otherwise raises that threshold after the first big free, and later images' buffers come from a
    heap that keeps what it held: a worker's peak could stack one big image on another's leftovers.
    Up to TRIM_THRESHOLD_BYTES of freed heap stays for the next request.
    """
    libc = ctypes.util.find_library("c")
    if libc:  # glibc; another libc keeps its own policy
        with contextlib.suppress(AttributeError):
            mallopt = ctypes.CDLL(libc).mallopt
            mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
            mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)


def child_exit(server, worker) -> None:
    """A worker is gone: drop its live gauges (its counters stay in the totals)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    """Remove the metrics directory this run made."""
    if not _config.metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
