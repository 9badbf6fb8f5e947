"""Each endpoint's whole reading, top to bottom: bytes in, a reading out.

read_digit() is /api/v1/predict, read_digits() /api/v1/predict/batch, read_number() /api/v1/read. They
raise the PreprocessError subclasses of digits.preprocess for input that cannot be read (read_digits
returns them, one per image); the server maps them to 4xx.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from digits import line_reread, preprocess, segment
from digits.classifier import Classifier
from digits.models import Models

TOP = 3  # runner-ups shown with a digit's answer


@dataclass(frozen=True)
class Timing:
    """Where one reading's time went, in seconds (the server's metrics report it)."""

    decode: float
    preprocess: float  # everything but decoding and the models: ink, segmentation, normalisation
    model: float


class _Clock:
    """Times one reading: decoding inside decoding(), the models by their own counters, the rest."""

    def __init__(self, models: Models) -> None:
        self.models, self.start, self.busy = models, time.perf_counter(), models.busy_seconds
        self.decode = 0.0

    @contextlib.contextmanager
    def decoding(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.decode += time.perf_counter() - started

    def timing(self) -> Timing:
        model = self.models.busy_seconds - self.busy
        return Timing(self.decode, time.perf_counter() - self.start - self.decode - model, model)


@dataclass(frozen=True)
class DigitReading:
    """One digit: the answer, all ten probabilities, and the 28x28 image the classifier saw."""

    digit: int
    confidence: float
    probabilities: list[float]  # sums to 1
    top: list[tuple[int, float]]  # the TOP likeliest digits, likeliest first
    image28: np.ndarray  # the classifier's input, float [28, 28]
    model: str  # the version of the model that read it
    timing: Timing  # of this reading; in a batch, of the whole batch


@dataclass(frozen=True)
class BatchReading:
    """The digit in each image of a batch, in order: its reading, or the error that image gave."""

    readings: list[DigitReading | preprocess.PreprocessError]
    timing: Timing


@dataclass(frozen=True)
class NumberDigit:
    """One digit of a number, with its box in the original image's pixels."""

    digit: int
    confidence: float
    probabilities: list[float]
    box: tuple[int, int, int, int]  # x, y, width, height
    image28: np.ndarray  # its 28x28 image, as the classifier saw it


@dataclass(frozen=True)
class NumberReading:
    """The digits of a number, left to right, and the size of the image their boxes refer to."""

    digits: list[NumberDigit]
    width: int
    height: int
    model: str  # the versions of every model that read it
    timing: Timing
    skipped: list[tuple[int, int, int, int]]  # boxes of marks apart from every digit, read as none: a separator

    @property
    def text(self) -> str:
        return "".join(str(d.digit) for d in self.digits)


def read_digit(data: bytes, models: Models, limits: preprocess.Limits = preprocess.DEFAULT_LIMITS) -> DigitReading:
    """The one digit in the image."""
    clock = _Clock(models)
    with clock.decoding():
        image = preprocess.decode(data, limits)
    image28, probabilities = classify(image, models.classifier)
    return _digit_reading(image28, probabilities, models, clock.timing())


def classify(image: Image.Image, classifier: Classifier) -> tuple[np.ndarray, np.ndarray]:
    """The digit in a decoded image: the 28x28 input shown for it, and its probabilities."""
    return _classified([preprocess.digit_views(image)], classifier)[0]


def _classified(views: list[np.ndarray], classifier: Classifier) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each image's views [V,28,28], all classified in one call: the view likeliest to be the answer, the mean."""
    probabilities = classifier.predict(np.concatenate(views))
    out, at = [], 0
    for image_views in views:
        p = probabilities[at : at + len(image_views)]
        at += len(image_views)
        mean = p.mean(axis=0)
        out.append((image_views[int(p[:, mean.argmax()].argmax())], mean))
    return out


def read_digits(
    images: list[bytes], models: Models, limits: preprocess.Limits = preprocess.DEFAULT_LIMITS
) -> BatchReading:
    """The one digit in each image, all classified in one call; an image that cannot be read gets its error."""
    clock = _Clock(models)
    views: dict[int, np.ndarray] = {}
    readings: list = [None] * len(images)
    for k, data in enumerate(images):
        try:
            with clock.decoding():
                image = preprocess.decode(data, limits)
            views[k] = preprocess.digit_views(image)
        except preprocess.PreprocessError as exc:
            readings[k] = exc
    classified = _classified(list(views.values()), models.classifier) if views else []
    timing = clock.timing()
    for k, (image28, p) in zip(views, classified, strict=True):
        readings[k] = _digit_reading(image28, p, models, timing)
    return BatchReading(readings, timing)


def _digit_reading(image28: np.ndarray, probabilities: np.ndarray, models: Models, timing: Timing) -> DigitReading:
    p = _normalised(probabilities)
    top = [(int(d), float(p[d])) for d in np.argsort(-p)[:TOP]]
    return DigitReading(top[0][0], top[0][1], p.tolist(), top, image28, models.classifier.version, timing)


def read_number(data: bytes, models: Models, limits: preprocess.Limits = preprocess.DEFAULT_LIMITS) -> NumberReading:
    """Every digit in the image, left to right."""
    clock = _Clock(models)
    with clock.decoding():
        image = preprocess.decode(data, limits)
    ink = segment.without_rules(preprocess.ink_map(image))  # a form's baseline or box is not a digit
    pieces, inked, skipped = segment.segment(ink, models)
    images, probabilities = _read_pieces(ink, pieces, models)
    reread = line_reread.reread(ink, inked, probabilities.argmax(axis=1).tolist(), models)
    if reread is not None:
        pieces = reread
        images, probabilities = _read_pieces(ink, pieces, models)
    width, height = preprocess.original_size(image)  # boxes in the file's pixels, however it was decoded
    scale = (width / ink.shape[1], height / ink.shape[0])
    digits = []
    for piece, image28, p in zip(pieces, images, probabilities, strict=True):
        p = _normalised(p)
        box = _box_in_original(piece.mask, scale)
        digits.append(NumberDigit(int(p.argmax()), float(p.max()), p.tolist(), box, image28))
    marks = [_box_in_original(mark, scale) for mark in skipped]
    return NumberReading(digits, width, height, models.version, clock.timing(), marks)


def _read_pieces(ink: np.ndarray, pieces: list[segment.Piece], models: Models) -> tuple[np.ndarray, np.ndarray]:
    """Each piece's 28x28 image and probabilities: the classifier's, or the line model's where it read the piece."""
    images = np.stack([preprocess.normalize_digit(ink, piece.mask) for piece in pieces])
    probabilities = models.classifier.predict(images).astype(np.float64)
    for k, piece in enumerate(pieces):
        if piece.read is not None:  # read as part of a line: the line model saw the neighbours
            probabilities[k] = piece.read
    return images, probabilities


def _box_in_original(mask: np.ndarray, scale: tuple[float, float]) -> tuple[int, int, int, int]:
    """The mask's box (x, y, width, height), from the working resolution to the original image's pixels."""
    top, bottom, left, right = preprocess.bounding_box(mask)
    x, y = int(left * scale[0]), int(top * scale[1])
    return x, y, int(np.ceil(right * scale[0])) - x, int(np.ceil(bottom * scale[1])) - y


def _normalised(probabilities: np.ndarray) -> np.ndarray:
    """float64 probabilities that sum to 1 (float32 softmax sums drift by ~1e-7)."""
    p = probabilities.astype(np.float64)
    return p / p.sum()
