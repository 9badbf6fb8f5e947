"""Read a whole number: split the ink into digits left to right, each normalised by digits.preprocess.

Strokes that overlap horizontally belong to one digit (a 5's bar, an open 4); a blob too wide for one
digit is cut where the classifier is most confident in both halves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from digits import preprocess

Classify = Callable[[np.ndarray], np.ndarray]  # [N,28,28] float -> [N,10] probabilities

MERGE_OVERLAP = 0.5  # share half the narrower one's columns -> same digit
WIDE = 1.15  # wider than this times the typical digit height -> several touching digits
CUT_RANGE = (0.2, 0.8)  # where a cut may fall, as fractions of the blob's width
CUT_STEPS = 16


@dataclass(frozen=True)
class Digit:
    """One digit read from a number, with its box in the original image's pixels."""

    digit: int
    confidence: float
    probabilities: list[float]
    box: tuple[int, int, int, int]  # x, y, w, h
    image28: np.ndarray


@dataclass
class _Group:
    mask: np.ndarray  # bool, working resolution, same shape as the ink map
    left: int
    right: int  # exclusive
    top: int
    bottom: int

    @classmethod
    def of(cls, mask: np.ndarray) -> _Group:
        rows, cols = np.nonzero(mask)
        return cls(mask, int(cols.min()), int(cols.max()) + 1, int(rows.min()), int(rows.max()) + 1)

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top


def _groups(labels: np.ndarray, kept: np.ndarray) -> list[_Group]:
    """Components merged into digits wherever they overlap horizontally, ordered left to right."""
    groups = sorted((_Group.of(labels == k) for k in kept), key=lambda g: g.left)
    merged: list[_Group] = []
    for group in groups:
        for other in merged:
            overlap = min(group.right, other.right) - max(group.left, other.left)
            if overlap >= MERGE_OVERLAP * min(group.width, other.width):
                combined = _Group.of(other.mask | group.mask)
                merged[merged.index(other)] = combined
                break
        else:
            merged.append(group)
    return sorted(merged, key=lambda g: g.left)


def _split(ink: np.ndarray, group: _Group, classify: Classify) -> list[_Group]:
    """Cut a too-wide group in two where both halves read most confidently; recurse on each half."""
    cuts = np.unique(np.linspace(*(group.left + f * group.width for f in CUT_RANGE), CUT_STEPS).astype(int))
    halves, images = [], []
    for cut in cuts:
        left, right = group.mask.copy(), group.mask.copy()
        left[:, cut:] = False
        right[:, :cut] = False
        if not left.any() or not right.any():
            continue
        try:
            pair = [preprocess.normalize_digit(ink, left), preprocess.normalize_digit(ink, right)]
        except preprocess.NoDigit:
            continue
        halves.append((left, right))
        images += pair
    if not halves:
        return [group]
    confidence = classify(np.stack(images)).max(axis=1).reshape(-1, 2).min(axis=1)
    left, right = halves[int(np.argmax(confidence))]
    return [_Group.of(left), _Group.of(right)]


def segment(ink: np.ndarray, classify: Classify) -> list[np.ndarray]:
    """Masks of the digits in the ink map, left to right."""
    groups = _groups(*preprocess.ink_components(ink))
    typical_height = float(np.median([g.height for g in groups]))
    pending, done = list(groups), []
    while pending:
        group = pending.pop(0)
        pieces = _split(ink, group, classify) if group.width > WIDE * typical_height else [group]
        if len(pieces) == 1:
            done.append(group)
        else:
            pending = pieces + pending
    return [g.mask for g in sorted(done, key=lambda g: g.left)]


def read_number(data: bytes, classify: Classify, limits: preprocess.Limits = preprocess.DEFAULT_LIMITS) -> list[Digit]:
    """Every digit in the image, left to right; raises the PreprocessError subclasses of preprocess()."""
    image = preprocess.decode(data, limits)
    ink = preprocess.ink_map(image)
    masks = segment(ink, classify)
    images = np.stack([preprocess.normalize_digit(ink, m) for m in masks])
    probabilities = classify(images)
    scale_x, scale_y = image.width / ink.shape[1], image.height / ink.shape[0]
    digits = []
    for mask, image28, p in zip(masks, images, probabilities, strict=True):
        rows, cols = np.nonzero(mask)
        x, y = int(cols.min() * scale_x), int(rows.min() * scale_y)
        w = int(np.ceil((cols.max() + 1) * scale_x)) - x
        h = int(np.ceil((rows.max() + 1) * scale_y)) - y
        p = p.astype(np.float64) / p.sum()
        digits.append(Digit(int(p.argmax()), float(p.max()), [float(v) for v in p], (x, y, w, h), image28))
    return digits
