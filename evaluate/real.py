"""Accuracy on real handwriting: UNIPEN pen digits of held-out sites, through /api/v1/predict's path.

Each site's digits as canvas exports, paper photos and low-resolution scans, and stretched to fill a
16 px box; then style sets: every digit of a style's kind on those sites, written in that style
(datasets.unipen.STYLES: a slashed zero, a flagged or footed one, an open four, a crossed seven, a
hooked nine), or as written where its writer already used the style (real slashed zeros and flagged
ones). `python -m evaluate.real` reads the test sites once, writes artifacts/evaluation_real.json and
puts the accuracies on the classifier's model card; `--source validation` reads the validation sites,
for every choice made in development.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from datasets import provenance, reports_missing_data, unipen
from digits import artifacts, pipeline, preprocess
from digits.classifier import DEFAULT_MODEL, Classifier
from digits.line_model import LineModel
from digits.models import Models
from evaluate import report

REPORT = artifacts.ARTIFACTS / "evaluation_real.json"
SITES = {"test": unipen.TEST_SITES, "validation": unipen.VALIDATION_SITES}
SEEDS = {"test": 31, "validation": 17}
STRETCHED = "stretched to a 16 px box"  # binarised into a box it fills, as some forms store digits
CONFIDENT = 0.9  # a wrong answer at least this sure is one a low-confidence warning would not catch


def score(samples: list[unipen.Sample], models: Models, seed: int) -> dict[str, dict]:
    """Per site and medium, then per style (canvas): digits, right answers, confidently wrong ones, confusions."""
    rng = np.random.default_rng(seed)
    table: dict[str, dict] = {}
    for sample in samples:
        for medium, render in unipen.MEDIA.items():
            _tally(table, f"{sample.site}, {medium}", sample.label, render(rng, sample), models)
    boxed = np.random.default_rng(seed + 1)  # its own draws: the rows above and below stay as they were
    for sample in samples:
        _tally(table, f"{sample.site}, {STRETCHED}", sample.label, unipen.stretched_box(boxed, sample), models)
    for style, (digit, _) in unipen.STYLES.items():  # every digit of the style's kind, written in that style
        for sample in (s for s in samples if s.label == digit):
            _tally(
                table, f"style: {style}, canvas", digit, unipen.canvas(rng, unipen.in_style(sample, style, rng)), models
            )
    for row in table.values():
        row["accuracy"] = row["correct"] / row["digits"]
        row["confusions"] = dict(row["confusions"].most_common())
    return table


def _tally(table: dict[str, dict], kind: str, label: str, data: bytes, models: Models) -> None:
    """Read one image and count it in its row."""
    row = table.setdefault(kind, {"digits": 0, "correct": 0, "confident_wrong": 0, "confusions": Counter()})
    try:
        reading = pipeline.read_digit(data, models)
        answer, confidence = str(reading.digit), reading.confidence
    except preprocess.NoDigit:
        answer, confidence = "none", 0.0
    row["digits"] += 1
    row["correct"] += answer == label
    row["confident_wrong"] += answer != label and confidence >= CONFIDENT
    if answer != label:
        row["confusions"][f"{label}->{answer}"] += 1


@reports_missing_data
def main() -> int:
    """Score the shipped models (or --model) on the validation or test sites."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", choices=sorted(SITES), default="test")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="an ONNX classifier to compare")
    args = parser.parse_args()
    samples = unipen.load("digits", SITES[args.source])
    table = score(samples, Models(Classifier(args.model), LineModel()), SEEDS[args.source])
    print("\n".join(report.real_table(table)))
    if args.source == "test" and args.model.resolve() == DEFAULT_MODEL.resolve():
        result = {"source": "UNIPEN test sites", "sites": list(SITES["test"]), "kinds": table}
        result["measured"] = provenance.measured()
        REPORT.write_text(json.dumps(result, indent=1))
        add_to_card(artifacts.CLASSIFIER_CARD, result)
    return 0


def add_to_card(card_path: Path, result: dict) -> None:
    """Put the real-handwriting accuracy per kind on the model card, with where and when it was measured."""
    card = json.loads(card_path.read_text())
    card["real_handwriting"] = {
        "source": result["source"],
        "measured": result["measured"],
        "accuracy": {kind: {"digits": r["digits"], "accuracy": r["accuracy"]} for kind, r in result["kinds"].items()},
    }
    card_path.write_text(json.dumps(card, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
