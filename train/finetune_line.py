"""Fine-tune the shipped CTC line model on lines of real pen digits, written as amounts too, MNIST rehearsed.

Starts from the float ONNX line model that ships (LINE_FROM, by default artifacts/line_model.onnx), its
members rebuilt in the training architecture (train.rebuild). The lines are composed as `make
train-line-model` composes them, from a pool that adds renders of the UNIPEN training sites' digits (their
styles included) to MNIST and the pen redraws; a share of them written as amounts, with separators and
trailing marks the model must read as nothing; and numbers written stroke by stroke from those sites'
digits, as a writer varies them. Each member is fine-tuned once per learning rate from the same start,
the runs' weights averaged (a uniform model soup) and mixed with the start's (WiSE-FT). Writes
build/line_model.keras and its report, as train.line_model does, so `make export` takes it from there.
Knobs: LINE_FROM, LINE_FT_EPOCHS, LINE_FT_LEARNING_RATES (comma-separated), LINE_FT_LINES, LINE_FT_MARKS,
LINE_FT_WRITTEN, LINE_FT_MIX, LINE_FT_SITES, UNIPEN, LINE_MEMBERS (the first N members only, for tests),
VALIDATION_LINES, OUT_DIR.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras

from datasets import mnist, redraws, reports_missing_data, unipen
from digits import artifacts, contract
from digits.line_model import LineModel
from train import line_model as base
from train import rebuild
from train.line_model import CONFIG


@dataclass(frozen=True)
class LineFineTuneConfig:
    """The settings a line-model fine-tuning adds to train.line_model's; the card records both."""

    start: str = str(artifacts.LINE_MODEL)  # the float model, not its INT8 quantisation
    epochs: int = 2
    # About where the original training ended (2e-3 decayed): move, don't relearn. One run per rate, averaged:
    # on validation the faster run read more real pen numbers, the slower kept MNIST's, their soup did both.
    learning_rates: tuple[float, ...] = (5e-4, 2.5e-4)
    lr_decay_per_epoch: float = 0.5
    lines: int = 30_000
    real_digits: int = 20_000  # renders of the training sites' digits in the pool, with their styles
    marks: float = 0.4  # a line's chance of separators, and again of a trailing mark
    written: int = 15_000  # more lines: numbers written stroke by stroke from the training sites' digits
    # The fine-tuned weights' share against the start's (WiSE-FT): on validation 0.7 kept the start's touching
    # MNIST 1s, which the fully tuned model dropped after round digits, and most of its gain on real pen.
    mix: float = 0.7
    sites: tuple[str, ...] = unipen.TRAIN_SITES  # LINE_FT_SITES=...,gmd,tos: a last refit on the validation sites too

    @classmethod
    def from_env(cls) -> LineFineTuneConfig:
        """The defaults, overridden by LINE_FROM, LINE_FT_EPOCHS, LINE_FT_LEARNING_RATES, LINE_FT_LINES,
        LINE_FT_MARKS, LINE_FT_WRITTEN, LINE_FT_MIX, LINE_FT_SITES (comma-separated) and UNIPEN."""
        knobs = {"start": ("LINE_FROM", str), "epochs": ("LINE_FT_EPOCHS", int), "lines": ("LINE_FT_LINES", int),
                 "learning_rates": ("LINE_FT_LEARNING_RATES", _rates), "marks": ("LINE_FT_MARKS", float),
                 "real_digits": ("UNIPEN", int), "written": ("LINE_FT_WRITTEN", int),
                 "mix": ("LINE_FT_MIX", float), "sites": ("LINE_FT_SITES", _sites)}  # fmt: skip
        return cls(**{name: kind(os.environ[var]) for name, (var, kind) in knobs.items() if var in os.environ})


def _sites(text: str) -> tuple[str, ...]:
    """Sites written as "syn,apb,imp,gmd,tos"."""
    return tuple(text.split(","))


def _rates(text: str) -> tuple[float, ...]:
    """Learning rates written as "5e-4,2.5e-4"."""
    return tuple(float(rate) for rate in text.split(","))


FINE_TUNE = LineFineTuneConfig.from_env()


def check_parity(members: list[keras.Model], start: Path, lines: np.ndarray) -> float:
    """The rebuilt members read as the ONNX file they came from (max |dp| of their frames), or ValueError."""
    stacked = base.stack_members(members)
    frames = keras.ops.softmax(stacked.predict(lines[..., None], batch_size=250, verbose=0)).numpy()
    diff = float(np.abs(frames - LineModel(start).frames(lines)).max())
    if diff > contract.MAX_PROBABILITY_DIFF:
        raise ValueError(f"the members rebuilt from {start} differ from it: max |dp| = {diff:.2e}")
    return diff


