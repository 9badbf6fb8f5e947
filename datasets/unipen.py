"""Real pen-on-tablet digits and numbers (UNIPEN development sites), drawn the ways people send them.

`$UNIPEN_DIR` holds digits.jsonl.gz and numbers.jsonl.gz (strokes, y down, tablet units). Sites are
different writers and tablets, so splits are by site: training sites, validation sites for every
choice, and test sites read once for the report.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from datasets import DataMissing, renders
from digits import preprocess, segment  # the library's normalisation and cutting: what the model will be served
from digits.models import Models

TRAIN_SITES = ("syn", "apb", "imp")  # 6,844 digits
VALIDATION_SITES = ("gmd", "tos")  # 1,688 digits: every choice is made on these
TEST_SITES = ("val", "pri")  # 1,540 digits: read once, for the report
# Numbers come from other sites, split the same way by writers' site.
NUMBER_VALIDATION_SITES = ("ape", "cec", "apc", "hpb", "par")  # 119 numbers
NUMBER_TEST_SITES = ("lex", "hpp")  # 189 numbers: read once, for the report


class UnipenError(DataMissing):
    """The UNIPEN files are missing."""

    source = "UNIPEN"


@dataclass(frozen=True)
class Sample:
    """One handwritten sample: its label (a digit or a digit string), site and pen strokes."""

    label: str
    site: str
    strokes: list[np.ndarray]  # each [points, 2] as (x, y), y down, in tablet units


def refusal(sites: tuple[str, ...]) -> str | None:
    """Why a training run may not read these sites (any but the training and validation sites), or None."""
    if leaked := sorted(set(sites) - set(TRAIN_SITES + VALIDATION_SITES)):
        return f"{leaked} are not training or validation sites (test sites are read once)"
    return None


def folder() -> Path:
    """The UNIPEN folder from $UNIPEN_DIR; UnipenError when it is unset or incomplete."""
    value = os.environ.get("UNIPEN_DIR")
    if not value or not (Path(value) / "digits.jsonl.gz").is_file():
        raise UnipenError("set UNIPEN_DIR to the folder holding digits.jsonl.gz and numbers.jsonl.gz")
    return Path(value)


def load(kind: str = "digits", sites: tuple[str, ...] | None = None) -> list[Sample]:
    """The samples of `kind` ('digits' or 'numbers') from the given sites (all by default), in file order."""
    samples = []
    with gzip.open(folder() / f"{kind}.jsonl.gz", "rt") as lines:
        for line in lines:
            row = json.loads(line)
            if sites is None or row["site"] in sites:
                strokes = [np.asarray(s, dtype=np.float32).reshape(-1, 2) for s in row["strokes"] if s]
                samples.append(Sample(row["label"], row["site"], strokes))
    return samples


def draw(
    strokes: list[np.ndarray],
    size: tuple[int, int],
    height_px: float,
    centre: tuple[float, float],
    pen_px: float,
    frame: list[np.ndarray] | None = None,
) -> np.ndarray:
    """Coverage [H,W] in [0,1] of the strokes drawn with a round pen, `height_px` tall around `centre`.

    The strokes' box is fitted; with `frame`, that of the frame's strokes (some strokes drawn where they lie among all).
    """
    points = np.concatenate(strokes if frame is None else frame)
    low, high = points.min(axis=0), points.max(axis=0)
    scale = height_px / max(high[1] - low[1], 1e-6) * renders.SUPERSAMPLE
    # Very wide samples (a long 1's flag, a number) are fitted by height, as the page's pad does.
    offset = np.array(centre) * renders.SUPERSAMPLE - (low + high) / 2 * scale
    canvas = Image.new("L", (size[0] * renders.SUPERSAMPLE, size[1] * renders.SUPERSAMPLE), 0)
    pen = ImageDraw.Draw(canvas)
    width = max(1, round(pen_px * renders.SUPERSAMPLE))
    for stroke in strokes:
        xy = [tuple(p) for p in stroke * scale + offset]
        if len(xy) > 1:
            pen.line(xy, fill=255, width=width, joint="curve")
        for x, y in (xy[0], xy[-1]) if len(xy) > 1 else xy:  # round caps, as a canvas pen
            pen.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=255)
    return np.asarray(canvas.reduce(renders.SUPERSAMPLE), dtype=np.float32) / 255.0


def aspect(sample: Sample) -> float:
    """Width over height of the sample's strokes."""
    points = np.concatenate(sample.strokes)
    extent = points.max(axis=0) - points.min(axis=0)
    return float(extent[0] / max(extent[1], 1e-6))


