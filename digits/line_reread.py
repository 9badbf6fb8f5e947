"""The last step of reading a number: all its ink read as one line by the line model.

Where the line model plainly prefers its own reading to the digits found piece by piece, its digits
win, cut apart along the least ink midway between their frames for their boxes and images.
"""

from __future__ import annotations

import itertools

import numpy as np

from digits import cuts, line_model, preprocess
from digits.models import Models
from digits.segment import LINE_DOUBT, Piece


def reread(ink: np.ndarray, found: list[Piece], digits: list[int], models: Models) -> list[Piece] | None:
    """The pieces the line model reads in all the ink, where it prefers them to `digits` by LINE_DOUBT; else None."""
    mask = np.logical_or.reduce([piece.mask for piece in found])
    top, bottom, left, right = preprocess.bounding_box(mask)
    box = mask[top:bottom, left:right]
    try:
        line = preprocess.normalize_line(ink, mask)
    except preprocess.NoDigit:  # a few faint pixels: nothing to read as a line
        return None
    frames = models.line_model.line_frames(line)
    reads = line_model.consensus(frames)
    if not reads or len(reads) > box.shape[1]:  # nothing read, or more digits than columns to cut between
        return None
    preferred = line_model.joint_log_likelihood(frames, [r.digit for r in reads])
    if preferred <= line_model.joint_log_likelihood(frames, digits) + LINE_DOUBT:
        return None
    inked = np.flatnonzero(line.max(axis=0) > 0.05)  # the line's ink spans the box's columns
    scale = box.shape[1] / (inked[-1] + 1 - inked[0])
    centres = [(r.centre - inked[0]) * scale for r in reads]
    starts = np.clip(np.round([(a + b) / 2 for a, b in itertools.pairwise(centres)]).astype(int), 1, box.shape[1] - 1)
    rows = box.shape[0]
    inner = cuts.cut_paths(box, starts, max(1, round(cuts.CUT_BEND * rows)))
    edges = [np.zeros(rows, dtype=int), *inner, np.full(rows, box.shape[1])]
    pieces = []
    for read, a, b in zip(reads, edges[:-1], edges[1:], strict=True):
        piece = cuts.between(box, a, b)
        if not piece.any():
            return None
        whole = np.zeros_like(mask)
        whole[top:bottom, left:right] = piece
        pieces.append(Piece(whole, read.probabilities))
    return pieces
