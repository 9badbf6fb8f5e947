"""The realistic-input evaluation at a small size, with the service issue's bars asserted."""

from __future__ import annotations

import pytest

from datasets import renders
from digits.classifier import Classifier
from evaluate import realistic, report

PER_KIND = 60  # ~500 renders: about a minute; `make evaluate` renders every test digit as each kind


@pytest.mark.slow
def test_user_like_renders_of_mnist_test_digits(mnist_dir) -> None:
    images, labels = realistic.load_source("test")
    items = renders.renders(images, labels, PER_KIND, seed=99)  # not the report's seed
    table = realistic.with_rates(realistic.score(items, Classifier()))
    print("\n" + "\n".join(report.realistic_table(table)))
    for kind in renders.HANDWRITTEN:
        assert table[kind]["accuracy"] >= 0.95, (kind, table[kind])  # 60 per kind are noisy; 99% is for all 10,000
    assert all(row["blanks_rejected_rate"] == 1.0 for row in table.values()), "every blank answers 422"
    rejected = sum(table[k]["rejected"] for k in renders.HANDWRITTEN)
    assert rejected <= 1, f"{rejected} real digits rejected as blank"
    assert table["printed"]["accuracy"] >= 0.9


@pytest.mark.slow
def test_the_evaluation_splits_each_kinds_count_between_its_workers(mnist_dir) -> None:
    table = realistic.evaluate("validation", per_kind=5, workers=2)
    assert set(table) == {*renders.HANDWRITTEN, "printed"}
    assert all(row["digits"] == 5 for row in table.values()), table  # 3 from one worker, 2 from the other
    assert all(row["blanks"] == 20 for row in table.values()), table  # each worker renders its own 10