def canvas(rng: np.random.Generator, sample: Sample) -> bytes:
    """The sample as the page's canvas exports it: black ink on transparent, pens thin to thick."""
    height_px = rng.uniform(0.35, 0.8) * 280
    width = int(max(280, height_px * aspect(sample) + 0.3 * 280))
    pen = height_px * rng.uniform(0.04, 0.14)
    return renders.canvas_export(draw(sample.strokes, (width, 280), height_px, (width / 2, 140), pen))


def photo(rng: np.random.Generator, sample: Sample) -> bytes:
    """The sample written on paper and photographed (uneven light, noise, blur, JPEG)."""
    height_px = rng.uniform(0.3, 0.6) * 480
    width = int(max(640, height_px * aspect(sample) + 200))
    pen = height_px * rng.uniform(0.04, 0.10)
    return renders.photograph(rng, draw(sample.strokes, (width, 480), height_px, (width / 2, 240), pen))


def low_res_scan(rng: np.random.Generator, sample: Sample) -> bytes:
    """The sample as a 16-32 px binarised scan, enlarged blockily: forms and postal digits."""
    side = int(rng.integers(16, 33))
    height_px = side * rng.uniform(0.7, 0.9)
    width = int(max(side, height_px * aspect(sample) + 4))
    coverage = draw(sample.strokes, (width, side), height_px, (width / 2, side / 2), max(1.0, side * 0.08))
    ink = (coverage > 0.4).astype(np.uint8) * 255
    factor = int(rng.integers(6, 16))
    big = Image.fromarray(255 - ink).resize((width * factor, side * factor), Image.Resampling.NEAREST)
    return renders.encode(big, "PNG")


BOX_SIDE = 16  # px: forms that binarise each digit into a box of this side, stretched to fill it


def stretched_box(rng: np.random.Generator, sample: Sample) -> bytes:
    """The sample stretched to fill a 16x16 box, binarised and enlarged: a 1 becomes as wide as it is tall."""
    points = np.concatenate(sample.strokes)
    low, extent = points.min(axis=0), np.maximum(np.ptp(points, axis=0), 1e-6)
    square = [(stroke - low) / extent for stroke in sample.strokes]  # as wide as it is tall
    pen = rng.uniform(1.0, 2.0)
    coverage = draw(square, (BOX_SIDE, BOX_SIDE), BOX_SIDE - pen, (BOX_SIDE / 2, BOX_SIDE / 2), pen)
    ink = (coverage > 0.4).astype(np.uint8) * 255
    factor = int(rng.integers(8, 17))
    big = Image.fromarray(255 - ink).resize((BOX_SIDE * factor,) * 2, Image.Resampling.NEAREST)
    return renders.encode(big, "PNG")


MEDIA = {"canvas": canvas, "photo": photo, "low-res scan": low_res_scan}


# --- Training digits ----------------------------------------------------------------------------
STYLE_SHARE = 0.5  # of the digits a style fits, how many training renders get one: styles MNIST hardly has


def _box(sample: Sample) -> tuple[np.ndarray, float, float, float, float]:
    points = np.concatenate(sample.strokes)
    (left, top), (right, bottom) = points.min(axis=0), points.max(axis=0)
    return points, left, top, right, bottom


def _slash(sample: Sample, rng: np.random.Generator) -> list[np.ndarray]:
    """Ø: a stroke from below left to above right, past the loop."""
    _, left, top, right, bottom = _box(sample)
    over, slope = rng.uniform(0.0, 0.15) * (bottom - top), (right - left) / max(bottom - top, 1e-6)
    return _plus(sample, [[left - over * slope, bottom + over], [right + over * slope, top - over]])


def _flag(sample: Sample, rng: np.random.Generator, longest: float = 0.45) -> list[np.ndarray]:
    """The European 1: a flag from the top of the stroke down to the left.

    Steeper than 30° and at most `longest` of the height: a flatter flag is a 7's bar to a reader.
    """
    points, _, top, _, bottom = _box(sample)
    length, angle = rng.uniform(0.2, longest) * (bottom - top), np.radians(rng.uniform(30, 65))
    start = points[points[:, 1].argmin()]
    return _plus(sample, [start - length * np.array([np.cos(angle), -np.sin(angle)]), start])


def _foot(sample: Sample, rng: np.random.Generator) -> list[np.ndarray]:
    """A 1 standing on a foot: a base line across the bottom of the stroke."""
    points, _, top, _, bottom = _box(sample)
    base, half = points[points[:, 1].argmax()], rng.uniform(0.2, 0.35) * (bottom - top)
    return _plus(sample, base + np.array([[-half, 0.0], [half, 0.0]]))


