"""Read a whole number: split the ink into digits left to right, each normalised by digits.preprocess.

Strokes that overlap horizontally belong to one digit (a 5's bar, an open 4). A blob wider than a
narrow digit may be several touching digits. The number reader (digits.reader) reads the blob as a
line and says how many digits it holds and which; candidate cuts, scored by how confidently the
classifier reads the pieces, say where they lie. A blob both models read as one digit stays whole.
Last, the reader reads all the ink as one line; where it plainly prefers that reading, its digits win.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from digits import preprocess, reader

Classify = Callable[[np.ndarray], np.ndarray]  # [N,28,28] float -> [N,10] probabilities
LineFrames = Callable[[np.ndarray], np.ndarray]  # a line [28, W] -> the number reader's frames [views, T, 11]

MERGE_OVERLAP = 0.5  # share half the narrower one's columns -> same digit
FRAGMENT = 0.45  # shorter than this times the typical digit height -> part of a digit, or a dot
ATTACH_GAP = 0.15  # a fragment this close (times the digit height) joins that digit
MAY_TOUCH = 0.9  # a blob wider than this times the digit height may hold touching digits
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
ONE_DIGIT = 0.9  # a wide blob read this confidently as one digit by both models is not cut
READER_DOUBT = 4.0  # log-likelihood by which the reader must prefer its reading to veto a plain single digit
READER_WEIGHT = 1.0  # the number reader's log-likelihood of a way's digits, against the cut score
NEIGHBOUR_PIECE = 0.25  # after a cut, pieces under this fraction of the largest belong to the neighbour
MAX_MARKS = 100  # separate marks a number may have (a few per digit); each costs a mask of the whole ink map


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


@dataclass(frozen=True)
class Piece:
    """One digit's mask, and the number reader's probabilities for it when it was read as part of a line."""

    mask: np.ndarray
    read: np.ndarray | None


@dataclass(eq=False)
class _Group:
    mask: np.ndarray  # bool, working resolution, same shape as the ink map
    left: int
    right: int  # exclusive
    top: int
    bottom: int
    tallest_part: int  # height of its tallest component: dots stacked in a column are not a digit

    @classmethod
    def of(cls, mask: np.ndarray, tallest_part: int | None = None) -> _Group:
        top, bottom, left, right = preprocess.bounding_box(mask)
        return cls(mask, left, right, top, bottom, bottom - top if tallest_part is None else tallest_part)

    def joined(self, other: _Group) -> _Group:
        """The two groups as one."""
        return _Group.of(self.mask | other.mask, max(self.tallest_part, other.tallest_part))

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
    bar, half an open 4, a colon's dots) joins the digit it overlaps or nearly touches, or is dropped.
    """
    merged: list[_Group] = []
    for group in sorted((_Group.of(labels == k) for k in kept), key=lambda g: g.left):
        for i, other in enumerate(merged):
            if _overlap(group, other) >= MERGE_OVERLAP * min(group.width, other.width):
                merged[i] = other.joined(group)
                break
        else:
            merged.append(group)
    tallest = max(g.tallest_part for g in merged)
    typical = float(np.median([g.height for g in merged if g.tallest_part >= 0.5 * tallest]))
    fragments = [g for g in merged if g.tallest_part < min(FRAGMENT * typical, tallest)]  # never all of them
    digits = [g for g in merged if g not in fragments]
    for fragment in fragments:
        nearest = max(range(len(digits)), key=lambda i: _overlap(fragment, digits[i]))
        if _overlap(fragment, digits[nearest]) >= -ATTACH_GAP * typical:
            digits[nearest] = digits[nearest].joined(fragment)
    return sorted(digits, key=lambda g: g.left), typical


def _probabilities(ink: np.ndarray, masks: list[np.ndarray], classify: Classify) -> np.ndarray:
    """The classifier's probabilities for each mask as one digit (zeros where nothing is left)."""
    images, valid = [], []
    for k, mask in enumerate(masks):
        try:
            images.append(preprocess.normalize_digit(ink, mask))
            valid.append(k)
        except preprocess.NoDigit:  # nothing left of the mask
            continue
    probabilities = np.zeros((len(masks), 10))
    if images:
        probabilities[valid] = classify(np.stack(images))
    return probabilities


def _main_part(mask: np.ndarray) -> np.ndarray:
    """The mask without the small pieces a cut leaves of the neighbouring digit."""
    labels, count = ndimage.label(mask)
    if count <= 1:
        return mask
    sizes = np.bincount(labels.ravel())[1:]
    return np.isin(labels, np.flatnonzero(sizes >= NEIGHBOUR_PIECE * sizes.max()) + 1)


