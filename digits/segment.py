"""Read a whole number: split the ink into digits left to right, each normalised by digits.preprocess.

Strokes that overlap horizontally belong to one digit (a 5's bar, an open 4); a blob too wide for one
digit is cut where the classifier is most confident in both halves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from digits import preprocess

Classify = Callable[[np.ndarray], np.ndarray]  # [N,28,28] float -> [N,10] probabilities

MERGE_OVERLAP = 0.5  # share half the narrower one's columns -> same digit
FRAGMENT = 0.45  # shorter than this times the typical digit height -> part of a digit, or a dot
ATTACH_GAP = 0.15  # a fragment this close (times the digit height) joins that digit
WIDE = 0.9  # wider than this times the typical digit height ...
WIDER_THAN_OTHERS = 1.7  # ... and than this times the typical digit width -> maybe several touching digits
DIGIT_ASPECT = 0.7  # a digit's usual width / height, when there are no others to compare with
SPLIT_MARGIN = 0.05  # the halves must read this much more confidently than the whole
MANY = 1.4  # wider than this times its own height -> certainly several digits
NEIGHBOUR_PIECE = 0.25  # after a cut, pieces under this fraction of the largest belong to the neighbour
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


@dataclass(frozen=True)
class Reading:
    """The digits of a number, left to right, and the size of the image they were read from."""

    digits: list[Digit]
    width: int
    height: int

    @property
    def text(self) -> str:
        return "".join(str(d.digit) for d in self.digits)


@dataclass(eq=False)
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


def _overlap(a: _Group, b: _Group) -> int:
    """Shared columns of two groups; negative: the gap between them."""
    return min(a.right, b.right) - max(a.left, b.left)


def _groups(labels: np.ndarray, kept: np.ndarray) -> tuple[list[_Group], float]:
    """Components merged into digits, left to right, and the typical digit height.

    Strokes sharing most of their columns are one digit; a fragment much shorter than a digit (a 5's
    bar, half an open 4) joins the digit it overlaps or nearly touches, or is dropped as a dot.
    """
    merged: list[_Group] = []
    for group in sorted((_Group.of(labels == k) for k in kept), key=lambda g: g.left):
        for i, other in enumerate(merged):
            if _overlap(group, other) >= MERGE_OVERLAP * min(group.width, other.width):
                merged[i] = _Group.of(other.mask | group.mask)
                break
        else:
            merged.append(group)
    tallest = max(g.height for g in merged)
    typical = float(np.median([g.height for g in merged if g.height >= 0.5 * tallest]))
    digits = [g for g in merged if g.height >= FRAGMENT * typical]
    for fragment in (g for g in merged if g.height < FRAGMENT * typical):
        nearest = max(range(len(digits)), key=lambda i: _overlap(fragment, digits[i]))
        if _overlap(fragment, digits[nearest]) >= -ATTACH_GAP * typical:
            digits[nearest] = _Group.of(digits[nearest].mask | fragment.mask)
    return sorted(digits, key=lambda g: g.left), typical


def _confidences(ink: np.ndarray, masks: list[np.ndarray], classify: Classify) -> np.ndarray:
    """The classifier's confidence in each mask as one digit (0 where nothing is left)."""
    images, valid = [], []
    for mask in masks:
        try:
            images.append(preprocess.normalize_digit(ink, mask))
            valid.append(True)
        except preprocess.NoDigit:
            valid.append(False)
    confidence = np.zeros(len(masks))
    if images:
        confidence[np.flatnonzero(valid)] = classify(np.stack(images)).max(axis=1)
    return confidence


def _main_part(mask: np.ndarray) -> np.ndarray:
    """The mask without the small pieces a cut leaves of the neighbouring digit."""
    labels, count = ndimage.label(mask)
    if count <= 1:
        return mask
    sizes = np.bincount(labels.ravel())[1:]
    return np.isin(labels, np.flatnonzero(sizes >= NEIGHBOUR_PIECE * sizes.max()) + 1)


def _split(ink: np.ndarray, group: _Group, classify: Classify) -> list[_Group]:
    """Cut a too-wide group where both halves read most confidently, if they read better than the whole."""
    cuts = np.unique(np.linspace(*(group.left + f * group.width for f in CUT_RANGE), CUT_STEPS).astype(int))
    masks = [group.mask]
    for cut in cuts:
        left, right = group.mask.copy(), group.mask.copy()
        left[:, cut:] = False
        right[:, :cut] = False
        left, right = _main_part(left), _main_part(right)
        if left.any() and right.any():
            masks += [left, right]
    confidence = _confidences(ink, masks, classify)
    if len(masks) == 1:
        return [group]
    pairs = confidence[1:].reshape(-1, 2).min(axis=1)
    best = int(np.argmax(pairs))
    if pairs[best] <= confidence[0] + SPLIT_MARGIN and group.width < MANY * group.height:
        return [group]  # a wide digit, such as a flat 0 or a long-barred 7
    return [_Group.of(masks[1 + 2 * best]), _Group.of(masks[2 + 2 * best])]


def segment(ink: np.ndarray, classify: Classify) -> list[np.ndarray]:
    """Masks of the digits in the ink map, left to right."""
    groups, typical_height = _groups(*preprocess.ink_components(ink))
    # Compare with the other digits where there are several; else with a digit's usual proportions.
    widths = [g.width for g in groups]
    typical_width = float(np.median(widths)) if len(widths) >= 3 else DIGIT_ASPECT * typical_height
    too_wide = max(WIDE * typical_height, WIDER_THAN_OTHERS * typical_width)
    pending, done = list(groups), []
    while pending:
        group = pending.pop(0)
        pieces = _split(ink, group, classify) if group.width > too_wide else [group]
        if len(pieces) == 1:
            done.append(group)
        else:
            pending = pieces + pending
    return [g.mask for g in sorted(done, key=lambda g: g.left)]


def read_number(data: bytes, classify: Classify, limits: preprocess.Limits = preprocess.DEFAULT_LIMITS) -> Reading:
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
    return Reading(digits, image.width, image.height)