def _crossbar(sample: Sample, rng: np.random.Generator) -> list[np.ndarray]:
    """A 7 with a bar across its stem, a little below the middle."""
    points, _, top, _, bottom = _box(sample)
    y = top + rng.uniform(0.45, 0.65) * (bottom - top)
    x = points[np.abs(points[:, 1] - y).argmin(), 0]
    half = rng.uniform(0.18, 0.3) * (bottom - top)
    return _plus(sample, [[x - half, y], [x + half, y]])


def _open_top(sample: Sample, rng: np.random.Generator) -> list[np.ndarray]:
    """A 4 open at the top: the left arm leans out, away from the stem (closed 4s come apart there)."""
    _, _, top, _, bottom = _box(sample)
    height = bottom - top
    stem = max(sample.strokes, key=lambda s: np.ptp(s[:, 1]))  # the tallest stroke: the stem, or the whole 4
    stem_x = (
        float(np.median(stem[stem[:, 1] > top + 0.6 * height, 0]))
        if len(sample.strokes) == 1
        else float(np.median(stem[:, 0]))
    )
    lean, reach = rng.uniform(0.12, 0.3) * height, 0.6 * height
    opened = []
    for stroke in sample.strokes:
        if stroke is stem and len(sample.strokes) > 1:
            opened.append(stroke)
            continue
        arm = (stroke[:, 0] < stem_x - 0.1 * height) & (stroke[:, 1] < top + reach)
        shift = np.where(arm, -lean * (1 - (stroke[:, 1] - top) / reach), 0.0)
        opened.append(stroke + np.stack([shift, np.zeros_like(shift)], axis=1).astype(np.float32))
    return opened


def _hook(sample: Sample, rng: np.random.Generator) -> list[np.ndarray]:
    """A 9 whose tail hooks to the left at the bottom."""
    points, _, top, _, bottom = _box(sample)
    end, radius = points[points[:, 1].argmax()], rng.uniform(0.1, 0.2) * (bottom - top)
    turn = np.linspace(0, np.radians(rng.uniform(120, 180)), 8)
    return _plus(sample, np.stack([end[0] - radius + radius * np.cos(turn), end[1] - radius * np.sin(turn)], axis=1))


def _plus(sample: Sample, corners: np.ndarray | list) -> list[np.ndarray]:
    """The sample's strokes and one more, through `corners`, drawn first."""
    points = np.concatenate([np.linspace(a, b, 6) for a, b in itertools.pairwise(np.asarray(corners))])
    return [points.astype(np.float32), *sample.strokes]


# Styles of real writers that MNIST hardly has: (the digit, the sample's strokes written that way).
STYLES = {
    "slashed zero": ("0", _slash),
    "flagged one": ("1", _flag),
    "footed one": ("1", _foot),
    "open four": ("4", _open_top),
    "crossed seven": ("7", _crossbar),
    "hooked nine": ("9", _hook),
}


# Training reaches further than the evaluation's style sets: a validation site's writers (gmd's) flag every
# 1, the flag a median 0.9 of its height long (90th percentile 1.3) at 40-51°; the evaluation keeps its
# 20-45% so its figures stay comparable across runs.
LONGEST_TRAINING_FLAG = 1.2
TRAINING_STYLES = {**STYLES, "flagged one": ("1", functools.partial(_flag, longest=LONGEST_TRAINING_FLAG))}


def styled(sample: Sample, style: str, rng: np.random.Generator, styles: dict = STYLES) -> Sample:
    """The sample written in one style of `styles` (the sample must be of that style's digit)."""
    return Sample(sample.label, sample.site, styles[style][1](sample, rng))


def _straight(stroke: np.ndarray) -> bool:
    """The stroke's points lie along a line: across it they spread under a tenth of their spread along it."""
    if len(stroke) < 2:
        return False
    along, across = np.linalg.svd(stroke - stroke.mean(axis=0), compute_uv=False)
    return across < 0.1 * along


def _slashed(sample: Sample) -> bool:
    """A straight stroke at least as long as the digit is tall: the writer slashed the zero."""
    _, _, top, _, bottom = _box(sample)
    return any(_straight(s) and np.hypot(*np.ptp(s, axis=0)) >= bottom - top for s in sample.strokes)


