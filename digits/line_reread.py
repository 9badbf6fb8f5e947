"""The last step of reading a number: all its ink read as one line by the line model.

Where the line model plainly prefers its own reading to the digits found piece by piece, its digits
win, cut apart along the least ink midway between their frames for their boxes and images.
"""

from __future__ import annotations

import numpy as np

from digits import cuts, line_model, preprocess
from digits.models import Models
from digits.segment import LINE_DOUBT, Piece


def reread(ink: np.ndarray, mask: np.ndarray, digits: list[int], models: Models) -> list[Piece] | None:
    """The pieces the line model reads in the mask's ink, where it prefers them to `digits` by LINE_DOUBT; else None."""
    top, bottom, left, right = preprocess.bounding_box(mask)
    box = mask[top:bottom, left:right]
    try:
        # Cropped as segment crops a group: a number that is one blob gives the same line, read once.
        line = preprocess.normalize_line(ink[top:bottom, left:right], box)
    except preprocess.NoDigit:  # a few faint pixels: nothing to read as a line
        return None
    frames = models.line_model.line_frames(line)
    reads = line_model.consensus(frames)
    if not reads or len(reads) > box.shape[1]:  # nothing read, or more digits than columns to cut between
        return None
    preferred = line_model.joint_log_likelihood(frames, [r.digit for r in reads])
    if preferred <= line_model.joint_log_likelihood(frames, digits) + LINE_DOUBT:
        return None
    _, paths = cuts.line_cuts(box, line, reads)
    pieces = []
    for read, a, b in zip(reads, paths[:-1], paths[1:], strict=True):
        piece = cuts.between(box, a, b)
        if not piece.any():
            return None
        whole = np.zeros_like(mask)
        whole[top:bottom, left:right] = piece
        pieces.append(Piece(whole, read.probabilities))
    return pieces
