"""Shared fixtures: MNIST (fail, never skip, without MNIST_DIR), the in-process app, real gunicorn."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import falcon.testing
import numpy as np
import pytest
from PIL import Image

from bench import servers
from server.app import create_app
from server.config import Config

ROOT = Path(__file__).resolve().parent.parent


def data_dir(variable: str, holds: str) -> Path:
    """The data folder named by an environment variable; the test fails, never skips, when it is unset."""
    value = os.environ.get(variable)
    if not value:
        pytest.fail(f"{variable} is not set: point it at the folder with {holds}")
    return Path(value)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The MNIST folder ($MNIST_DIR)."""
    return data_dir("MNIST_DIR", "the four MNIST .gz files")


@pytest.fixture(scope="session")
def unipen_dir() -> Path:
    """The UNIPEN development folder ($UNIPEN_DIR)."""
    return data_dir("UNIPEN_DIR", "digits.jsonl.gz and numbers.jsonl.gz")


@pytest.fixture(scope="session")
def mnist_test(mnist_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 10k MNIST test images and labels."""
    from datasets import mnist

    return mnist.load_split("test")


@pytest.fixture(scope="session")
def client() -> falcon.testing.TestClient:
    """The app in-process, serving the shipped model."""
    return falcon.testing.TestClient(create_app(Config()))


def run_stage(module: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a stage (`python -m module`) from the repository root, its output captured."""
    return subprocess.run([sys.executable, "-m", module], cwd=ROOT, env=env, capture_output=True, text=True)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    """Encode a PIL image in a file format."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_bytes(pixels: np.ndarray | Image.Image, **options) -> bytes:
    """Encode an array (or PIL image) as PNG."""
    return encode(pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels), "PNG", **options)


def png_claiming(width: int, height: int) -> bytes:
    """A valid PNG header claiming a huge size, with a tiny compressed body: a decompression bomb."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = chunk(b"IDAT", zlib.compress(b"\0" * 4096))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + body + chunk(b"IEND", b"")


@pytest.fixture(scope="session")
def gunicorn_server():
    """Real gunicorn with two workers, shared by the integration tests."""
    server = servers.gunicorn()
    yield server
    server.stop()