def _flagged(sample: Sample) -> bool:
    """The pen came up to the 1's top from at least 15% of its height to the left: the writer flagged it."""
    _, _, top, _, bottom = _box(sample)
    height = bottom - top
    stroke = min(sample.strokes, key=lambda s: s[:, 1].min())  # the stroke with the top point
    top = int(stroke[:, 1].argmin())
    return stroke[top, 0] - stroke[: top + 1, 0].min() >= 0.15 * height


# Styles a writer's own strokes show: a style set takes those digits as written (real ones), not styled twice.
WRITTEN_IN = {"slashed zero": _slashed, "flagged one": _flagged}


def in_style(sample: Sample, style: str, rng: np.random.Generator) -> Sample:
    """The sample as the style's evaluation set holds it: as written if the writer used the style, else styled."""
    written_in = WRITTEN_IN.get(style)
    return sample if written_in is not None and written_in(sample) else styled(sample, style, rng)


def with_style(sample: Sample, rng: np.random.Generator) -> Sample:
    """A training sample given, at random, one of the styles of its digit; most stay as written."""
    fitting = [style for style, (digit, _) in TRAINING_STYLES.items() if digit == sample.label]
    if not fitting or rng.random() >= STYLE_SHARE:
        return sample
    return styled(sample, fitting[rng.integers(len(fitting))], rng, TRAINING_STYLES)


def _render_chunk(args: tuple[list[Sample], int]) -> np.ndarray:
    samples, seed = args
    rng = np.random.default_rng(seed)
    images = np.zeros((len(samples), 28, 28), dtype=np.float32)
    for i, sample in enumerate(samples):
        sample = with_style(sample, rng)
        height_px = rng.uniform(60, 160)
        width = int(height_px * max(1.0, aspect(sample)) + height_px * 0.5)
        side = int(height_px * 1.5)
        pen = height_px * rng.uniform(0.03, 0.16)  # hairline to fat marker, as redraws of MNIST
        coverage = draw(sample.strokes, (width, side), height_px, (width / 2, side / 2), pen)
        images[i] = preprocess.normalize_digit(coverage, preprocess.digit_mask(coverage))
    return images


