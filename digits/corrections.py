"""Corrections people send ("that's a 7"), kept in SQLite or PostgreSQL and exported as a training set.

A correction is only what the sender is told is kept: the 28x28 PNG the model saw, the corrected label, the
model's answer and version, and the time. Never the upload, an address or anything else about the person.

    CORRECTIONS_DB=sqlite:///corrections.db python -m digits.corrections export DIR   # -> DIR/corrections.npz
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from digits import contract, preprocess

MAX_PNG_BYTES = 2048  # an 8-bit 28x28 PNG is at most ~900 bytes; anything bigger is not the API's
MODEL_VERSION = re.compile(r"^[0-9a-f]{6,64}(\+[0-9a-f]{6,64})?$")  # /predict's "model", or /read's "a+b"
DATASET = "corrections.npz"  # what export writes and training reads, in the folder it is given


class InvalidCorrection(ValueError):
    """A correction that is not as documented (the server answers it as bad_request)."""


@dataclass(frozen=True)
class Correction:
    """One correction: the model's 28x28 input as the API's PNG, the right digit, and what the model said."""

    image_png: bytes
    label: int
    predicted: int
    model: str

    def __post_init__(self) -> None:
        for name in ("label", "predicted"):
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value <= 9:  # bool is an int: refused too
                raise InvalidCorrection(f"'{name}' must be a digit from 0 to 9.")
        if not isinstance(self.model, str) or not MODEL_VERSION.match(self.model):
            raise InvalidCorrection("'model' must be the model version the answer came with.")
        image28(self.image_png)  # raises InvalidCorrection


def image28(png: bytes) -> np.ndarray:
    """The uint8 28x28 pixels of a PNG the API produced (preprocess.to_png), byte for byte; else InvalidCorrection."""
    if len(png) > MAX_PNG_BYTES or not png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise InvalidCorrection("'image' must be the 28x28 PNG the API gave as 'input'.")
    try:
        with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
            shape = (image.mode, image.size)
            # Checked before decoding: a small PNG may claim a huge size, and decoding allocates it all.
            pixels = np.asarray(image, dtype=np.uint8) if shape == ("L", (28, 28)) else None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:  # a bomb: refused on opening
        raise InvalidCorrection("'image' is not a readable PNG.") from exc
    if pixels is None:
        raise InvalidCorrection("'image' must be an 8-bit grey 28x28 PNG, as the API gave it.")
    # Re-encoding must give the same bytes: no extra chunks (text could carry anything) and no other encoder.
    if preprocess.to_png(pixels / 255.0) != png:
        raise InvalidCorrection("'image' must be the PNG the API gave, unchanged.")
    return pixels


def load_dataset(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """An exported folder's images as model input ([N,28,28] float32 in [0, 1]) and their labels (uint8)."""
    with np.load(Path(folder) / DATASET) as data:
        images, labels = data["images"], data["labels"]
    if images.shape[1:] != (28, 28) or len(images) != len(labels) or (labels > 9).any():
        raise ValueError(f"{folder / DATASET} is not an export of corrections")
    return contract.as_model_input(images)[..., 0], labels


def main(argv: list[str] | None = None) -> int:
    """`export DIR`: the corrections of the database CORRECTIONS_DB names, as DIR/corrections.npz."""
    parser = argparse.ArgumentParser(prog="python -m digits.corrections", description=main.__doc__)
    parser.add_argument("command", choices=["export"])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    url = os.environ.get("CORRECTIONS_DB")
    if not url:
        parser.error("set CORRECTIONS_DB to the database's URL, e.g. sqlite:///corrections.db")
    from digits.correction_store import Store  # SQLAlchemy only where a database is used

    store = Store(url)
    try:
        count = store.export(args.folder)
        print(f"wrote {count} corrections to {args.folder / DATASET}")
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
