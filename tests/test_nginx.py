"""deploy/nginx.conf for real: Debian's nginx in front of two gunicorn replicas, under wrk's load."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from bench import servers
from bench.run import body_file, canvas_png, wrk
from bench.servers import ServerProcess
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
CONFIG = ROOT / "deploy" / "nginx.conf"
CONNECTIONS = 8


class Nginx:
    """deploy/nginx.conf with its listen port and upstream servers pointed at this test's replicas."""

    def __init__(self, replicas: list[ServerProcess]) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        assert Path(nginx).exists(), "nginx is missing: apt-get install nginx (.ci/run does)"
        self.prefix = Path(tempfile.mkdtemp(prefix="digits-nginx-"))
        self.prefix.chmod(0o755)  # nginx's workers run as nobody when started by root
        (self.prefix / "temp").mkdir()
        self.port = servers.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = CONFIG.read_text().replace("listen 127.0.0.1:8080;", f"listen 127.0.0.1:{self.port};")
        upstreams = "".join(f"        server 127.0.0.1:{r.port} max_fails=1 fail_timeout=5s;\n" for r in replicas)
        config, count = re.subn(r"(        server 127\.0\.0\.1:\d+ [^\n]*\n)+", upstreams, config, count=1)
        assert count == 1, "deploy/nginx.conf's upstream block moved: update this test"
        (self.prefix / "nginx.conf").write_text(config)
        self.process = subprocess.Popen(
            [nginx, "-p", f"{self.prefix}/", "-c", str(self.prefix / "nginx.conf"),
             "-g", f"daemon off; pid {self.prefix}/nginx.pid; error_log stderr warn;"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.stdout.read().decode()
            try:
                if requests.get(self.url + "/healthz", timeout=1).ok:
                    return
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not answer within 10 s")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        shutil.rmtree(self.prefix, ignore_errors=True)


@pytest.fixture
def replicas(mnist_dir) -> Iterator[list[ServerProcess]]:
    started = [servers.gunicorn(1) for _ in range(2)]  # two replicas, one worker each: one per core
    yield started
    for replica in started:
        replica.stop()


@pytest.fixture
def balancer(replicas) -> Iterator[Nginx]:
    nginx = Nginx(replicas)
    yield nginx
    nginx.stop()


def served(replica: ServerProcess) -> float:
    """Digits /predict answered by this replica so far, from its own /metrics."""
    text = requests.get(replica.url + "/metrics", timeout=10).text
    line = re.search(r'^digits_requests_total\{[^}]*route="/api/v1/predict"[^}]*status="200"[^}]*\} (\S+)$', text, re.M)
    return float(line.group(1)) if line else 0.0


def kill_replica(replica: ServerProcess) -> None:
    """SIGKILL the replica's gunicorn and its workers at once, as when its machine dies."""
    workers = replica.child_pids()
    os.kill(replica.process.pid, signal.SIGKILL)
    for pid in workers:
        os.kill(pid, signal.SIGKILL)


def test_a_replica_killed_under_load_loses_no_request(balancer: Nginx, replicas: list[ServerProcess]) -> None:
    victim, survivor = replicas
    with body_file(canvas_png()) as body, ThreadPoolExecutor(1) as pool:
        load = pool.submit(wrk, balancer.url, body, CONNECTIONS, 12)
        time.sleep(4)
        before_kill = served(victim), served(survivor)
        kill_replica(victim)
        result = load.result()
    print(result, before_kill)
    assert before_kill[0] > 0 and before_kill[1] > 0, "nginx spread the load over both replicas"
    assert result["errors"] == 0, f"{result['errors']} of {result['requests']} requests failed"
    assert served(survivor) - before_kill[1] > 0.4 * result["requests"], "the survivor carried the rest"


def slow_clients(url_port: int, count: int, stop: threading.Event) -> threading.Thread:
    """`count` connections that trickle their heads and bodies, a byte every half second (slow-loris)."""

    def trickle() -> None:
        sockets = []
        for k in range(count):
            s = socket.create_connection(("127.0.0.1", url_port))
            head = "POST /api/v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
            s.sendall((head + "Content-Length: 100000\r\n\r\n" if k % 2 else head).encode())
            sockets.append(s)
        while not stop.wait(0.5):
            for s in sockets:
                with contextlib.suppress(OSError):  # nginx may have timed it out
                    s.send(b"X")
        for s in sockets:
            s.close()

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    return thread


def test_slow_clients_do_not_reduce_throughput(balancer: Nginx) -> None:
    with body_file(canvas_png()) as body:
        wrk(balancer.url, body, CONNECTIONS, 2)  # warm up
        alone = wrk(balancer.url, body, CONNECTIONS, 5)
        stop = threading.Event()
        loris = slow_clients(balancer.port, 200, stop)
        time.sleep(1)
        try:
            beside = wrk(balancer.url, body, CONNECTIONS, 5)
        finally:
            stop.set()
            loris.join(5)
    print(alone["requests_per_s"], beside["requests_per_s"])
    assert beside["errors"] == 0
    assert beside["requests_per_s"] >= 0.7 * alone["requests_per_s"], "200 slow clients held up the replicas"


def test_limits_and_request_ids_through_the_proxy(balancer: Nginx) -> None:
    png = {"Content-Type": "image/png"}
    big = requests.post(balancer.url + "/api/v1/predict", data=b"\0" * (10 * 1024 * 1024 + 1), headers=png)
    assert big.status_code == 413 and big.json()["code"] == "too_large"
    named = {**png, "X-Request-ID": "abc-1"}
    bad = requests.post(balancer.url + "/api/v1/predict", data=b"not an image", headers=named)
    assert bad.status_code == 400 and bad.json() == {**bad.json(), "code": "invalid_image", "request_id": "abc-1"}
    assert bad.headers["X-Request-ID"] == "abc-1"
    minted = requests.post(balancer.url + "/api/v1/predict", data=b"x", headers=png)
    assert re.fullmatch(r"[0-9a-f]{32}", minted.json()["request_id"]), "nginx names requests that came unnamed"
    hidden = requests.get(balancer.url + "/metrics")
    assert hidden.status_code == 404 and hidden.json()["code"] == "not_found"
