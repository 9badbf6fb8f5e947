"""Accuracy of the whole service path (preprocess + ONNX model) on user-like renders.

`python -m evaluate.realistic` renders MNIST *test* digits (never trained or selected on) and reports
per-kind accuracy; `--source validation` renders the held-out validation digits for development.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from datasets import mnist, provenance, renders, reports_missing_data
from digits import pipeline, preprocess
from digits.classifier import DEFAULT_MODEL, Classifier
from evaluate import report

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "artifacts" / "evaluation.json"
SEEDS = {"test": 2026, "validation": 7}  # different renders for development and for the report


def load_source(source: str) -> tuple[np.ndarray, np.ndarray]:
    """MNIST test digits, or the validation digits held out of training."""
    if source == "test":
        return mnist.load_split("test")
    images, labels = mnist.load_split("train")
    _, validation = mnist.train_validation_indices(len(images))
    return images[validation], labels[validation]


def read(render: renders.Render, classifier: Classifier) -> int | None:
    """The digit the service would answer, or None where it answers 422 no_digit."""
    try:
        _, probabilities = pipeline.classify(preprocess.decode(render.data), classifier)
    except preprocess.NoDigit:
        return None
    return int(probabilities.argmax())


def score(items: list[renders.Render], classifier: Classifier) -> dict[str, dict]:
    """Counts per kind: digits read right, digits rejected as blank, blanks rejected."""
    table: dict[str, dict] = {}
    for item in items:
        row = table.setdefault(item.kind, {"digits": 0, "correct": 0, "rejected": 0, "blanks": 0, "blanks_rejected": 0})
        answer = read(item, classifier)
        if item.label is None:
            row["blanks"] += 1
            row["blanks_rejected"] += answer is None
        else:
            row["digits"] += 1
            row["correct"] += answer == item.label
            row["rejected"] += answer is None
    return table


def with_rates(table: dict[str, dict]) -> dict[str, dict]:
    """Add accuracy and rejection rates to the counts."""
    for row in table.values():
        row["accuracy"] = row["correct"] / row["digits"]
        row["rejected_rate"] = row["rejected"] / row["digits"]
        row["blanks_rejected_rate"] = row["blanks_rejected"] / row["blanks"]
    return table


def _score_shard(args: tuple[str, int, int, int, str]) -> dict[str, dict]:
    """Render and score one worker's share: every `shards`-th digit, from its own seed."""
    source, shard, shards, per_kind, model_path = args
    images, labels = load_source(source)
    count = per_kind // shards + (shard < per_kind % shards)
    items = renders.renders(images[shard::shards], labels[shard::shards], count, SEEDS[source] + shard)
    return score(items, Classifier(Path(model_path)))


def evaluate(source: str, per_kind: int, workers: int = 2, model: Path = DEFAULT_MODEL) -> dict[str, dict]:
    """Render and score in worker processes, each on its own digits; rows merged per kind."""
    shards = [(source, k, workers, per_kind, str(model)) for k in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(_score_shard, shards))
    merged: dict[str, dict] = {}
    for part in parts:
        for kind, row in part.items():
            total = merged.setdefault(kind, dict.fromkeys(row, 0))
            for key, count in row.items():
                total[key] += count
    return with_rates(merged)


@reports_missing_data
def main() -> int:
    """Run the evaluation and write artifacts/evaluation.json (test source only)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", choices=sorted(SEEDS), default="test")
    parser.add_argument("--per-kind", type=int, help="digits per kind; by default every digit of the source once")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="an ONNX model to compare (not reported)")
    args = parser.parse_args()
    started = time.time()
    per_kind = args.per_kind or len(load_source(args.source)[1])
    table = evaluate(args.source, per_kind, model=args.model)
    source = f"MNIST {args.source}"
    result = {"source": source, "per_kind": per_kind, "kinds": table, "measured": provenance.measured()}
    print("\n".join(report.realistic_table(table)))
    print(f"({time.time() - started:.0f} s)")
    if args.source == "test" and args.model.resolve() == DEFAULT_MODEL.resolve():  # only the shipped model is reported
        REPORT.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
