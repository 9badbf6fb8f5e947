"""The cut search inside a blob that may hold touching digits: where to cut, and how good each piece is.

Candidate cuts run top to bottom through the least ink; every stretch between two cuts that could be
one digit is read by the classifier, and each way of cutting the blob into n pieces is scored:
confident readings, shapes no wider than that digit usually is in MNIST, few strokes cut.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from digits import preprocess
from digits.grouping import Group
from digits.line_model import LineDigit

Classify = Callable[[np.ndarray], np.ndarray]  # [N,28,28] float -> [N,10] probabilities

PIECE_WIDTH = (0.04, 1.15)  # a single digit's width, as a range of fractions of the digit height
CUT_STEP = 0.1  # candidate cuts every this fraction of the digit height
CUT_BEND = 0.15  # a cut may wander this fraction of the digit height from its column, around strokes
BEND_COST = 0.02  # per pixel of wandering: straight cuts where the ink allows
PIECE_COST = 0.05  # log-confidence a cut must gain to be worth making
# Width / height of each digit class in MNIST's training images: the median, and the 95th percentile.
TYPICAL = np.array([0.9, 0.4, 0.95, 0.8, 0.8, 0.95, 0.7, 0.8, 0.75, 0.7])
WIDEST = np.array([1.25, 0.8, 1.33, 1.11, 1.11, 1.43, 1.0, 1.05, 1.05, 0.95])
WIDEST_COST = 1.0  # per unit of width / height beyond WIDEST for the class a piece is read as
ASPECT_COST = 0.3  # per (width / height beyond TYPICAL, in units of WIDEST - TYPICAL)^2, for pieces cut out
CROSSING_COST = 0.1  # per stroke a cut goes through
MAX_CROSSINGS = 2  # a cut through more strokes than this is inside a digit
NEIGHBOUR_PIECE = 0.25  # after a cut, pieces under this fraction of the largest belong to the neighbour


def probabilities(ink: np.ndarray, masks: list[np.ndarray], classify: Classify) -> np.ndarray:
    """The classifier's probabilities for each mask as one digit (zeros where nothing is left)."""
    images = []
    for mask in masks:
        try:
            images.append(preprocess.normalize_digit(ink, mask))
        except preprocess.NoDigit:  # nothing left of the mask
            images.append(None)
    return _classified(images, classify)


def _classified(images: list[np.ndarray | None], classify: Classify) -> np.ndarray:
    """All the images' probabilities in one call; zeros for None."""
    valid = [k for k, image in enumerate(images) if image is not None]
    read = np.zeros((len(images), 10))
    if valid:
        read[valid] = classify(np.stack([images[k] for k in valid]))
    return read


def main_part(mask: np.ndarray) -> np.ndarray:
    """The mask without the small pieces a cut leaves of the neighbouring digit."""
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=4)  # scipy's label, faster
    if count <= 2:  # the background and at most one piece
        return mask
    sizes = np.bincount(labels.ravel())[1:]
    return preprocess.select_labels(labels, np.flatnonzero(sizes >= NEIGHBOUR_PIECE * sizes.max()) + 1)