def pool(images: np.ndarray, labels: np.ndarray, samples: list[unipen.Sample]) -> tuple[np.ndarray, np.ndarray]:
    """The digits lines are composed from: MNIST's training split augmented, pen redraws, UNIPEN renders."""
    drawn, drawn_labels = redraws.redraws(images, labels, min(CONFIG.pen_digits, len(images)), CONFIG.seed)
    real, real_labels = unipen.training_digits(samples, FINE_TUNE.real_digits, CONFIG.seed)
    digits = np.concatenate([base.augmented(images), drawn, real])
    return digits, np.concatenate([labels, drawn_labels, real_labels])


def written(samples: list[unipen.Sample]) -> tuple[np.ndarray, np.ndarray]:
    """FINE_TUNE.written numbers written from the samples' strokes, as padded lines and their targets."""
    lines, texts = unipen.written_lines(samples, FINE_TUNE.written, CONFIG.seed + 20_000)
    fits = [k for k, line in enumerate(lines) if line.shape[1] <= CONFIG.line_width]
    return base.padded([lines[k] for k in fits], [[int(c) for c in texts[k]] for k in fits])


def fine_tune_member(model: keras.Model, index: int, train, val) -> list[dict]:
    """FINE_TUNE's epochs at each of its halving rates from the same start, the runs averaged and mixed with the
    start by FINE_TUNE.mix; their histories."""
    start, runs, histories = model.get_weights(), [], []
    for rate in FINE_TUNE.learning_rates:
        print(f"\nFine-tuning line model member {index + 1} from {rate:g}", flush=True)
        model.set_weights(start)
        seed = CONFIG.seed + 100 + index  # each rate's run sees the same batches
        histories.append(rebuild.fine_tune(model, train, val, FINE_TUNE, keras.losses.CTC(), rate, seed))
        runs.append(model.get_weights())
    soup = [np.mean(weights, axis=0) for weights in zip(*runs, strict=True)]
    model.set_weights([(1 - FINE_TUNE.mix) * a + FINE_TUNE.mix * b for a, b in zip(start, soup, strict=True)])
    return histories


@reports_missing_data
def main() -> int:
    """Fine-tune every member of LINE_FROM, check each on validation lines, write them as one model and a report."""
    started = time.time()
    start = Path(FINE_TUNE.start)
    if why := unipen.refusal(FINE_TUNE.sites):
        print(f"fine-tuning refused: {why}", file=sys.stderr)
        return 2
    samples = unipen.load("digits", FINE_TUNE.sites)  # fails early if missing
    images, labels = mnist.load_split("train")
    train_idx, val_idx = mnist.train_validation_indices(len(images))
    x_val, y_val = base.make_lines(images[val_idx] / np.float32(255), labels[val_idx], CONFIG.validation_lines,
                                   CONFIG.seed + 10_000)  # fmt: skip
    members = rebuild.rebuilt_members(start, base.build_member)
    try:
        parity = check_parity(members, start, x_val[:500])
    except ValueError as exc:
        print(f"fine-tuning refused: {exc}", file=sys.stderr)
        return 1
    members = members[: CONFIG.members]
    before = [base.exact_accuracy(m, x_val, y_val) for m in members]

    digits, digit_labels = pool(images[train_idx], labels[train_idx], samples)
    x_train, y_train = base.make_lines(digits, digit_labels, FINE_TUNE.lines, CONFIG.seed, FINE_TUNE.marks)
    x_written, y_written = written(samples)
    x_train, y_train = np.concatenate([x_train, x_written]), np.concatenate([y_train, y_written])
    print(f"{len(x_train)} lines composed in {time.time() - started:.0f} s", flush=True)
    train = base.batches_by_width(x_train, y_train, shuffle=True)
    val = base.batches_by_width(x_val, y_val, shuffle=False)
    reports = []
    for index, member in enumerate(members):
        history = fine_tune_member(member, index, train, val)
        accuracy = base.exact_accuracy(member, x_val, y_val)
        print(f"validation lines read exactly: {before[index]:.2%} -> {accuracy:.2%}", flush=True)
        reports.append({"seed": CONFIG.seed + 100 + index, "validation_exact_accuracy": accuracy, "histories": history})

    lineage = {**asdict(FINE_TUNE), "from_version": LineModel(start).version, "rebuilt_max_abs_diff": parity,
               "validation_exact_accuracy_before": before}  # fmt: skip
    if start.resolve().is_relative_to(base.ROOT):  # the card names the repository's file, not this machine's path
        lineage["start"] = str(start.resolve().relative_to(base.ROOT))
    model = base.stack_members(members)
    report = {
        "config": {**asdict(CONFIG), "members": len(members)},
        "fine_tuned": lineage,
        "parameters": int(model.count_params()),
        "training_seconds": round(time.time() - started, 1),
        "members": reports,
    }
    base.write_outputs(model, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
