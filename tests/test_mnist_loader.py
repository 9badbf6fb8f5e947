"""The MNIST loader: real files through MNIST_DIR, clear one-line errors otherwise."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from datasets import mnist

UNREACHABLE = ("http://127.0.0.1:9/",)  # the discard port: refused at once, like a machine with no network


def test_loads_real_mnist(mnist_dir: Path) -> None:
    train_x, train_y = mnist.load_split("train")
    test_x, test_y = mnist.load_split("test")
    assert train_x.shape == (60000, 28, 28) and train_x.dtype == np.uint8
    assert test_x.shape == (10000, 28, 28) and test_x.dtype == np.uint8
    assert train_y.shape == (60000,) and test_y.shape == (10000,)
    # The canonical per-class counts of the test set.
    assert np.bincount(test_y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.bincount(train_y, minlength=10).sum() == 60000 and train_y.max() == 9


def _copy_dir(mnist_dir: Path, tmp_path: Path) -> Path:
    for name, _ in mnist.FILES.values():
        shutil.copy(mnist_dir / name, tmp_path / name)
    return tmp_path


def test_checksum_mismatch_is_one_clear_line(mnist_dir: Path, tmp_path: Path, monkeypatch) -> None:
    folder = _copy_dir(mnist_dir, tmp_path)
    name = mnist.FILES["test_labels"][0]
    data = (folder / name).read_bytes()
    (folder / name).write_bytes(data[: len(data) // 2])  # truncated
    monkeypatch.setenv("MNIST_DIR", str(folder))
    with pytest.raises(mnist.MnistError) as err:
        mnist.load_split("test")
    message = str(err.value)
    assert "\n" not in message and "MD5" in message and name in message and "replace it" in message


def test_corrupt_gzip_with_right_name_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "x.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(mnist.MnistError, match="not a readable gzip"):
        mnist._read_idx(path)


def test_bad_idx_header_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "x.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"\x00\x00\x0d\x01\x00\x00\x00\x02ab")  # float type code, not uint8
    with pytest.raises(mnist.MnistError, match="not an IDX file"):
        mnist._read_idx(path)


def test_missing_file_in_mnist_dir(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MNIST_DIR", str(tmp_path))
    with pytest.raises(mnist.MnistError, match="is missing; MNIST_DIR must hold"):
        mnist.load_split("train")


def test_no_network_and_no_cache_is_one_clear_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MNIST_DIR", raising=False)
    monkeypatch.setattr(mnist, "CACHE_DIR", tmp_path / "cache")
    with pytest.raises(mnist.MnistError) as err:
        mnist.load_split("test", mirrors=UNREACHABLE)
    message = str(err.value)
    assert "\n" not in message and "could not download" in message and "set MNIST_DIR" in message
    assert not list((tmp_path / "cache").glob("*")), "no partial download may be left behind"


STAGES = ("datasets.mnist", "train.classifier", "train.finetune", "train.line_model", "export.classifier",
          "export.line_model", "evaluate.realistic", "evaluate.numbers", "bench.run", "bench.soak")  # fmt: skip


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_prints_the_mnist_error_not_a_traceback(stage: str, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    build = tmp_path / "build"  # the trained models the exports start from, so they get as far as MNIST
    build.mkdir()
    (build / "model.keras").touch()
    (build / "line_model.keras").touch()
    result = subprocess.run(
        [sys.executable, "-m", stage],
        env={**os.environ, "MNIST_DIR": str(tmp_path), "OUT_DIR": str(build)},
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]  # after any TensorFlow start-up lines
    assert "Traceback" not in result.stderr and last.startswith("MNIST: ") and "is missing" in last
