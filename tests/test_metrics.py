"""Prometheus metrics and JSON logs: in process, and scraped from real gunicorn with two workers."""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from bench import servers
from tests.conftest import png_bytes


@pytest.fixture(scope="module")
def digit_png(mnist_test) -> tuple[bytes, int]:
    images, labels = mnist_test
    return png_bytes(255 - images[0]), int(labels[0])


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_in_process_counts_follow_the_requests(client, digit_png) -> None:
    data, label = digit_png
    route = {"route": "/api/v1/predict"}
    before = {
        "ok": sample("digits_requests_total", method="POST", status="200", **route),
        "bad": sample("digits_requests_total", method="POST", status="400", **route),
        "invalid": sample("digits_errors_total", code="invalid_image", **route),
        "answer": sample("digits_answers_total", digit=str(label), **route),
        "timed": sample("digits_request_duration_seconds_count", **route),
        "model": sample("digits_stage_duration_seconds_count", stage="model", **route),
    }
    png = {"Content-Type": "image/png"}
    for _ in range(3):
        assert client.simulate_post("/api/v1/predict", body=data, headers=png).status_code == 200
    assert client.simulate_post("/api/v1/predict", body=b"nope", headers=png).status_code == 400
    assert sample("digits_requests_total", method="POST", status="200", **route) - before["ok"] == 3
    assert sample("digits_requests_total", method="POST", status="400", **route) - before["bad"] == 1
    assert sample("digits_errors_total", code="invalid_image", **route) - before["invalid"] == 1
    assert sample("digits_answers_total", digit=str(label), **route) - before["answer"] == 3
    assert sample("digits_request_duration_seconds_count", **route) - before["timed"] == 4
    assert sample("digits_stage_duration_seconds_count", stage="model", **route) - before["model"] == 3
    metrics = client.simulate_get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["Content-Type"].startswith("text/plain")
    health = client.simulate_get("/healthz").json
    assert f'classifier="{health["model"]}"' in metrics.text and "digits_model_info" in metrics.text


def test_routes_are_labelled_by_template_not_path(client) -> None:
    before = sample("digits_requests_total", route="unmatched", method="GET", status="404")
    for path in ("/nope", "/nope/2", "/a/b/c"):
        assert client.simulate_get(path).status_code == 404
    assert sample("digits_requests_total", route="unmatched", method="GET", status="404") - before == 3
    assert sample("digits_errors_total", route="unmatched", code="not_found") >= 3


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    text = requests.get(url + "/metrics", timeout=10).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.mark.slow
def test_gunicorn_sums_workers_and_logs_one_json_line_per_request(tmp_path: Path, digit_png, mnist_test) -> None:
    data, label = digit_png
    images = mnist_test[0]
    number = np.hstack([255 - images[k] for k in range(1, 4)])  # three MNIST digits side by side
    access_log, metrics_dir = tmp_path / "access.jsonl", tmp_path / "metrics"
    server = servers.gunicorn(2, env={"ACCESS_LOG": str(access_log), "METRICS_DIR": str(metrics_dir)})
    try:
        predict, read = server.url + "/api/v1/predict", server.url + "/api/v1/read"
        png = {"Content-Type": "image/png"}

        def post(k: int) -> requests.Response:
            if k % 10 == 9:
                return requests.post(predict, data=b"not an image", headers=png, timeout=30)
            if k % 10 == 8:
                return requests.post(read, data=png_bytes(number), headers=png, timeout=30)
            return requests.post(predict, data=data, headers=png, timeout=30)

        with ThreadPoolExecutor(4) as pool:  # concurrent, so both workers serve
            answers = list(pool.map(post, range(60)))
        statuses = [a.status_code for a in answers]
        assert statuses.count(200) == 54 and statuses.count(400) == 6
        read_digits = sum(len(a.json()["digits"]) for k, a in enumerate(answers) if k % 10 == 8)

        samples = scrape(server.url)
        ok = {"route": "/api/v1/predict", "method": "POST", "status": "200"}
        assert value(samples, "digits_requests_total", **ok) == 48
        assert value(samples, "digits_requests_total", **{**ok, "status": "400"}) == 6
        assert value(samples, "digits_requests_total", **{**ok, "route": "/api/v1/read"}) == 6
        assert value(samples, "digits_errors_total", route="/api/v1/predict", code="invalid_image") == 6
        assert value(samples, "digits_answers_total", route="/api/v1/predict", digit=str(label)) == 48
        answered = sum(v for (name, labels), v in samples.items() if name == "digits_answers_total"
                       and ("route", "/api/v1/read") in labels)  # fmt: skip
        assert answered == read_digits
        for stage in ("decode", "preprocess", "model"):
            count = value(samples, "digits_stage_duration_seconds_count", route="/api/v1/predict", stage=stage)
            assert count == 48, stage
        assert value(samples, "digits_request_duration_seconds_count", route="/api/v1/predict") == 54
        fast = value(samples, "digits_request_duration_seconds_bucket", route="/api/v1/predict", le="0.05")
        assert 0 < fast <= 54  # the 1-50 ms buckets are where /predict lands

        lines = [json.loads(line) for line in access_log.read_text().splitlines()]
        requests_logged = [line for line in lines if line["route"] in ("/api/v1/predict", "/api/v1/read")]
        assert len(requests_logged) == 60
        assert len({line["pid"] for line in requests_logged}) == 2, "both workers served, and the sums add them"
        for line in requests_logged:
            assert {"timestamp", "request_id", "method", "status", "duration_ms", "bytes_in", "bytes_out"} <= set(line)
            assert ("answer" in line) == (line["status"] == 200) and ("error" in line) == (line["status"] == 400)
            assert "input" not in line and len(json.dumps(line)) < 600  # never the image
        predicted = [line for line in requests_logged if line["route"] == "/api/v1/predict" and "answer" in line]
        assert {line["answer"] for line in predicted} == {str(label)}

        # A worker killed: gunicorn replaces it, and what it counted stays in the totals.
        os.kill(server.child_pids()[0], signal.SIGKILL)
        time.sleep(3)
        assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
        assert value(scrape(server.url), "digits_requests_total", **ok) == 48
    finally:
        output = server.stop()
    startup = [json.loads(line) for line in output.splitlines() if '"serving"' in line]
    assert len(startup) == 3  # two workers, then the one that replaced the killed worker
    assert all(line["classifier"] and line["line_model"] and line["settings"]["workers"] == "2" for line in startup)