def between(mask: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The mask's main part between two cut paths (a column per row; left inclusive, right exclusive)."""
    start, stop = max(int(left.min()), 0), min(int(right.max()), mask.shape[1])  # only these columns can be in it
    out = np.zeros_like(mask)
    if stop <= start:
        return out
    column = np.arange(start, stop)[None, :]
    out[:, start:stop] = main_part(mask[:, start:stop] & (column >= left[:, None]) & (column < right[:, None]))
    return out


@dataclass(frozen=True)
class Candidates:
    """Candidate single digits of a blob: the pixels between two cut paths, and their readings."""

    cuts: list[int]  # each cut's starting column; the first and last are the blob's edges
    crossings: np.ndarray  # strokes each cut goes through
    spans: list[tuple[int, int]]  # indices into cuts
    masks: list[np.ndarray]  # in the blob's box
    aspects: np.ndarray  # width / height of each piece's ink
    probabilities: np.ndarray  # [pieces, 10]; zeros where nothing is left

    def scores(self) -> np.ndarray:
        """How good each piece is as one digit: confidently read, shaped like that digit, cut through few strokes."""
        confidence = np.maximum(self.probabilities.max(axis=1), 1e-9)
        read = self.probabilities.argmax(axis=1)
        beyond_widest = np.maximum(self.aspects - WIDEST[read], 0.0)
        # A piece cut out of a blob must look like the digit it is read as: two narrow digits
        # read as one stay under WIDEST but well past TYPICAL.
        beyond_typical = np.maximum(self.aspects - TYPICAL[read], 0.0) / (WIDEST[read] - TYPICAL[read])
        beyond_typical[-1] = 0.0  # the whole blob, uncut
        crossed = np.array([self.crossings[j] for _, j in self.spans])
        return (np.log(confidence) - PIECE_COST - WIDEST_COST * beyond_widest - ASPECT_COST * beyond_typical**2
                - CROSSING_COST * crossed)  # fmt: skip

    def ways(self) -> dict[int, tuple[float, list[int]]]:
        """For each possible number of digits: the best score and pieces (left to right) cutting the whole blob."""
        score = self.scores()
        best = np.full((len(self.cuts), len(self.cuts) + 1), -np.inf)  # [cut, pieces so far]
        best[0, 0], previous = 0.0, {}
        for k in sorted(range(len(self.spans)), key=lambda k: self.spans[k][1]):  # a shortest path, cut by cut
            i, j = self.spans[k]
            better = best[i, :-1] + score[k] > best[j, 1:]
            best[j, 1:][better] = best[i, :-1][better] + score[k]
            previous.update({(j, n + 1): k for n in np.flatnonzero(better)})
        last, ways = len(self.cuts) - 1, {}
        for count in np.flatnonzero(np.isfinite(best[last])):
            chosen, j, n = [], last, count
            while j:
                chosen.append(previous[j, n])
                j, n = self.spans[chosen[-1]][0], n - 1
            ways[int(count)] = (float(best[last, count]), chosen[::-1])
        return ways


def cut_paths(mask: np.ndarray, starts: np.ndarray, band: int) -> np.ndarray:
    """For each start column, the top-to-bottom path within `band` of it through the least ink: [starts, rows]."""
    rows, cols = mask.shape
    if not len(starts):
        return np.zeros((0, rows), dtype=int)
    offsets = np.arange(-band, band + 1)
    columns = starts[:, None] + offsets[None, :]
    outside = (columns < 0) | (columns >= cols)
    columns = np.clip(columns, 0, cols - 1)
    costs = np.where(outside, np.inf, mask[:, columns] + BEND_COST * np.abs(offsets))  # [rows, starts, offsets]
    # totals[r, s, 1 + o]: the least cost of a path from the top to row r, column o; infinite borders.
    totals = np.full((rows, len(starts), len(offsets) + 2), np.inf)
    totals[0, :, 1:-1] = costs[0]
    for r in range(1, rows):  # each row's column may move one to either side of the row above's
        above = totals[r - 1]
        reach = np.minimum(np.minimum(above[:, :-2], above[:, 1:-1]), above[:, 2:])
        np.add(costs[r], reach, out=totals[r, :, 1:-1])
    every = np.arange(len(starts))
    index = totals[-1, :, 1:-1].argmin(axis=1)
    paths = np.empty((len(starts), rows), dtype=int)
    paths[:, -1] = index
    for r in range(rows - 1, 0, -1):  # back up: of equally cheap columns above, the leftmost
        index = index - 1 + totals[r - 1, every[:, None], index[:, None] + (0, 1, 2)].argmin(axis=1)
        paths[:, r - 1] = index
    return columns[every[:, None], paths]


def candidates(ink: np.ndarray, group: Group, height: float, classify: Classify) -> Candidates:
    """Every stretch of the group between two cuts that could be one digit, read by the classifier."""
    ink, mask = ink[group.box], group.mask[group.box]
    rows, cols = mask.shape
    starts = np.arange(max(1, round(CUT_STEP * height)), cols, max(1, round(CUT_STEP * height)))
    inner = cut_paths(mask, starts, max(1, round(CUT_BEND * height)))
    crossed = _crossings(mask, inner)
    keep = crossed <= MAX_CROSSINGS  # a cut through more strokes is inside a digit
    cuts = [0, *starts[keep].tolist(), cols]
    crossings = np.array([0, *crossed[keep].tolist(), 0])
    paths = [np.zeros(rows, dtype=int), *inner[keep], np.full(rows, cols)]
    spans = [(i, j) for i in range(len(cuts)) for j in range(i + 1, len(cuts))
             if PIECE_WIDTH[0] * height <= cuts[j] - cuts[i] <= PIECE_WIDTH[1] * height]  # fmt: skip
    spans.append((0, len(cuts) - 1))  # the whole blob, however wide
    return _read(ink, mask, cuts, crossings, paths, spans, classify)


def at_line_digits(
    ink: np.ndarray, group: Group, line: np.ndarray, reads: Sequence[LineDigit], classify: Classify
) -> Candidates:
    """Two candidate ways to cut the group: where the line model read its digits, and not at all."""
    ink, mask = ink[group.box], group.mask[group.box]
    starts, paths = line_cuts(mask, line, reads)
    crossings = [0, *_crossings(mask, np.array(paths[1:-1])).tolist(), 0]
    spans = [*itertools.pairwise(range(len(starts))), (0, len(starts) - 1)]
    return _read(ink, mask, starts, np.array(crossings), paths, spans, classify)


def _crossings(mask: np.ndarray, paths: np.ndarray) -> np.ndarray:
    """Strokes each path [paths, rows] goes through."""
    if not len(paths):
        return np.zeros(0, dtype=int)
    return np.sum(np.diff(mask[np.arange(mask.shape[0]), paths].astype(np.int8), axis=1) == 1, axis=1)


def _read(
    ink: np.ndarray, mask: np.ndarray, cuts: list[int], crossings: np.ndarray, paths: list[np.ndarray],
    spans: list[tuple[int, int]], classify: Classify,
) -> Candidates:  # fmt: skip
    """The candidates between the given cut paths, read by the classifier."""
    masks = [between(mask, paths[i], paths[j]) for i, j in spans]
    aspects = np.array([aspect(m) for m in masks])
    read = _classified(preprocess.normalize_pieces(ink, mask, masks), classify)
    return Candidates(cuts, crossings, spans, masks, aspects, read)


def line_cuts(mask: np.ndarray, line: np.ndarray, reads: Sequence[LineDigit]) -> tuple[list[int], list[np.ndarray]]:
    """Cuts through the least ink midway between the digits the line model read in the mask's line: columns, paths.

    Both lists start with the mask's left edge and end with its right edge.
    """
    inked = np.flatnonzero(line.max(axis=0) > 0.05)  # the line's ink spans the mask's columns
    scale = mask.shape[1] / (inked[-1] + 1 - inked[0])
    centres = [(r.centre - inked[0]) * scale for r in reads]
    starts = np.clip(np.round([(a + b) / 2 for a, b in itertools.pairwise(centres)]).astype(int), 1, mask.shape[1] - 1)
    rows, cols = mask.shape
    inner = cut_paths(mask, starts, max(1, round(CUT_BEND * rows)))
    return [0, *starts.tolist(), cols], [np.zeros(rows, dtype=int), *inner, np.full(rows, cols)]


def aspect(mask: np.ndarray) -> float:
    """Width / height of the mask's ink (0 if empty)."""
    try:
        top, bottom, left, right = preprocess.bounding_box(mask)
    except preprocess.NoDigit:
        return 0.0
    return (right - left) / (bottom - top)
