"""The benchmark: its ceiling app's minimal routes must work (or the ceiling means nothing), and `make bench` runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import falcon.testing
import pytest

from bench.ceiling_app import create_ceiling_app
from datasets import renders
from tests.conftest import run_stage


def test_the_ceiling_routes_read_the_body_and_answer(mnist_test) -> None:
    images, _ = mnist_test
    png = renders.canvas_export(renders.draw_strokes(images[0], (280, 280), 190, (140, 140), 18))
    client = falcon.testing.TestClient(create_ceiling_app())
    assert client.simulate_post("/noop", body=png).json == {"digit": 0}
    assert client.simulate_post("/decode", body=png).status_code == 200
    answer = client.simulate_post("/decode-forward", body=png, headers={"Content-Type": "image/png"})
    assert answer.status_code == 200 and answer.json["digit"] in range(10)


@pytest.mark.slow
def test_make_bench_runs_without_a_trained_keras_model(mnist_dir: Path, tmp_path: Path) -> None:
    """`make bench` on a fresh clone, at three seconds per load run: every row measured, no request failed."""
    report = tmp_path / "bench.json"
    env = {**os.environ, "MNIST_DIR": str(mnist_dir), "BENCH_SECONDS": "3", "BENCH_READ_NUMBERS": "3",
           "BENCH_REPORT": str(report), "KERAS_MODEL": str(tmp_path / "no-such-model.keras")}  # fmt: skip
    run = run_stage("bench.run", env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    bench = json.loads(report.read_text())
    assert bench["in_process"]["keras_model"] == "the training architecture, random weights"
    http = bench["http"]
    for key in ("service_saturated", "service_saturated_paper_photo", "service_saturated_photo_12mp",
                "batch_saturated", "ceiling_decode_photo_12mp", "baseline_saturated"):  # fmt: skip
        assert http[key]["requests"] > 0 and http[key]["errors"] == 0, (key, http[key])
    assert set(http["service_over_ceiling"]) == {"canvas", "paper photo", "12 MP photo"}
    assert http["batch_over_single"] > 0 and all(r["n"] == 3 for r in bench["read"].values())
