"""Accuracy on real handwriting: UNIPEN pen digits of held-out sites, through /api/v1/predict's path.

`python -m evaluate.real` reads the test sites once and writes artifacts/evaluation_real.json;
`--source validation` reads the validation sites, for every choice made in development.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from datasets import provenance, unipen
from digits import artifacts, pipeline, preprocess
from digits.classifier import Classifier
from digits.line_model import LineModel
from digits.models import Models
from evaluate import report

REPORT = artifacts.ARTIFACTS / "evaluation_real.json"
SITES = {"test": unipen.TEST_SITES, "validation": unipen.VALIDATION_SITES}
SEEDS = {"test": 31, "validation": 17}
CONFIDENT = 0.9  # a wrong answer at least this sure is one a low-confidence warning would not catch


def score(samples: list[unipen.Sample], models: Models, seed: int) -> dict[str, dict]:
    """Per site and medium: digits, right answers, confidently wrong ones and the confusions (true -> read)."""
    rng = np.random.default_rng(seed)
    table: dict[str, dict] = {}
    for sample in samples:
        for medium, render in unipen.MEDIA.items():
            row = table.setdefault(f"{sample.site}, {medium}", {"digits": 0, "correct": 0, "confident_wrong": 0})
            confusions = row.setdefault("confusions", Counter())
            try:
                reading = pipeline.read_digit(render(rng, sample), models)
                answer, confidence = str(reading.digit), reading.confidence
            except preprocess.NoDigit:
                answer, confidence = "none", 0.0
            row["digits"] += 1
            row["correct"] += answer == sample.label
            row["confident_wrong"] += answer != sample.label and confidence >= CONFIDENT
            if answer != sample.label:
                confusions[f"{sample.label}->{answer}"] += 1
    for row in table.values():
        row["accuracy"] = row["correct"] / row["digits"]
        row["confusions"] = dict(row["confusions"].most_common())
    return table


def main() -> int:
    """Score the shipped models (or --model) on the validation or test sites."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", choices=sorted(SITES), default="test")
    parser.add_argument("--model", type=Path, default=artifacts.CLASSIFIER, help="an ONNX classifier to compare")
    args = parser.parse_args()
    try:
        samples = unipen.load("digits", SITES[args.source])
    except unipen.UnipenError as exc:
        print(exc, file=sys.stderr)
        return 1
    table = score(samples, Models(Classifier(args.model), LineModel()), SEEDS[args.source])
    print("\n".join(report.real_table(table)))
    if args.source == "test" and args.model.resolve() == artifacts.CLASSIFIER.resolve():
        result = {"source": "UNIPEN test sites", "sites": list(SITES["test"]), "kinds": table}
        REPORT.write_text(json.dumps({**result, "measured": provenance.measured()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
