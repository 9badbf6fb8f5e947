"""`make bench`: stage latencies in-process, then HTTP load with wrk against gunicorn and the baseline.

Every figure is paired with a baseline measured in the same run on the same machine, so the ratios
hold when the absolute numbers drift. Writes artifacts/bench.json and prints a markdown table.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from bench import servers
from datasets import mnist, provenance, renders, reports_missing_data
from digits import preprocess
from digits.classifier import Classifier
from evaluate import report as report_doc

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "artifacts" / "bench.json"
CANVAS_SIDE = 280
LATENCY_SECONDS = int(os.environ.get("BENCH_SECONDS", 10))


def canvas_png() -> bytes:
    """A realistic 280x280 canvas export (black pen on transparency) of an MNIST test digit."""
    images, _ = mnist.load_split("test")
    ink = renders.draw_strokes(images[0], (CANVAS_SIDE, CANVAS_SIDE), 190, (140, 140), 18)
    rgba = np.zeros((CANVAS_SIDE, CANVAS_SIDE, 4), dtype=np.uint8)
    rgba[..., 3] = np.round(ink * 255).astype(np.uint8)
    return renders.encode(Image.fromarray(rgba), "PNG")


def phone_photo_12mp() -> bytes:
    """An MNIST test digit written on paper and photographed at 4000x3000, as a phone takes it."""
    images, _ = mnist.load_split("test")
    coverage = renders.draw_strokes(images[0], (4000, 3000), 1800, (2000, 1500), 110)
    return renders.photograph(np.random.default_rng(12), coverage)


def timed(fn, repeats: int) -> dict:
    """Median and p99 wall time of fn() in milliseconds, after a warm-up."""
    for _ in range(min(20, repeats)):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return {"p50_ms": float(np.median(samples)), "p99_ms": float(np.percentile(samples, 99)), "n": repeats}


def in_process(png: bytes) -> dict:
    """Preprocessing, onnxruntime at batch 1 and batched, and Keras model.predict, on the same image."""
    classifier = Classifier()
    image28 = preprocess.preprocess(png)
    x1 = image28[None, ..., None]
    batch = np.repeat(x1, 256, axis=0)
    result = {
        "preprocess": timed(lambda: preprocess.preprocess(png), 500),
        "onnxruntime_batch1": timed(lambda: classifier.predict(x1), 2000),
    }
    # A 12-megapixel phone photo: the whole preprocessing, against decoding the file at full size alone
    # (what the first step cost before big JPEGs were decoded small).
    photo = phone_photo_12mp()
    result["preprocess_12mp_photo"] = timed(lambda: preprocess.preprocess(photo), 50)
    result["full_decode_12mp_photo"] = timed(lambda: Image.open(io.BytesIO(photo)).load(), 50)
    batched = timed(lambda: classifier.predict(batch), 30)
    result["onnxruntime_batch256"] = {**batched, "images_per_s": 256 / (batched["p50_ms"] / 1000)}

    from bench.baseline_flask import keras_model  # only the baseline needs TensorFlow

    model, result["keras_model"] = keras_model()
    result["keras_predict_batch1"] = timed(lambda: model.predict(x1, verbose=0), 100)
    result["ratio_keras_over_onnxruntime"] = (
        result["keras_predict_batch1"]["p50_ms"] / result["onnxruntime_batch1"]["p50_ms"]
    )
    return result


@contextmanager
def body_file(png: bytes) -> Iterator[Path]:
    """The PNG in a temporary file, for wrk; checks wrk is there first."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk")
    with tempfile.NamedTemporaryFile(suffix=".png") as body:
        body.write(png)
        body.flush()
        yield Path(body.name)


def wrk(url: str, body: Path, connections: int, seconds: int, path: str = "/api/v1/predict") -> dict:
    """Requests/s and latency percentiles from wrk posting the file to url + path."""
    threads = min(2, connections)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", "bench/post.lua",
         url + path],
        cwd=ROOT, env={**os.environ, "BODY_FILE": str(body)}, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    stats = json.loads(re.search(r"^JSON (.*)$", out, re.M).group(1))
    stats["requests_per_s"] = stats["requests"] / stats["seconds"]
    stats["errors"] = stats.pop("socket_errors") + stats.pop("non_2xx")
    return stats


def over_http(png: bytes) -> dict:
    """Our service and the baseline, each at 1 connection and at saturation."""
    with body_file(png) as path:
        result = {}
        service = servers.gunicorn()
        try:
            result["cold_start_s"] = service.ready_after
            result["service_1_connection"] = wrk(service.url, path, 1, LATENCY_SECONDS)
            result["service_saturated"] = wrk(service.url, path, 16, LATENCY_SECONDS)
            result["worker_rss_mb"] = [servers.rss_mb(pid) for pid in service.child_pids()]
        finally:
            service.stop()
        ceiling = servers.gunicorn(app="bench.ceiling_app:app")
        try:
            # The same gunicorn with almost no work per request: the most this machine can give.
            for route, connections in [("noop", 16), ("decode", 16), ("decode-forward", 16), ("decode-forward", 1)]:
                key = "ceiling_" + route.replace("-", "_") + ("_1_connection" if connections == 1 else "")
                result[key] = wrk(ceiling.url, path, connections, LATENCY_SECONDS, "/" + route)
        finally:
            ceiling.stop()
        baseline = servers.flask_baseline()
        try:
            result["baseline_1_connection"] = wrk(baseline.url, path, 1, LATENCY_SECONDS)
            result["baseline_saturated"] = wrk(baseline.url, path, 16, LATENCY_SECONDS)
        finally:
            baseline.stop()
    result["throughput_ratio"] = (
        result["service_saturated"]["requests_per_s"] / result["baseline_saturated"]["requests_per_s"]
    )
    return result


@reports_missing_data
def main() -> int:
    """Run both parts and write the report."""
    png = canvas_png()
    report = {"machine": {"cpus": os.cpu_count()}, "in_process": in_process(png), "http": over_http(png)}
    report["measured"] = provenance.measured()
    REPORT.write_text(json.dumps(report, indent=1))
    print("\n".join(report_doc.speed_section(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
