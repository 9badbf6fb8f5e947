"""Integration: real gunicorn on a free port, real files over HTTP."""

from __future__ import annotations

import io
import os
import signal
import time

import numpy as np
import pytest
import requests
from PIL import Image

from bench import servers
from bench.servers import ServerProcess
from tests.conftest import png_bytes

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def files(mnist_test) -> dict[str, tuple[bytes, str, int | None]]:
    images, labels = mnist_test
    three = images[np.flatnonzero(labels == 3)[0]]
    big = Image.fromarray(255 - np.asarray(Image.fromarray(three).resize((300, 300), Image.Resampling.BICUBIC)))
    jpeg = io.BytesIO()
    big.convert("RGB").save(jpeg, "JPEG", quality=85)
    canvas = np.zeros((280, 280, 4), dtype=np.uint8)
    canvas[..., 3] = 255 - np.asarray(big.resize((280, 280)))
    return {
        "png": (png_bytes(np.asarray(big)), "image/png", 3),
        "jpeg": (jpeg.getvalue(), "image/jpeg", 3),
        "canvas": (png_bytes(canvas), "image/png", 3),
        "blank": (png_bytes(np.zeros((280, 280, 4), dtype=np.uint8)), "image/png", None),
    }


def test_real_files_over_http(gunicorn_server: ServerProcess, files) -> None:
    for name, (data, ctype, digit) in files.items():
        raw = requests.post(gunicorn_server.url + "/api/v1/predict", data=data, headers={"Content-Type": ctype})
        form = requests.post(gunicorn_server.url + "/api/v1/predict", files={"image": (f"{name}.bin", data, ctype)})
        for response in (raw, form):
            if digit is None:
                assert response.status_code == 422 and response.json()["code"] == "no_digit", name
            else:
                assert response.status_code == 200, (name, response.text)
                assert response.json()["digit"] == digit, name


def test_page_health_and_headers(gunicorn_server: ServerProcess) -> None:
    page = requests.get(gunicorn_server.url + "/")
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert "frame-ancestors" in page.headers["Content-Security-Policy"]
    assert requests.get(gunicorn_server.url + "/healthz").json()["status"] == "ok"


def test_oversized_body_is_refused_without_reading_it(gunicorn_server: ServerProcess) -> None:
    body = b"\0" * (11 * 1024 * 1024)
    response = requests.post(gunicorn_server.url + "/api/v1/predict", data=body, headers={"Content-Type": "image/png"})
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    assert requests.get(gunicorn_server.url + "/healthz").status_code == 200


def test_configured_port_and_no_uploads_on_disk(tmp_path, files) -> None:
    """Each worker builds its own session after the fork; uploads never touch the disk."""
    server = servers.gunicorn(env={"TMPDIR": str(tmp_path)})
    try:
        for _ in range(10):
            data, ctype, _digit = files["png"]
            assert requests.post(server.url + "/api/v1/predict", data=data, headers={"Content-Type": ctype}).ok
        big = b"\x89PNG" + os.urandom(3 * 1024 * 1024)  # a large multipart body, which some parsers spool
        requests.post(server.url + "/api/v1/predict", files={"image": ("big.png", big, "image/png")})
        # onnxruntime's native library leaves a 51-byte session marker (.ses); nothing else may appear.
        left = [p for p in tmp_path.iterdir() if not (p.name == ".ses" and p.stat().st_size < 100)]
        assert left == []
        assert server.ready_after < 30
    finally:
        log = server.stop()
    assert "Booting worker" in log


def test_worker_killed_is_replaced(files) -> None:
    server = servers.gunicorn()
    try:
        before = server.child_pids()
        assert len(before) == 2
        os.kill(before[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = server.child_pids()
            if len(now) == 2 and before[0] not in now:
                break
            time.sleep(0.1)
        assert len(now) == 2 and before[0] not in now, "gunicorn replaces the killed worker"
        data, ctype, digit = files["png"]
        for _ in range(4):  # both workers answer
            response = requests.post(server.url + "/api/v1/predict", data=data, headers={"Content-Type": ctype})
            assert response.json()["digit"] == digit
    finally:
        server.stop()


def test_nothing_phones_home_and_a_stop_is_graceful(tmp_path, monkeypatch) -> None:
    """onnxruntime's telemetry is off: no device id or cache in $HOME, and no uploader holding workers at exit."""
    monkeypatch.delenv("ORT_DISABLE_TELEMETRY", raising=False)  # this process set it by importing digits
    server = servers.gunicorn(env={"HOME": str(tmp_path)})
    assert requests.get(server.url + "/healthz").ok
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 8, "workers outlived gunicorn's graceful_timeout (10 s) and were killed"
    assert list(tmp_path.iterdir()) == []
