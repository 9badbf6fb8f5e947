"""Ink -> the pieces of a number, one mask per digit, left to right.

Groups (digits.grouping) narrower than a digit usually is stay whole. A wider one may be several
touching digits: the line model reads it as a line and says how many digits it holds and which, and
where: the blob is cut midway between them, or, if a cut there leaves nothing, the full cut search
(digits.cuts) says where they lie. A blob both models read as one digit stays whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from digits import cuts, grouping, line_model, preprocess
from digits.models import Models

MAY_TOUCH = 0.9  # a blob wider than this times the digit height may hold touching digits
ONE_DIGIT = 0.9  # a wide blob read this confidently as one digit by both models is not cut
# Log-likelihood by which the line model must prefer its reading to overrule the pieces: 2 for the line model
# fine-tuned on real pen, which reads right but less sharply (validation: 4 lost 8 MNIST numbers of 400, 2 none).
LINE_DOUBT = 2.0
LINE_WEIGHT = 1.0  # the line model's log-likelihood of a way's digits, against the cut score
LINE_ASPECT = 2.0  # an image this many times wider than tall is a line of writing: rules are looked for
RULE_SPAN = 0.7  # a straight horizontal run over this share of such a line's width is a printed rule
RULE_INK = 0.3  # of the strongest ink: a printed rule is often fainter than the pen
RULE_SLOPE = 0.03  # of the height: how far a rule may drift over its length and still be found
SIDE_SPAN = 0.6  # a vertical run over this share of the height that meets a rule at a corner is a box's side
CORNER = 0.03  # of the width: how near a rule's end a box's side meets it (a digit's stem on a baseline is not)
MAX_MARKS = 100  # separate marks a number may have (a few per digit); each costs a mask of the whole ink map


@dataclass(frozen=True)
class Piece:
    """One digit's mask, and the line model's probabilities for it when it was read as part of a line."""

    mask: np.ndarray
    read: np.ndarray | None


def without_rules(ink: np.ndarray) -> np.ndarray:
    """The ink map with printed rules erased: a baseline under a written line, a box around it.

    In a line of writing (much wider than tall) no digit's stroke runs straight across most of the
    width, so any such run is a rule; a box's sides are the vertical runs that meet a rule at one of its
    ends. In a shorter image (one or two digits) only a whole box is erased: two rules and two sides.
    """
    height, width = ink.shape
    binary = (ink > RULE_INK * float(ink.max())).astype(np.uint8)
    slope = np.ones((max(1, round(RULE_SLOPE * height)), 1), np.uint8)  # a rule scanned a little askew
    horizontal = cv2.morphologyEx(
        cv2.dilate(binary, slope), cv2.MORPH_OPEN, np.ones((1, round(RULE_SPAN * width)), np.uint8)
    )
    if not horizontal.any():
        return ink
    vertical = cv2.morphologyEx(binary, cv2.MORPH_OPEN, np.ones((round(SIDE_SPAN * height), 1), np.uint8))
    _, sides = cv2.connectedComponents(vertical)
    meeting = np.unique(sides[(sides > 0) & (cv2.dilate(_corners(horizontal), np.ones((5, 5), np.uint8)) > 0)])
    if width < LINE_ASPECT * height and (meeting.size < 2 or cv2.connectedComponents(horizontal)[0] < 3):
        return ink  # a 7's bar or a 2's base may span a short image: only a whole box is printed matter
    rules = cv2.dilate((horizontal & binary) | np.isin(sides, meeting).astype(np.uint8), np.ones((3, 3), np.uint8))
    return np.where(rules > 0, np.float32(0), ink)


def _corners(rules: np.ndarray) -> np.ndarray:
    """The rules' pixels near either end of each rule, where a box's sides meet them."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(rules)
    near = max(2, round(CORNER * rules.shape[1]))
    corners = np.zeros_like(rules)
    for rule in range(1, count):
        left, width = stats[rule, cv2.CC_STAT_LEFT], stats[rule, cv2.CC_STAT_WIDTH]
        for ends in (slice(left, left + near), slice(max(left + width - near, 0), left + width)):
            corners[:, ends] |= (labels[:, ends] == rule).astype(np.uint8)
    return corners


