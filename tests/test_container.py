"""The container image for real: `make image` on a Debian bookworm base, run read-only as it would be deployed.

No registry is reachable here, so the base is Debian's own: debootstrap, then `podman import`. Podman
runs with the vfs storage driver and runc, and a containers.conf without default ulimits (crun fails
on rlimits and cgroups on this machine). About 5 minutes on 2 cores, most of it the vfs copies.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bench import servers
from tests.conftest import ROOT, png_bytes

pytestmark = pytest.mark.slow
BASE = "localhost/digits-base:bookworm"
IMAGE = "localhost/digits:test"
PODMAN = ["podman", "--storage-driver", "vfs", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]


@pytest.fixture(scope="module")
def podman(tmp_path_factory) -> Iterator[dict[str, str]]:
    """The environment podman needs here; fails (not skips) without podman and debootstrap."""
    for tool in ("podman", "debootstrap", "runc"):
        assert shutil.which(tool) or Path("/usr/sbin", tool).exists(), f"{tool} is missing: .ci/run installs it"
    conf = tmp_path_factory.mktemp("podman") / "containers.conf"
    conf.write_text("[containers]\ndefault_ulimits = []\n")
    yield {**os.environ, "CONTAINERS_CONF": str(conf), "PATH": os.environ["PATH"] + ":/usr/sbin"}


def run(args: list[str], env: dict[str, str], **options) -> subprocess.CompletedProcess:
    done = subprocess.run(args, env=env, capture_output=True, text=True, **options)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def image(podman, tmp_path_factory) -> str:
    """The base from debootstrap (once per machine), then the image from the Containerfile via `make image`."""
    if subprocess.run([*PODMAN, "image", "exists", BASE], env=podman).returncode != 0:
        rootfs = tmp_path_factory.mktemp("debootstrap") / "rootfs"  # made by debootstrap: "/" must be 0755, not 0700
        run(["debootstrap", "--variant=minbase", "--include=python3,python3-venv,passwd", "bookworm", str(rootfs),
             "http://deb.debian.org/debian"], podman, timeout=900)  # fmt: skip
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        run([*PODMAN, "import", "--change", 'CMD ["/bin/bash"]', "-", BASE], podman, stdin=tar.stdout, timeout=600)
        assert tar.wait() == 0
        shutil.rmtree(rootfs, ignore_errors=True)
    make = ["make", "image", f"BASE={BASE}", f"IMAGE={IMAGE}", f"PODMAN={' '.join(PODMAN)}"]
    run(make, podman, cwd=ROOT, timeout=1800)
    return IMAGE


def test_the_image_serves_read_only_as_non_root_and_stops_gracefully(podman, image, mnist_test) -> None:
    images, labels = mnist_test
    port = servers.free_port()
    name = f"digits-test-{port}"
    start = [*PODMAN, "run", "--detach", "--name", name, "--read-only", "--tmpfs", "/tmp", "--network", "host",
             "--env", f"PORT={port}", "--env", "HOST=127.0.0.1", image]  # fmt: skip
    run(start, podman)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(url + "/healthz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        answer = requests.post(url + "/api/v1/predict", data=png_bytes(255 - images[0]),
                               headers={"Content-Type": "image/png"}, timeout=10)  # fmt: skip
        assert answer.status_code == 200 and answer.json()["digit"] == int(labels[0])
        assert "digits_requests_total" in requests.get(url + "/metrics", timeout=10).text
        assert run([*PODMAN, "healthcheck", "run", name], podman).returncode == 0  # the image's HEALTHCHECK
        assert run([*PODMAN, "exec", name, "id", "-u"], podman).stdout.strip() == "10001"
        no_tensorflow = "import importlib.util as u; assert u.find_spec('tensorflow') is None"
        run([*PODMAN, "exec", name, "python3", "-c", no_tensorflow], podman)
        stopped = time.monotonic()
        run([*PODMAN, "stop", "--time", "20", name], podman)
        assert time.monotonic() - stopped < 15, "SIGTERM should stop gunicorn gracefully, not wait for SIGKILL"
        state = run([*PODMAN, "inspect", name, "--format", "{{.State.ExitCode}}"], podman).stdout.strip()
        assert state == "0"
        logs = run([*PODMAN, "logs", name], podman).stderr + run([*PODMAN, "logs", name], podman).stdout
        assert '"message": "Shutting down: Master"' in logs and '"serving"' in logs
    finally:
        subprocess.run([*PODMAN, "rm", "--force", name], env=podman, capture_output=True)
