"""Train the CTC line model: small CNNs that read a line of digits, touching or apart, with CTC.

Reads top to bottom: for each member, from its own seed, lines composed from training-split MNIST
digits, the model, training, and a check on lines composed from validation-split digits; last, the
members stacked into one model. Knobs: LINE_MEMBERS, LINE_EPOCHS, LINES, PEN_DIGITS, OUT_DIR.
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import cv2
import keras
import tensorflow as tf
from keras import layers
from PIL import Image

from datasets import mnist, redraws, reports_missing_data
from digits import contract, line_model, preprocess
from train.classifier import conv_bn, random_affine

ROOT = Path(__file__).resolve().parent.parent


# --- Hyper-parameters -------------------------------------------------------------------------
@dataclass(frozen=True)
class LineModelConfig:
    """Every setting of a line-model training run; its card records it with asdict()."""

    seed: int = 20261126  # member k uses seed + k for its pen redraws, lines, weights and shuffling
    members: int = 3  # their views are pooled: where one misreads, the others rarely do
    epochs: int = 9
    lines: int = 120_000  # composed once from a pool of varied digits
    pen_digits: int = 25_000  # digits redrawn with a pen join the scans in the pool: users draw, MNIST was scanned
    validation_lines: int = 2000
    max_digits: int = 5  # more digits make a line wider, not harder: the model sees ~2 digits at a time
    line_width: int = 160  # training lines are padded to this; 5 digits fit
    width_step: int = 32  # lines are batched with others padded to the same multiple of this
    touching_share: float = 0.6  # what the cut search cannot do; apart lines keep counting honest
    gap_touching: tuple[float, float] = (-0.25, 0.03)  # times the digit height: overlapping to just touching
    gap_apart: tuple[float, float] = (0.05, 0.5)
    size_range: tuple[float, float] = (0.75, 1.2)  # each digit's height against the line's
    baseline_jitter: float = 0.12  # times the digit height
    batch_size: int = 64
    learning_rate: float = 2e-3
    lr_decay_per_epoch: float = 0.75
    dropout: float = 0.3
    context_frames: int = 9  # frames each frame's context spans: about one digit's width, ~18 columns

    @classmethod
    def from_env(cls) -> LineModelConfig:
        """The defaults, with LINE_MEMBERS, LINE_EPOCHS, LINES, PEN_DIGITS and VALIDATION_LINES from the environment."""
        knobs = {"members": "LINE_MEMBERS", "epochs": "LINE_EPOCHS", "lines": "LINES", "pen_digits": "PEN_DIGITS",
                 "validation_lines": "VALIDATION_LINES"}  # fmt: skip
        return cls(**{name: int(os.environ[var]) for name, var in knobs.items() if var in os.environ})


CONFIG = LineModelConfig.from_env()
OUT_DIR = Path(os.environ.get("OUT_DIR", ROOT / "build"))


SEPARATORS = (".", ",", "'")  # between thousands
# After an amount. Not a slash: it has a slanted 1's shape, and taught as blank it still left the evaluation's
# trailing slashes read as 1 (0 of 44 validation amounts right).
TRAILING = ("-", "=", ".-", ".", ",")


def mark(canvas: np.ndarray, char: str, left: float, height: float, rng: np.random.Generator) -> float:
    """Draw a separator or trailing mark at `left` on a line of digits `height` tall; return its width.

    Not a digit, so not in the line's text: the model learns to read it as blank. Drawn by this
    training generator only (datasets.amounts draws the evaluation's marks its own way).
    """
    base, pen = canvas.shape[0] / 2 + height / 2, max(2, round(height * rng.uniform(0.07, 0.16)))
    width = height * rng.uniform(0.25, 0.6)

    def line(x0: float, y0: float, x1: float, y1: float) -> None:
        cv2.line(canvas, (round(x0), round(y0)), (round(x1), round(y1)), 1.0, pen, cv2.LINE_AA)

    if char == ".":
        width = pen * rng.uniform(1.0, 1.6)
        cv2.circle(canvas, (round(left + width / 2), round(base - width / 2)), round(width / 2), 1.0, -1, cv2.LINE_AA)
    elif char == ",":
        width = height * rng.uniform(0.1, 0.25)
        line(left + width, base - rng.uniform(0.0, 0.1) * height, left, base + rng.uniform(0.15, 0.35) * height)
    elif char == "'":
        width = height * rng.uniform(0.05, 0.2)
        top = base - height * rng.uniform(0.9, 1.1)
        line(left + width, top, left, top + rng.uniform(0.2, 0.4) * height)
    elif char in ("-", "="):
        for y in [rng.uniform(0.35, 0.6)] if char == "-" else [rng.uniform(0.25, 0.4), rng.uniform(0.55, 0.7)]:
            line(left, base - y * height, left + width, base - (y + rng.uniform(-0.08, 0.08)) * height)
    else:  # ".-": a full stop, then a dash after it
        first, gap = mark(canvas, char[0], left, height, rng), height * rng.uniform(0.05, 0.2)
        return first + gap + mark(canvas, "-", left + first + gap, height, rng)
    return width


def compose(digits: list[np.ndarray], rng: np.random.Generator, marks: float = 0.0) -> np.ndarray:
    """Digits (float 28x28, white on black) side by side at random sizes, baselines and gaps.

    With probability `marks`, the line is written as an amount: thousands separators, a trailing mark.
    """
    height = 40.0  # about twice MNIST's scale, so the line normalisation shrinks as it does for users
    touching = rng.random() < CONFIG.touching_share
    separator = str(rng.choice(SEPARATORS)) if marks and rng.random() < marks else ""  # no draw when off
    trailing = str(rng.choice(TRAILING)) if marks and rng.random() < marks else ""
    canvas = np.zeros((int(height * 2.2), int(height * 1.4 * len(digits) + height * 4)), dtype=np.float32)
    cursor = right = height * 0.3  # where the next digit goes; where the last one ended
    for k, digit in enumerate(digits):
        if k and separator and (len(digits) - k) % 3 == 0:  # a mark sits beside its digits, not over them
            cursor = right + height * rng.uniform(0.05, 0.2)
            cursor += mark(canvas, separator, cursor, height, rng) + height * rng.uniform(0.05, 0.2)
        rows, cols = np.nonzero(digit > 0.1)
        crop = digit[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        scale = height * rng.uniform(*CONFIG.size_range) / crop.shape[0]
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        glyph = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.BILINEAR))
        top = int(canvas.shape[0] / 2 - size[1] / 2 + rng.uniform(-1, 1) * CONFIG.baseline_jitter * height)
        left = int(max(cursor, 0))
        region = canvas[top : top + size[1], left : left + size[0]]
        np.maximum(region, glyph[: region.shape[0], : region.shape[1]], out=region)
        right = left + size[0]
        cursor = right + height * rng.uniform(*(CONFIG.gap_touching if touching else CONFIG.gap_apart))
    if trailing:
        mark(canvas, trailing, right + height * rng.uniform(0.05, 0.3), height, rng)
    return canvas


_pool: tuple[np.ndarray, np.ndarray] = (np.zeros((0, 28, 28)), np.zeros(0))  # each worker's digits and labels


def _share(images: np.ndarray, labels: np.ndarray) -> None:
    """Give a worker process the digit pool once, not with every chunk."""
    global _pool
    _pool = (images, labels)


def _compose_chunk(args: tuple[int, int, float]) -> tuple[np.ndarray, np.ndarray]:
    """`count` lines composed from the pool, as padded() gives them."""
    count, seed, marks = args
    images, labels = _pool
    rng = np.random.default_rng(seed)
    lines, texts = [], []
    for _ in range(count):
        while True:
            digits = int(rng.integers(1, CONFIG.max_digits + 1))
            picks = rng.integers(0, len(images), size=digits)
            canvas = compose([images[k] for k in picks], rng, marks)
            line = preprocess.normalize_line(canvas, canvas > 0.35)
            if line.shape[1] <= CONFIG.line_width:
                break
        lines.append(line)
        texts.append(labels[picks])
    return padded(lines, texts)


def padded(lines: list[np.ndarray], texts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Lines [28, W <= CONFIG.line_width] padded to that width, and their labels (digit + 1, padded with blanks)."""
    x = np.zeros((len(lines), contract.IMAGE_SIZE, CONFIG.line_width), dtype=np.float32)
    y = np.full((len(lines), CONFIG.max_digits), contract.BLANK, dtype=np.int32)
    for row, (line, digits) in enumerate(zip(lines, texts, strict=True)):
        x[row, :, : line.shape[1]] = line
        y[row, : len(digits)] = np.asarray(digits) + 1
    return x, y


def make_lines(
    images: np.ndarray, labels: np.ndarray, count: int, seed: int, marks: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """`count` lines composed from these digits (float [N,28,28]), in parallel on every core; `marks`: see compose."""
    sizes = [len(c) for c in np.array_split(np.arange(count), max(1, count // 2000))]
    jobs = [(n, seed + i, marks) for i, n in enumerate(sizes)]
    with ProcessPoolExecutor(max_workers=os.cpu_count(), initializer=_share, initargs=(images, labels)) as pool:
        parts = list(pool.map(_compose_chunk, jobs))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def augmented(images: np.ndarray) -> np.ndarray:
    """Each digit slanted, turned, sheared and shifted at random, as the classifier is trained."""
    x = tf.constant(contract.as_model_input(images))
    return np.concatenate([random_affine(x[i : i + 4096]).numpy() for i in range(0, len(images), 4096)])[..., 0]


def batches_by_width(lines: np.ndarray, targets: np.ndarray, shuffle: bool) -> tf.data.Dataset:
    """Batches of lines of similar width, cut to that width: short lines cost less than 5-digit ones."""
    ends = np.array([np.flatnonzero(line.any(axis=0)).max() + 1 for line in lines])
    widths = np.minimum(-(-(ends + 4) // CONFIG.width_step) * CONFIG.width_step, lines.shape[2])
    datasets = []
    for width in np.unique(widths):
        chosen = np.flatnonzero(widths == width)
        ds = tf.data.Dataset.from_tensor_slices((lines[chosen, :, :width, None], targets[chosen]))
        datasets.append(ds.shuffle(len(chosen), seed=CONFIG.seed) if shuffle else ds)
    batches = [ds.batch(CONFIG.batch_size) for ds in datasets]
    ds = batches[0]
    for more in batches[1:]:
        ds = ds.concatenate(more)
    if shuffle:
        ds = ds.shuffle(len(lines) // CONFIG.batch_size + len(batches), seed=CONFIG.seed, reshuffle_each_iteration=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def across_frames(x: tf.Tensor, filters: int, frames: int) -> tf.Tensor:
    """A 1-D convolution over `frames` neighbouring frames, batch-norm, ReLU, dropout."""
    x = layers.Conv1D(filters, frames, padding="same", use_bias=False)(x)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    return layers.Dropout(CONFIG.dropout)(x)


def build_member(name: str) -> keras.Model:
    """Frames of logits [N, W/2, 11] for lines [N, 28, W, 1]: each frame sees a digit's width and its neighbours'."""
    inputs = keras.Input(shape=contract.LINE_INPUT_SHAPE[1:], name=contract.LINE_INPUT_NAME)
    x = conv_bn(inputs, 24, 3, strides=2, padding="same")  # 14 x W/2: strokes are ~3 px wide
    x = conv_bn(x, 48, 3, padding="same")
    # 7 x W/2: a frame every 2 columns, so a narrow "1" beside a neighbour still gets frames of its own
    x = layers.MaxPooling2D((2, contract.LINE_STRIDE // 2))(x)
    x = conv_bn(x, 64, 3, padding="same")
    x = conv_bn(x, 64, 3, padding="same")  # two more layers: a stroke's features see 19 columns, not 11,
    x = conv_bn(x, 64, 3, padding="same")  # about a digit's width, so a neighbour's stroke is told apart
    x = conv_bn(x, 128, (7, 1))  # 1 x W/2: each frame sees the whole height
    x = layers.Reshape((-1, 128))(x)
    x = layers.Dropout(CONFIG.dropout)(x)
    x = across_frames(x, 96, CONFIG.context_frames)  # context: the neighbouring frames
    # A second look across frames decides between readings the first offers (a 9 or a 0 under a neighbour's stroke).
    x = across_frames(x, 128, CONFIG.context_frames // 2 + 1)
    outputs = layers.Dense(contract.LINE_CLASSES)(x)
    return keras.Model(inputs, outputs, name=name)


def exact_accuracy(model: keras.Model, lines: np.ndarray, targets: np.ndarray) -> float:
    """Share of lines whose greedy reading is exactly their digits."""
    logits = model.predict(lines[..., None], batch_size=256, verbose=0)
    probabilities = tf.nn.softmax(logits).numpy()
    right = 0
    for frames, target in zip(probabilities, targets, strict=True):
        right += [r.digit + 1 for r in line_model.ctc_greedy(frames)] == [t for t in target if t != contract.BLANK]
    return right / len(lines)


def train_member(index: int, images: np.ndarray, labels: np.ndarray) -> tuple[keras.Model, dict]:
    """Compose lines from this member's seed, train, and check it on validation lines."""
    started, seed = time.time(), CONFIG.seed + index
    keras.utils.set_random_seed(seed)
    train_idx, val_idx = mnist.train_validation_indices(len(images))
    counts = f"{CONFIG.lines} lines, {CONFIG.validation_lines} for validation"
    print(f"member {index + 1}/{CONFIG.members}: composing {counts}", flush=True)
    pen = min(CONFIG.pen_digits, len(train_idx))
    drawn, drawn_labels = redraws.redraws(images[train_idx], labels[train_idx], pen, seed)
    pool = np.concatenate([augmented(images[train_idx]), drawn])
    x_train, y_train = make_lines(pool, np.concatenate([labels[train_idx], drawn_labels]), CONFIG.lines, seed)
    x_val, y_val = make_lines(
        images[val_idx] / np.float32(255), labels[val_idx], CONFIG.validation_lines, seed + 10_000
    )
    print(f"composed in {time.time() - started:.0f} s", flush=True)

    model = build_member(f"line_model_{index}")  # names are unique once the members are stacked
    model.compile(optimizer=keras.optimizers.Adam(CONFIG.learning_rate), loss=keras.losses.CTC())
    print(f"line model member: {model.count_params():,} parameters", flush=True)
    history = model.fit(
        batches_by_width(x_train, y_train, shuffle=True),
        epochs=CONFIG.epochs,
        validation_data=batches_by_width(x_val, y_val, shuffle=False),
        callbacks=[
            keras.callbacks.LearningRateScheduler(
                lambda epoch: CONFIG.learning_rate * CONFIG.lr_decay_per_epoch**epoch
            ),
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=CONFIG.epochs, restore_best_weights=True),
        ],
        verbose=2,
    )
    accuracy = exact_accuracy(model, x_val, y_val)
    seconds = time.time() - started
    print(f"validation lines read exactly: {accuracy:.2%}; {seconds / 60:.0f} min", flush=True)
    return model, {
        "seed": seed,
        "validation_exact_accuracy": accuracy,
        "training_seconds": round(seconds, 1),
        "history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
    }


def stack_members(members: list[keras.Model]) -> keras.Model:
    """One model answering every member's frame logits, [N, R, T, 11], under the line contract's names."""
    inputs = keras.Input(shape=contract.LINE_INPUT_SHAPE[1:], name=contract.LINE_INPUT_NAME)
    stacked = [layers.Reshape((1, -1, contract.LINE_CLASSES))(member(inputs)) for member in members]
    outputs = stacked[0] if len(stacked) == 1 else layers.Concatenate(axis=1)(stacked)
    return keras.Model(inputs, outputs, name="line_models")


@reports_missing_data
def main() -> int:
    """Train each member, write them as one model to build/line_model.keras, and a report."""
    images, labels = mnist.load_split("train")
    members, reports = zip(*(train_member(index, images, labels) for index in range(CONFIG.members)), strict=True)
    model = stack_members(list(members))
    report = {
        "config": asdict(CONFIG),
        "parameters": int(model.count_params()),
        "training_seconds": round(sum(r["training_seconds"] for r in reports), 1),
        "members": reports,
    }
    write_outputs(model, report)
    return 0


def write_outputs(model: keras.Model, report: dict) -> None:
    """The stacked members as build/line_model.keras and their report beside it, for `make export`."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    model.save(OUT_DIR / "line_model.keras")
    (OUT_DIR / "line_model_training.json").write_text(json.dumps(report, indent=1))
    print(f"wrote {OUT_DIR / 'line_model.keras'} and {OUT_DIR / 'line_model_training.json'}")


if __name__ == "__main__":
    sys.exit(main())
