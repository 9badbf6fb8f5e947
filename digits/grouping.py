"""Ink components merged into digit-sized groups, left to right: the first step of reading a number.

Strokes that overlap horizontally belong to one digit (a 5's bar, an open 4); a fragment much shorter
than a digit (half an open 4, a colon's dots) joins the digit it overlaps or nearly touches, or is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digits import preprocess

MERGE_OVERLAP = 0.5  # share half the narrower one's columns -> same digit
FRAGMENT = 0.45  # shorter than this times the typical digit height -> part of a digit, or a dot
ATTACH_GAP = 0.15  # a fragment this close (times the digit height) joins that digit


@dataclass(eq=False)
class Group:
    """Ink that belongs to one digit, or to several touching ones, and its box at working resolution."""

    mask: np.ndarray  # bool, same shape as the ink map
    left: int
    right: int  # exclusive
    top: int
    bottom: int
    tallest_part: int  # height of its tallest component: dots stacked in a column are not a digit

    @classmethod
    def of(cls, mask: np.ndarray, tallest_part: int | None = None) -> Group:
        """The group of a mask's ink."""
        top, bottom, left, right = preprocess.bounding_box(mask)
        return cls(mask, left, right, top, bottom, bottom - top if tallest_part is None else tallest_part)

    def joined(self, other: Group) -> Group:
        """The two groups as one."""
        return Group.of(self.mask | other.mask, max(self.tallest_part, other.tallest_part))

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def box(self) -> tuple[slice, slice]:
        """The group's rows and columns, to index the ink map with."""
        return np.s_[self.top : self.bottom, self.left : self.right]


def overlap(a: Group, b: Group) -> int:
    """Shared columns of two groups; negative: the gap between them."""
    return min(a.right, b.right) - max(a.left, b.left)


def groups(labels: np.ndarray, kept: np.ndarray) -> tuple[list[Group], float]:
    """Components (labels in `kept`) merged into digits, left to right, and the typical digit height."""
    merged: list[Group] = []
    for group in sorted((Group.of(labels == k) for k in kept), key=lambda g: g.left):
        for i, other in enumerate(merged):
            if overlap(group, other) >= MERGE_OVERLAP * min(group.width, other.width):
                merged[i] = other.joined(group)
                break
        else:
            merged.append(group)
    tallest = max(g.tallest_part for g in merged)
    typical = float(np.median([g.height for g in merged if g.tallest_part >= 0.5 * tallest]))
    fragments = [g for g in merged if g.tallest_part < min(FRAGMENT * typical, tallest)]  # never all of them
    digits = [g for g in merged if g not in fragments]
    for fragment in fragments:
        nearest = max(range(len(digits)), key=lambda i: overlap(fragment, digits[i]))
        if overlap(fragment, digits[nearest]) >= -ATTACH_GAP * typical:
            digits[nearest] = digits[nearest].joined(fragment)
    return sorted(digits, key=lambda g: g.left), typical