class Segmented(NamedTuple):
    """What segment found in an ink map."""

    pieces: list[Piece]  # the digits, left to right
    inked: np.ndarray  # the mask of all the ink they were found in
    skipped: list[np.ndarray]  # the marks kept out of every digit (a separator, a trailing dash), left to right


def segment(ink: np.ndarray, models: Models) -> Segmented:
    """The digits in the ink map as Pieces, the ink they were found in, and the marks read as no digit."""
    labels, kept = preprocess.ink_components(ink)
    if len(kept) > MAX_MARKS:
        raise preprocess.TooComplex(f"{len(kept)} separate marks: too many to be one number")
    groups, height = grouping.groups(labels, kept)
    found = []
    for group in groups:
        wide = group.width > MAY_TOUCH * height
        found += _cut(ink, group, height, models) if wide else [Piece(group.mask, None)]
    inked = np.logical_or.reduce([group.mask for group in groups])
    marks = [labels == k for k in np.setdiff1d(kept, labels[inked])]  # no pixel in the digits' ink: one mask each
    marks.sort(key=lambda mask: int(np.flatnonzero(mask.any(axis=0))[0]))
    return Segmented([piece for piece in found if piece.mask.any()], inked, marks)


def _plainly_one_digit(
    ink: np.ndarray, group: grouping.Group, frames: np.ndarray, reads: list[line_model.LineDigit], models: Models
) -> bool:
    """Read confidently as one digit no wider than MNIST's widest of it; the line model does not plainly disagree."""
    p = cuts.probabilities(ink[group.box], [group.mask[group.box]], models.classifier.predict)[0]
    if p.max() < ONE_DIGIT or cuts.aspect(group.mask[group.box]) > cuts.WIDEST[p.argmax()]:
        return False
    as_one = line_model.joint_log_likelihood(frames, [int(p.argmax())])
    return as_one >= line_model.joint_log_likelihood(frames, [r.digit for r in reads]) - LINE_DOUBT


def _cut(ink: np.ndarray, group: grouping.Group, height: float, models: Models) -> list[Piece]:
    """The group's digits: cut where the line model reads them, or where the classifier reads the pieces best."""
    line = preprocess.normalize_line(ink[group.box], group.mask[group.box])
    frames = models.line_model.line_frames(line)
    reads = line_model.consensus(frames)
    if _plainly_one_digit(ink, group, frames, reads, models):
        return [Piece(group.mask, None)]
    if 1 < len(reads) < group.width:
        # The line model's own cuts, or none: on validation as good as the full search, at a fraction of its cost.
        pieces = cuts.at_line_digits(ink, group, line, reads, models.classifier.predict)
        if all(mask.any() for mask in pieces.masks):
            return _chosen(group, pieces, reads, frames)
    return _chosen(group, cuts.candidates(ink, group, height, models.classifier.predict), reads, frames)


def _chosen(
    group: grouping.Group, pieces: cuts.Candidates, reads: list[line_model.LineDigit], frames: np.ndarray
) -> list[Piece]:
    """The way of cutting the group into candidate pieces that the cut score and the line model choose."""
    ways = pieces.ways()  # {number of digits: (cut score, pieces)}
    cuts_alone = max(ways.values(), key=lambda way: way[0])[1]
    if len(reads) in ways and len(cuts_alone) > 1:
        # Touching digits: the line model counts and reads them (it sees both neighbours); the cuts give boxes.
        chosen, read = ways[len(reads)][1], [r.probabilities for r in reads]
    else:
        # One digit, or a count the cuts cannot make: the way both models like best, read by the classifier.
        def agreed(way: tuple[float, list[int]]) -> float:
            digits = [int(pieces.probabilities[k].argmax()) for k in way[1]]
            return way[0] + LINE_WEIGHT * line_model.joint_log_likelihood(frames, digits)

        chosen = max(ways.values(), key=agreed)[1]
        read = [None] * len(chosen)
    return [Piece(_whole(group, pieces.masks[k]), probabilities) for k, probabilities in zip(chosen, read, strict=True)]


def _whole(group: grouping.Group, mask: np.ndarray) -> np.ndarray:
    """A mask in the group's box as a mask of the whole ink map."""
    whole = np.zeros_like(group.mask)
    whole[group.box] = mask
    return whole
