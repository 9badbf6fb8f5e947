"""The CTC line model (artifacts/line_model.int8.onnx): reads a line of digits, touching or not.

Each output frame covers LINE_STRIDE columns of the line and scores "blank" or a digit; a digit is
read where a run of frames says it, so the runs also say where each digit lies along the line.
A line is read in several views (slightly narrower and wider, and shifted against the frame grid),
each by several members trained from different seeds: a stroke one view or member mistakes for an
extra "1" the others do not, so the reading all of them agree on best wins.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from digits import artifacts, contract

DEFAULT_LINE_MODEL = artifacts.LINE_MODEL_INT8  # what the service runs; artifacts.LINE_MODEL is its float original
STRETCHES = (1.0, 0.85, 1.15)  # the line's width, squeezed and stretched: digits' widths vary that much
SHIFTS = (0, contract.LINE_STRIDE // 2)  # columns of offset against the frame grid: half a frame
VIEWS = tuple((stretch, shift) for stretch in STRETCHES for shift in SHIFTS)


@dataclass(frozen=True)
class LineDigit:
    """One digit the line model found: its class, probabilities over the ten digits, and its frames."""

    digit: int
    probabilities: np.ndarray  # [10], sums to 1
    first: int  # frames [first, last] voted for it
    last: int
    centre: float  # the middle of those frames, in the columns of the line as it was given (before any view)


def ctc_greedy(frames: np.ndarray, stretch: float = 1.0, shift: int = 0) -> list[LineDigit]:
    """Greedy CTC decoding of one line's frame probabilities [T, 11] (of a view: stretch, shift): runs of one class."""
    best = frames.argmax(axis=1)
    reads, start = [], 0
    for t in range(1, len(best) + 1):
        if t == len(best) or best[t] != best[start]:
            if best[start] != contract.BLANK:
                digits = frames[start:t, 1:].max(axis=0)  # the run's most confident vote per digit
                centre = ((start + t) / 2 * contract.LINE_STRIDE - shift) / stretch
                reads.append(LineDigit(int(best[start]) - 1, digits / digits.sum(), start, t - 1, centre))
            start = t
    return reads


def log_likelihood(frames: np.ndarray, digits: list[int]) -> float:
    """log P(digits | frames) under CTC: every way of laying the digits over the frames [T, 11], summed."""
    return float(log_likelihoods(frames[None], digits)[0])


def log_likelihoods(frames: np.ndarray, digits: list[int]) -> np.ndarray:
    """log P(digits | frames) of each view of frames [views, T, 11], all views at once (one loop over time)."""
    labels = [contract.BLANK]
    for d in digits:
        labels += [d + 1, contract.BLANK]
    labels = np.array(labels)
    # A state may be skipped into from two back unless that would merge a repeated digit.
    skip = np.zeros(len(labels), dtype=bool)
    skip[2:] = (labels[2:] != contract.BLANK) & (labels[2:] != labels[:-2])
    emissions = frames[:, :, labels]  # [views, T, states]
    alpha = np.zeros((len(frames), len(labels)))
    alpha[:, :2] = emissions[:, 0, :2]
    total = np.zeros(len(frames))
    alive = np.ones(len(frames), dtype=bool)  # a view whose every path has died is -inf
    for t in range(1, frames.shape[1]):
        previous = alpha.copy()
        alpha[:, 1:] += previous[:, :-1]
        alpha[:, 2:] += np.where(skip[2:], previous[:, :-2], 0.0)
        alpha *= emissions[:, t]
        scale = alpha.sum(axis=1)
        alive &= scale > 0
        scale = np.where(alive, scale, 1.0)
        alpha /= scale[:, None]  # rescaled each frame so long lines do not underflow
        total += np.log(scale)
    ends = np.log(np.maximum(alpha[:, -2:].sum(axis=1), 1e-300))  # on the last digit or a blank after it
    return np.where(alive, total + ends, -np.inf)


def views(line: np.ndarray) -> np.ndarray:
    """The line [28, W] at each stretch and shift, padded to one width: [views, 28, W'], W' a multiple of the stride."""
    out, image = [], Image.fromarray(line.astype(np.float32))
    for stretch, shift in VIEWS:
        width = max(1, round(line.shape[1] * stretch))
        resized = np.asarray(image.resize((width, line.shape[0]), Image.Resampling.BILINEAR))
        out.append(np.pad(resized, ((0, 0), (shift, 0))))
    stride = contract.LINE_STRIDE
    width = (-(-max(v.shape[1] for v in out) // stride) + 1) * stride  # at least one blank frame at the end
    return np.stack([np.pad(v, ((0, 0), (0, width - v.shape[1]))) for v in out]).astype(np.float32)


def joint_log_likelihood(frames: np.ndarray, digits: list[int]) -> float:
    """Mean of log P(digits | frames) over a line's views [members x views, T, 11]."""
    return float(np.mean(log_likelihoods(frames, digits)))


def consensus(frames: np.ndarray) -> list[LineDigit]:
    """Of the views' greedy readings [members x views, T, 11], the one all find likeliest, as a view that reads it."""
    geometries = VIEWS * (len(frames) // len(VIEWS))  # each member's views, member by member
    readings = [ctc_greedy(view, *geometry) for view, geometry in zip(frames, geometries, strict=True)]
    candidates = {tuple(r.digit for r in reads) for reads in readings}
    best = max(sorted(candidates), key=lambda digits: joint_log_likelihood(frames, list(digits)))
    return next(reads for reads in readings if tuple(r.digit for r in reads) == best)


class LineModel:
    """An onnxruntime session for a CTC line model that honours the line contract."""

    def __init__(self, path: Path = DEFAULT_LINE_MODEL, threads: int = 1) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # one per worker, as for the classifier
        options.inter_op_num_threads = 1
        model_bytes = Path(path).read_bytes()
        self.version = hashlib.sha256(model_bytes).hexdigest()[:12]
        self.session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        contract.check_line_session(self.session)
        self.busy_seconds = 0.0  # time spent in the model so far, as Classifier.busy_seconds
        self._last: tuple[tuple, np.ndarray] | None = None  # the last line read, and its frames

    def frames(self, lines: np.ndarray) -> np.ndarray:
        """Each member's frame probabilities [N, R, W/LINE_STRIDE, 11] for lines [N, 28, W(, 1)] of one width."""
        feed = {contract.LINE_INPUT_NAME: contract.as_line_input(lines)}
        start = time.perf_counter()
        try:
            return self.session.run([contract.LINE_OUTPUT_NAME], feed)[0]
        finally:
            self.busy_seconds += time.perf_counter() - start

    def line_frames(self, line: np.ndarray) -> np.ndarray:
        """Frame probabilities [members x views, T, 11] of one line [28, W]: every member's, in each view."""
        key = (line.shape, line.dtype.str, line.tobytes())
        if self._last is None or self._last[0] != key:  # a number that is one blob is read twice: once will do
            frames = self.frames(views(line))  # [views, R, T, 11]
            frames = frames.swapaxes(0, 1).reshape(-1, *frames.shape[2:])
            frames.flags.writeable = False  # shared by both reads
            self._last = (key, frames)
        return self._last[1]

    def read(self, line: np.ndarray) -> list[LineDigit]:
        """The digits of one line [28, W], left to right, as its views agree."""
        return consensus(self.line_frames(line))
