"""Exact-string accuracy of /api/v1/read on real pen-written numbers: UNIPEN number sites, held out by site.

Each number (2-7 digits) drawn as the page's canvas exports it and written on paper and photographed
(datasets/unipen.py). `python -m evaluate.real_numbers` reads the test sites once and writes
artifacts/evaluation_real_numbers.json; `--source validation` reads the validation sites, for every
choice made in development.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator

import numpy as np

from datasets import provenance, reports_missing_data, unipen
from digits import artifacts
from digits.models import Models
from evaluate import report
from evaluate.numbers import Number, score

REPORT = artifacts.ARTIFACTS / "evaluation_real_numbers.json"
SITES = {"test": unipen.NUMBER_TEST_SITES, "validation": unipen.NUMBER_VALIDATION_SITES}
SEEDS = {"test": 37, "validation": 19}
MEDIA = ("canvas", "photo")  # a number's digits at 16-32 px in a low-res scan are under a digit's legibility


def numbers(samples: list[unipen.Sample], seed: int) -> Iterator[Number]:
    """Every sample in every medium, labelled by site and medium."""
    rng = np.random.default_rng(seed)
    for sample in samples:
        for medium in MEDIA:
            yield Number(unipen.MEDIA[medium](rng, sample), sample.label, f"{sample.site}, {medium}")


@reports_missing_data
def main() -> int:
    """Score the shipped models on the validation or test number sites."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", choices=sorted(SITES), default="test")
    args = parser.parse_args()
    samples = unipen.load("numbers", SITES[args.source])
    table = score(numbers(samples, SEEDS[args.source]), Models.load())
    print("\n".join(report.real_numbers_table(table)))
    if args.source == "test":
        result = {"source": "UNIPEN number test sites", "sites": list(SITES["test"]), "kinds": table}
        REPORT.write_text(json.dumps({**result, "measured": provenance.measured()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