def training_digits(samples: list[Sample], count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` renders of the samples (float [count,28,28]) through the service's preprocessing, and labels."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(samples), size=count)
    chunks = np.array_split(picks, max(1, count // 500))
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        jobs = [([samples[k] for k in chunk], seed + i) for i, chunk in enumerate(chunks)]  # each its own samples
        drawn = list(pool.map(_render_chunk, jobs))
    return np.concatenate(drawn), np.array([int(samples[k].label) for k in picks])


# --- Training numbers ---------------------------------------------------------------------------
# How writers vary the digits of one number, in digit heights: ranges set by eye, not fitted to the number
# sites' strokes, which are all held out for validation and test.
WRITTEN_DIGITS = (2, 5)  # digits per training number; the line model sees ~2 at a time, longer adds nothing
WRITTEN_SIZE = (0.7, 1.3)  # each digit's height against the number's: a small 3 beside a tall 4
WRITTEN_LIFT = 0.12  # a digit's baseline above or below the number's
WRITTEN_GAP = (-0.06, 0.45)  # between neighbours' boxes: just overlapping, touching, apart
WRITTEN_SLANT = (-0.15, 0.4)  # the whole number's shear, leaning right more often than left
LIGATURE = 0.15  # the chance that the pen stays down from one digit into the next...
LIGATURE_RISE = 0.3  # ...where the next starts near that height: a join from foot to top would be a 1's stroke


def written_number(digits: list[Sample], rng: np.random.Generator) -> Sample:
    """Real digits written one after another as one number: their sizes, baselines, gaps, slant and pen joins varied."""
    return _written(digits, rng)[0]


def _written(digits: list[Sample], rng: np.random.Generator) -> tuple[Sample, list[int]]:
    """written_number's number, and which digit wrote each of its strokes (a joined stroke: the first of the two)."""
    strokes: list[np.ndarray] = []
    owners: list[int] = []
    right = 0.0
    for k, digit in enumerate(with_style(d, rng) for d in digits):
        points = np.concatenate(digit.strokes)
        low, extent = points.min(axis=0), np.maximum(np.ptp(points, axis=0), 1e-6)
        size = rng.uniform(*WRITTEN_SIZE)
        scale = size / extent[1]
        left = right + rng.uniform(*WRITTEN_GAP) if k else 0.0
        bottom = 1.0 + rng.uniform(-WRITTEN_LIFT, WRITTEN_LIFT)
        placed = [(stroke - low) * scale + (left, bottom - size) for stroke in digit.strokes]
        right = left + extent[0] * scale
        if strokes and abs(placed[0][0, 1] - strokes[-1][-1, 1]) < LIGATURE_RISE and rng.random() < LIGATURE:
            strokes[-1] = np.concatenate([strokes[-1], placed.pop(0)])  # the last stroke runs on into the next
        strokes += placed
        owners += [k] * len(placed)
    slant = rng.uniform(*WRITTEN_SLANT)
    sheared = [stroke + np.stack([slant * (1.0 - stroke[:, 1]), np.zeros(len(stroke))], axis=1) for stroke in strokes]
    return Sample("".join(d.label for d in digits), "written", sheared), owners


def _written_ink(
    digits: list[Sample], rng: np.random.Generator, each: bool = False
) -> tuple[np.ndarray, list[np.ndarray]]:
    """One written number drawn with a round pen: its coverage [H,W], and (if `each`) each digit's own, in place."""
    sample, owners = _written(digits, rng)
    height_px = rng.uniform(40, 120)
    size = (int(height_px * aspect(sample) + height_px * 0.6), int(height_px * 1.6))
    pen = height_px * rng.uniform(0.03, 0.11)  # the number is taller than its digits
    centre = (size[0] / 2, size[1] / 2)
    coverage = draw(sample.strokes, size, height_px, centre, pen)
    if not each:
        return coverage, []
    own = [[s for s, o in zip(sample.strokes, owners, strict=True) if o == k] for k in range(len(digits))]
    return coverage, [draw(strokes, size, height_px, centre, pen, frame=sample.strokes) for strokes in own]


def _written_chunk(args: tuple[list[list[Sample]], int]) -> list[np.ndarray]:
    numbers, seed = args
    rng = np.random.default_rng(seed)
    lines = []
    for digits in numbers:
        coverage, _ = _written_ink(digits, rng)
        lines.append(preprocess.normalize_line(coverage, coverage > 0.35))
    return lines


def _numbers(samples: list[Sample], count: int, rng: np.random.Generator) -> list[list[Sample]]:
    """`count` numbers of WRITTEN_DIGITS digits drawn at random from the samples."""
    numbers = []
    for _ in range(count):
        size = rng.integers(WRITTEN_DIGITS[0], WRITTEN_DIGITS[1] + 1)
        numbers.append([samples[k] for k in rng.integers(0, len(samples), size=size)])
    return numbers


def written_lines(samples: list[Sample], count: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
    """`count` numbers written from the samples' digits, as the line model's lines (float [28, W]), and their text."""
    numbers = _numbers(samples, count, np.random.default_rng(seed))
    jobs = [(numbers[start : start + 500], seed + k) for k, start in enumerate(range(0, count, 500))]
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        lines = [line for chunk in pool.map(_written_chunk, jobs) for line in chunk]
    return lines, ["".join(s.label for s in number) for number in numbers]


PIECE_OWN = 0.7  # of a cut piece's ink, the share its own digit must have drawn for the digit's label to hold


def _pieces_chunk(args: tuple[list[list[Sample]], int]) -> tuple[np.ndarray, np.ndarray]:
    numbers, seed = args
    rng, models = np.random.default_rng(seed), Models.load()  # sessions made in the worker, after the fork
    images, labels = [], []
    for digits in numbers:
        coverage, own = _written_ink(digits, rng, each=True)
        try:
            pieces = segment.segment(coverage, models).pieces
        except preprocess.PreprocessError:
            continue
        if len(pieces) != len(digits):  # cut into more or fewer digits: whose is each piece?
            continue
        for piece, digit, mine in zip(pieces, digits, own, strict=True):
            ink = coverage[piece.mask]
            if ink.sum() > 0 and np.minimum(mine[piece.mask], ink).sum() >= PIECE_OWN * ink.sum():
                images.append(preprocess.normalize_digit(coverage, piece.mask))
                labels.append(int(digit.label))
    return np.array(images, dtype=np.float32).reshape(-1, 28, 28), np.array(labels, dtype=np.int64)


def written_pieces(samples: list[Sample], count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The digits of `count` written numbers as /read cuts them apart (float [N,28,28]) and their labels.

    Cut by the shipped models as `/read` cuts; a number cut into the wrong count of pieces, and a piece
    mostly of another digit's ink, are left out: their labels are not known.
    """
    numbers = _numbers(samples, count, np.random.default_rng(seed))
    jobs = [(numbers[start : start + 250], seed + k) for k, start in enumerate(range(0, count, 250))]
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        cut = list(pool.map(_pieces_chunk, jobs))
    return np.concatenate([images for images, _ in cut]), np.concatenate([labels for _, labels in cut])
