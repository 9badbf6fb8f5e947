"""Load the genuine MNIST IDX files: $MNIST_DIR, then the local cache, then a public mirror.

Every file is MD5-verified. Problems raise MnistError with one line saying what to do.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from datasets import DataMissing, reports_missing_data

FILES = {
    "train_images": ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train_labels": ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
    "test_images": ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
CACHE_DIR = Path(__file__).resolve().parent.parent / "data" / "mnist"
DOWNLOAD_TIMEOUT_S = 30
VALIDATION_SIZE = 5000  # held out of the 60k training images for every choice made in training
SPLIT_SEED = 20261125


class MnistError(DataMissing):
    """A one-line, actionable problem with the MNIST files."""

    source = "MNIST"


def md5_of(path: Path) -> str:
    """Hex MD5 of a file."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(name: str, md5: str, dest: Path, mirrors: tuple[str, ...]) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".part")
    errors = []
    for mirror in mirrors:
        try:
            with urllib.request.urlopen(mirror + name, timeout=DOWNLOAD_TIMEOUT_S) as resp, open(tmp, "wb") as out:
                total = int(resp.headers.get("Content-Length") or 0)
                done = 0
                while chunk := resp.read(1 << 16):
                    out.write(chunk)
                    done += len(chunk)
                    if total:
                        print(f"\r{name}: {100 * done // total:3d}% of {total / 1e6:.1f} MB", end="", file=sys.stderr)
            print(file=sys.stderr)
        except (urllib.error.URLError, OSError) as exc:
            errors.append(f"{mirror}: {getattr(exc, 'reason', exc)}")
            continue
        if md5_of(tmp) == md5:
            tmp.replace(dest)
            return
        errors.append(f"{mirror}: checksum mismatch")
    tmp.unlink(missing_ok=True)
    raise MnistError(
        f"could not download {name} ({'; '.join(errors)}); set MNIST_DIR to a folder holding the four MNIST .gz files"
    )


def locate(name: str, md5: str, mirrors: tuple[str, ...] = MIRRORS) -> Path:
    """Path of one verified MNIST file, downloading it into the cache if it is nowhere else."""
    env_dir = os.environ.get("MNIST_DIR")
    if env_dir:
        path = Path(env_dir) / name
        if not path.is_file():
            raise MnistError(f"{path} is missing; MNIST_DIR must hold the four MNIST .gz files")
    else:
        path = CACHE_DIR / name
        if not path.is_file():
            _download(name, md5, path, mirrors)
    actual = md5_of(path)
    if actual != md5:
        raise MnistError(
            f"{path} has MD5 {actual}, expected {md5}: the file is corrupt or truncated; replace it with the original"
        )
    return path


def _read_idx(path: Path) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise MnistError(f"{path} is not a readable gzip file ({exc}); replace it with the original") from exc
    # IDX header: two zero bytes, a type code (0x08 = uint8), the number of dimensions, then big-endian sizes.
    if len(raw) < 4 or raw[0:2] != b"\0\0" or raw[2] != 0x08:
        raise MnistError(f"{path} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise MnistError(f"{path} holds {data.size} values, its header promises {int(np.prod(dims))}")
    return data.reshape(dims)


def load_split(split: str, mirrors: tuple[str, ...] = MIRRORS) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 [N,28,28] and labels uint8 [N] of the 'train' or 'test' split."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    images = _read_idx(locate(*FILES[f"{split}_images"], mirrors=mirrors))
    labels = _read_idx(locate(*FILES[f"{split}_labels"], mirrors=mirrors))
    if len(images) != len(labels):
        raise MnistError(f"MNIST {split}: {len(images)} images but {len(labels)} labels")
    return images, labels


def train_validation_indices(count: int = 60000) -> tuple[np.ndarray, np.ndarray]:
    """The fixed split of the training images: (train indices, validation indices)."""
    order = np.random.default_rng(SPLIT_SEED).permutation(count)
    return order[:-VALIDATION_SIZE], order[-VALIDATION_SIZE:]


def data_md5s() -> dict[str, str]:
    """The MD5 of every MNIST file, keyed by file name (for the model card)."""
    return {name: md5 for name, md5 in FILES.values()}


@reports_missing_data
def main() -> int:
    """Fetch and verify all four files; print where they are."""
    for name, md5 in FILES.values():
        print(locate(name, md5))
    return 0


if __name__ == "__main__":
    sys.exit(main())
