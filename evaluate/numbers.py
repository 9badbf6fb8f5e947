"""Exact-string and per-digit accuracy of reading whole numbers made of MNIST test digits.

`python -m evaluate.numbers`: 4-digit numbers separated and touching, 2-6 digit numbers, on canvas
exports and paper photos; plus single digits through the number reader against the digit reader.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datasets import provenance, renders, reports_missing_data
from digits import artifacts, pipeline, preprocess
from digits.classifier import DEFAULT_MODEL
from digits.models import Models
from evaluate import realistic, report

REPORT = artifacts.ARTIFACTS / "evaluation_numbers.json"
SEED = 4242
PER_KIND = 200  # numbers of each kind in the report


@dataclass(frozen=True)
class Number:
    """An encoded image of a number and its true text."""

    data: bytes
    text: str
    kind: str


def make_numbers(images: np.ndarray, labels: np.ndarray, per_kind: int, seed: int) -> Iterator[Number]:
    """Numbers of every kind, made as they are read: (4 | 2-6 digits) x (separated | touching) x (canvas | photo)."""
    rng = np.random.default_rng(seed)
    for lengths in ("4", "2-6"):
        for spacing in ("separated", "touching"):
            for medium in ("canvas", "photo"):
                for _ in range(per_kind):
                    count = 4 if lengths == "4" else int(rng.integers(2, 7))
                    picks = rng.choice(len(images), size=count, replace=False)
                    data = renders.number(rng, [images[i] for i in picks], spacing == "touching", medium)
                    text = "".join(str(labels[i]) for i in picks)
                    yield Number(data, text, f"{lengths} digits, {spacing}, {medium}")


def read_text(data: bytes, models: Models) -> str:
    """The text /api/v1/read would answer ('' for no digit)."""
    try:
        return pipeline.read_number(data, models).text
    except preprocess.NoDigit:
        return ""


def score(items: Iterable[Number], models: Models) -> dict[str, dict]:
    """Per kind: exact-string accuracy and per-digit accuracy (aligned matches over true digits)."""
    table: dict[str, dict] = {}
    for item in items:
        answer = read_text(item.data, models)
        row = table.setdefault(item.kind, {"numbers": 0, "exact": 0, "digits": 0, "digits_right": 0, "misreads": []})
        row["numbers"] += 1
        row["exact"] += answer == item.text
        if answer != item.text:
            row["misreads"].append(f"{item.text}->{answer or '(none)'}")
        row["digits"] += len(item.text)
        matcher = difflib.SequenceMatcher(a=item.text, b=answer, autojunk=False)
        row["digits_right"] += sum(block.size for block in matcher.get_matching_blocks())
    for row in table.values():
        row["exact_accuracy"] = row["exact"] / row["numbers"]
        row["digit_accuracy"] = row["digits_right"] / row["digits"]
    return table


def single_digits(images: np.ndarray, labels: np.ndarray, count: int, models: Models) -> dict:
    """The same canvas renders of single digits through /predict's path and /read's path."""
    rng = np.random.default_rng(SEED + 1)
    predict_right = read_right = 0
    for i in rng.choice(len(images), size=count, replace=False):
        data = renders.canvas(rng, images[i])
        predicted = pipeline.read_digit(data, models).digit
        predict_right += predicted == labels[i]
        read_right += read_text(data, models) == str(labels[i])
    return {"images": count, "predict_accuracy": predict_right / count, "read_accuracy": read_right / count}


@reports_missing_data
def main() -> int:
    """Run and write artifacts/evaluation_numbers.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-kind", type=int, default=PER_KIND)
    parser.add_argument(
        "--source",
        choices=("test", "validation"),
        default="test",
        help="'validation' builds numbers from the held-out training digits, for tuning segmentation; "
        "it prints the table but does not write the report",
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="an ONNX classifier to compare")
    args = parser.parse_args()
    images, labels = realistic.load_source(args.source)
    models = Models.load(args.model)
    table = score(make_numbers(images, labels, args.per_kind, SEED), models)
    single = single_digits(images, labels, 4 * args.per_kind, models)
    print("\n".join(report.numbers_table(table, single)))
    if args.source == "test" and args.model.resolve() == DEFAULT_MODEL.resolve():  # only what ships
        result = {"source": "MNIST test", "kinds": table, "single_digits": single, "measured": provenance.measured()}
        REPORT.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
