"""Training digits as the server sees drawn ones: redrawn with a pen, then through the service's preprocessing.

MNIST's strokes come from a scanner; users draw with a round pen of any width, and the preprocessing
evens that width out. Training on both teaches the model what it will be served. Only training-split
digits are redrawn, so the validation and test sets stay unseen.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from datasets import renders
from digits import preprocess

SIDE_PX = (60, 160)  # drawn digit height; the preprocessing rescales it to 20 px anyway
PEN_FRACTION = (0.03, 0.16)  # pen width over digit height: hairline to fat marker
MAX_SLANT_DEG = 8


def redraw(digit28: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One MNIST digit redrawn along its centre line with a random pen, as the model would be served it."""
    height_px = rng.uniform(*SIDE_PX)
    side = int(height_px * 1.5)
    coverage = renders.draw_strokes(
        digit28,
        (side, side),
        height_px,
        (side / 2, side / 2),
        height_px * rng.uniform(*PEN_FRACTION),
        rng.uniform(-MAX_SLANT_DEG, MAX_SLANT_DEG),
    )
    return preprocess.normalize_digit(coverage, preprocess.digit_mask(coverage))


def _redraw_chunk(args: tuple[np.ndarray, int]) -> np.ndarray:
    images, seed = args
    rng = np.random.default_rng(seed)
    out = np.zeros((len(images), 28, 28), dtype=np.float32)
    for i, image in enumerate(images):
        try:
            out[i] = redraw(image, rng)
        except preprocess.NoDigit:
            out[i] = image / 255.0  # a digit too faint to redraw keeps its scan
    return out


def redraws(images: np.ndarray, labels: np.ndarray, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` redrawn digits (float [count,28,28]) and their labels, drawn from the given training images."""
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(images), size=count, replace=count > len(images))
    chunks = np.array_split(picked, max(1, count // 500))
    jobs = [(images[chunk], seed + i) for i, chunk in enumerate(chunks)]
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        drawn = list(pool.map(_redraw_chunk, jobs))
    return np.concatenate(drawn), labels[picked]
