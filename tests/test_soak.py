"""Sustained load and a worker killed under load, at CI size (`make soak` runs the full versions)."""

from __future__ import annotations

import pytest

from bench import soak
from bench.run import body_file, canvas_png

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def body():
    with body_file(canvas_png()) as path:
        yield path


def test_saturation_gives_no_errors_and_no_memory_growth(body) -> None:
    result = soak.soak(body, 10)
    assert result["requests"] > 200 and result["errors"] == 0, result
    assert result["rss_growth_mb"] < 10, result


def test_a_worker_killed_under_load_is_replaced_with_few_errors(body) -> None:
    result = soak.fault(body, 9)
    assert result["replaced_after_s"] < 5, result
    assert result["requests"] > 200 and result["errors"] <= 3, result  # the request the worker was serving
