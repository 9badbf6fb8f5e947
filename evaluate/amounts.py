"""Exact-string accuracy and time of /api/v1/read on amounts written on forms and cheques.

The amounts (datasets/amounts.py, an evaluation-only generator) are written with real pen digits of
held-out UNIPEN sites, with separators and trailing marks, on textured paper, scanned grey at 40-60 px
of digit height. `python -m evaluate.amounts` uses the test sites' digits once and writes
artifacts/evaluation_amounts.json; `--source validation` uses the validation sites', for every choice.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from datasets import amounts, provenance, reports_missing_data, unipen
from digits import artifacts
from digits.models import Models
from evaluate import report
from evaluate.numbers import Number, score

REPORT = artifacts.ARTIFACTS / "evaluation_amounts.json"
SITES = {"test": unipen.TEST_SITES, "validation": unipen.VALIDATION_SITES}
SEEDS = {"test": 53, "validation": 29}
COUNT = 400  # amounts per run


@reports_missing_data
def main() -> int:
    """Score the shipped models on amounts written with the validation or test sites' digits."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", choices=sorted(SITES), default="test")
    parser.add_argument("--count", type=int, default=COUNT)
    args = parser.parse_args()
    written = amounts.amounts(unipen.load("digits", SITES[args.source]), args.count, SEEDS[args.source])
    models, seconds = Models.load(), []

    def timed() -> list[Number]:
        for item in written:
            start = time.perf_counter()
            yield Number(item.data, item.text, item.kind)
            seconds.append(time.perf_counter() - start)

    table = score(timed(), models)
    result = {"source": f"UNIPEN {args.source} sites' digits", "sites": list(SITES[args.source]), "kinds": table}
    result["median_ms"] = float(np.median(seconds) * 1000)
    print("\n".join(report.amounts_table(result)))
    if args.source == "test":
        REPORT.write_text(json.dumps({**result, "measured": provenance.measured()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
