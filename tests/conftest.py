"""Shared fixtures: MNIST (fail, never skip, without MNIST_DIR), the in-process app, real gunicorn."""

from __future__ import annotations

import io
import os
from pathlib import Path

import falcon.testing
import numpy as np
import pytest
from PIL import Image

from bench import servers
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


@pytest.fixture(scope="session")
def gunicorn_server():
    """Real gunicorn with two workers, shared by the integration tests."""
    server = servers.gunicorn()
    yield server
    server.stop()