def _between(mask: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The mask's main part between two cut paths (a column per row; left inclusive, right exclusive)."""
    column = np.arange(mask.shape[1])[None, :]
    return _main_part(mask & (column >= left[:, None]) & (column < right[:, None]))


@dataclass(frozen=True)
class _Pieces:
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


def _cut_paths(mask: np.ndarray, starts: np.ndarray, band: int) -> np.ndarray:
    """For each start column, the top-to-bottom path within `band` of it through the least ink: [starts, rows]."""
    rows, cols = mask.shape
    if not len(starts):
        return np.zeros((0, rows), dtype=int)
    offsets = np.arange(-band, band + 1)
    columns = starts[:, None] + offsets[None, :]
    outside = (columns < 0) | (columns >= cols)
    columns = np.clip(columns, 0, cols - 1)
    bend = BEND_COST * np.abs(offsets)

    def cost(row: int) -> np.ndarray:
        return np.where(outside, np.inf, mask[row][columns] + bend)

    total, moves = cost(0), np.zeros((rows, *columns.shape), dtype=np.int8)
    pad = np.full((len(starts), 1), np.inf)
    for r in range(1, rows):  # each row's column may move one to either side of the row above's
        options = np.stack([np.hstack([pad, total[:, :-1]]), total, np.hstack([total[:, 1:], pad])])
        choice = options.argmin(axis=0)
        moves[r] = choice - 1
        total = cost(r) + np.take_along_axis(options, choice[None], axis=0)[0]
    index = total.argmin(axis=1)
    paths = np.empty((len(starts), rows), dtype=int)
    paths[:, -1] = index
    every = np.arange(len(starts))
    for r in range(rows - 1, 0, -1):
        index = index + moves[r, every, index]
        paths[:, r - 1] = index
    return columns[every[:, None], paths]


def _pieces(ink: np.ndarray, group: _Group, height: float, classify: Classify) -> _Pieces:
    """Every stretch of the group between two cuts that could be one digit, read by the classifier."""
    box = np.s_[group.top : group.bottom, group.left : group.right]
    ink, mask = ink[box], group.mask[box]
    rows, cols = mask.shape
    starts = np.arange(max(1, round(CUT_STEP * height)), cols, max(1, round(CUT_STEP * height)))
    inner = _cut_paths(mask, starts, max(1, round(CUT_BEND * height)))
    crossed = np.sum(np.diff(mask[np.arange(rows), inner].astype(np.int8), axis=1) == 1, axis=1)
    keep = crossed <= MAX_CROSSINGS  # a cut through more strokes is inside a digit
    cuts = [0, *starts[keep].tolist(), cols]
    crossings = np.array([0, *crossed[keep].tolist(), 0])
    paths = [np.zeros(rows, dtype=int), *inner[keep], np.full(rows, cols)]
    spans = [(i, j) for i in range(len(cuts)) for j in range(i + 1, len(cuts))
             if PIECE_WIDTH[0] * height <= cuts[j] - cuts[i] <= PIECE_WIDTH[1] * height]  # fmt: skip
    spans.append((0, len(cuts) - 1))  # the whole blob, however wide
    masks = [_between(mask, paths[i], paths[j]) for i, j in spans]
    aspects = np.array([_aspect(m) for m in masks])
    return _Pieces(cuts, crossings, spans, masks, aspects, _probabilities(ink, masks, classify))


def _aspect(mask: np.ndarray) -> float:
    """Width / height of the mask's ink (0 if empty)."""
    try:
        top, bottom, left, right = preprocess.bounding_box(mask)
    except preprocess.NoDigit:
        return 0.0
    return (right - left) / (bottom - top)


def _plainly_one_digit(
    ink: np.ndarray, group: _Group, frames: np.ndarray, reads: list[reader.Read], classify: Classify
) -> bool:
    """Read confidently as one digit no wider than MNIST's widest of it, and the reader does not plainly disagree."""
    box = np.s_[group.top : group.bottom, group.left : group.right]
    p = _probabilities(ink[box], [group.mask[box]], classify)[0]
    if p.max() < ONE_DIGIT or _aspect(group.mask[box]) > WIDEST[p.argmax()]:
        return False
    as_one = reader.joint_log_likelihood(frames, [int(p.argmax())])
    return as_one >= reader.joint_log_likelihood(frames, [r.digit for r in reads]) - READER_DOUBT


def _cut(ink: np.ndarray, group: _Group, height: float, classify: Classify, line_frames: LineFrames) -> list[Piece]:
    """The group's digits, cut where the classifier reads the pieces best, as many as the number reader reads."""
    box = np.s_[group.top : group.bottom, group.left : group.right]
    frames = line_frames(preprocess.normalize_line(ink[box], group.mask[box]))
    reads = reader.consensus(frames)
    if _plainly_one_digit(ink, group, frames, reads, classify):
        return [Piece(group.mask, None)]
    pieces = _pieces(ink, group, height, classify)
    ways = pieces.ways()  # {number of digits: (cut score, pieces)}
    cuts_alone = max(ways.values(), key=lambda way: way[0])[1]
    if len(reads) in ways and len(cuts_alone) > 1:
        # Touching digits: the reader counts and reads them (it sees both neighbours); the cuts give boxes.
        chosen, read = ways[len(reads)][1], [r.probabilities for r in reads]
    else:
        # One digit, or a count the cuts cannot make: the way both models like best, read by the classifier.
        def agreed(way: tuple[float, list[int]]) -> float:
            digits = [int(pieces.probabilities[k].argmax()) for k in way[1]]
            return way[0] + READER_WEIGHT * reader.joint_log_likelihood(frames, digits)

        chosen = max(ways.values(), key=agreed)[1]
        read = [None] * len(chosen)
    found = []
    for k, probabilities in zip(chosen, read, strict=True):
        whole = np.zeros_like(group.mask)
        whole[group.top : group.bottom, group.left : group.right] = pieces.masks[k]
        found.append(Piece(whole, probabilities))
    return found


def segment(ink: np.ndarray, classify: Classify, line_frames: LineFrames) -> list[Piece]:
    """The digits in the ink map, left to right: masks, and what the number reader read in each (if it was asked)."""
    labels, kept = preprocess.ink_components(ink)
    if len(kept) > MAX_MARKS:
        raise preprocess.TooComplex(f"{len(kept)} separate marks: too many to be one number")
    groups, height = _groups(labels, kept)
    found = []
    for group in groups:
        wide = group.width > MAY_TOUCH * height
        found += _cut(ink, group, height, classify, line_frames) if wide else [Piece(group.mask, None)]
    return [piece for piece in found if piece.mask.any()]


def _line_read(ink: np.ndarray, found: list[Piece], digits: list[int], line_frames: LineFrames) -> list[Piece] | None:
    """All the ink read as one line, where the reader prefers that to the digits found piece by piece; else None.

    Cut between the reader's neighbouring digits along the least ink, for their boxes and images.
    """
    mask = np.logical_or.reduce([piece.mask for piece in found])
    top, bottom, left, right = preprocess.bounding_box(mask)
    box = mask[top:bottom, left:right]
    try:
        line = preprocess.normalize_line(ink, mask)
    except preprocess.NoDigit:  # a few faint pixels: nothing to read as a line
        return None
    frames = line_frames(line)
    reads = reader.consensus(frames)
    if not reads or len(reads) > box.shape[1]:  # nothing read, or more digits than columns to cut between
        return None
    preferred = reader.joint_log_likelihood(frames, [r.digit for r in reads])
    if preferred <= reader.joint_log_likelihood(frames, digits) + READER_DOUBT:
        return None
    inked = np.flatnonzero(line.max(axis=0) > 0.05)  # the line's ink spans the box's columns
    scale = box.shape[1] / (inked[-1] + 1 - inked[0])
    centres = [(r.centre - inked[0]) * scale for r in reads]
    starts = np.clip(np.round([(a + b) / 2 for a, b in itertools.pairwise(centres)]).astype(int), 1, box.shape[1] - 1)
    rows = box.shape[0]
    inner = _cut_paths(box, starts, max(1, round(CUT_BEND * rows)))
    edges = [np.zeros(rows, dtype=int), *inner, np.full(rows, box.shape[1])]
    pieces = []
    for read, a, b in zip(reads, edges[:-1], edges[1:], strict=True):
        piece = _between(box, a, b)
        if not piece.any():
            return None
        whole = np.zeros_like(mask)
        whole[top:bottom, left:right] = piece
        pieces.append(Piece(whole, read.probabilities))
    return pieces


def _read_pieces(ink: np.ndarray, found: list[Piece], classify: Classify) -> tuple[np.ndarray, np.ndarray]:
    """Each piece's 28x28 image and probabilities: the classifier's, or the reader's where it read the piece."""
    images = np.stack([preprocess.normalize_digit(ink, piece.mask) for piece in found])
    probabilities = classify(images).astype(np.float64)
    for k, piece in enumerate(found):
        if piece.read is not None:  # read as part of a line: the reader saw the neighbours
            probabilities[k] = piece.read
    return images, probabilities


def read_number(
    data: bytes, classify: Classify, line_frames: LineFrames, limits: preprocess.Limits = preprocess.DEFAULT_LIMITS
) -> Reading:
    """Every digit in the image, left to right; raises the PreprocessError subclasses of preprocess()."""
    image = preprocess.decode(data, limits)
    ink = preprocess.ink_map(image)
    found = segment(ink, classify, line_frames)
    images, probabilities = _read_pieces(ink, found, classify)
    reread = _line_read(ink, found, probabilities.argmax(axis=1).tolist(), line_frames)
    if reread is not None:
        found = reread
        images, probabilities = _read_pieces(ink, found, classify)
    scale_x, scale_y = image.width / ink.shape[1], image.height / ink.shape[0]
    digits = []
    for piece, image28, p in zip(found, images, probabilities, strict=True):
        top, bottom, left, right = preprocess.bounding_box(piece.mask)
        x, y = int(left * scale_x), int(top * scale_y)
        w, h = int(np.ceil(right * scale_x)) - x, int(np.ceil(bottom * scale_y)) - y
        p = p.astype(np.float64) / p.sum()
        digits.append(Digit(int(p.argmax()), float(p.max()), [float(v) for v in p], (x, y, w, h), image28))
    return Reading(digits, image.width, image.height)
