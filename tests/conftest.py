"""Shared fixtures: MNIST (fail, never skip, without MNIST_DIR), the in-process app, real gunicorn."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import falcon.testing
import numpy as np
import pytest
import requests
from PIL import Image

from server.app import create_app
from server.config import Config

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The MNIST folder; a test that needs it fails when MNIST_DIR is unset."""
    value = os.environ.get("MNIST_DIR")
    if not value:
        pytest.fail("MNIST_DIR is not set: point it at the folder with the four MNIST .gz files")
    return Path(value)


@pytest.fixture(scope="session")
def mnist_test(mnist_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 10k MNIST test images and labels."""
    from train import mnist

    return mnist.load_split("test")


@pytest.fixture(scope="session")
def client() -> falcon.testing.TestClient:
    """The app in-process, serving the shipped model."""
    return falcon.testing.TestClient(create_app(Config()))


def png_bytes(pixels: np.ndarray, **save_options) -> bytes:
    """Encode an array (or PIL image) as PNG."""
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **save_options)
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """A real gunicorn serving the app on a free loopback port."""

    def __init__(self, workers: int = 2, env: dict | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {**os.environ, "HOST": "127.0.0.1", "PORT": str(self.port), "WORKERS": str(workers),
                       "ACCESS_LOG": "", **(env or {})}  # fmt: skip
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "server/gunicorn.conf.py", "server.wsgi:app"],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.started = time.monotonic()
        self.ready_after = self._wait_ready()

    def _wait_ready(self, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("gunicorn exited:\n" + self.process.stdout.read().decode(errors="replace"))
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return time.monotonic() - self.started
            except requests.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("gunicorn did not become healthy in time")

    def stop(self) -> str:
        self.process.terminate()
        try:
            out, _ = self.process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        return out.decode(errors="replace")


@pytest.fixture(scope="session")
def gunicorn_server():
    """Real gunicorn with two workers, shared by the integration tests."""
    server = Gunicorn()
    yield server
    server.stop()
