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
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from bench import servers
from datasets import mnist, provenance, renders, reports_missing_data
from digits import pipeline, preprocess
from digits.classifier import Classifier
from digits.models import Models
from evaluate import numbers
from evaluate import report as report_doc

ROOT = Path(__file__).resolve().parent.parent
REPORT = Path(os.environ.get("BENCH_REPORT", ROOT / "artifacts" / "bench.json"))
CANVAS_SIDE = 280
BATCH_IMAGES = 64  # canvas PNGs per batch request
READ_NUMBERS = int(os.environ.get("BENCH_READ_NUMBERS", 40))  # numbers per kind timed through /read
LATENCY_SECONDS = int(os.environ.get("BENCH_SECONDS", 10))
# The baseline takes 2-4 s per request at 16 connections: a shorter window can end before one completes.
BASELINE_SATURATED_SECONDS = max(LATENCY_SECONDS, 10)


def canvas_png() -> bytes:
    """A realistic 280x280 canvas export (black pen on transparency) of an MNIST test digit."""
    images, _ = mnist.load_split("test")
    ink = renders.draw_strokes(images[0], (CANVAS_SIDE, CANVAS_SIDE), 190, (140, 140), 18)
    rgba = np.zeros((CANVAS_SIDE, CANVAS_SIDE, 4), dtype=np.uint8)
    rgba[..., 3] = np.round(ink * 255).astype(np.uint8)
    return renders.encode(Image.fromarray(rgba), "PNG")


def paper_photo() -> bytes:
    """An MNIST test digit written on paper and photographed (evaluate's paper-photo kind)."""
    images, _ = mnist.load_split("test")
    return renders.photo(np.random.default_rng(7), images[0])


def batch_form(png: bytes, count: int = BATCH_IMAGES) -> tuple[bytes, str]:
    """A multipart body with the PNG `count` times, as a program sends a batch."""
    boundary = "bench-batch"
    part = f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="d.png"\r\n'
    part = part.encode() + b"Content-Type: image/png\r\n\r\n" + png + b"\r\n"
    return part * count + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def read_latency() -> dict:
    """/read in-process on 4-digit numbers of MNIST test digits, touching, drawn on a canvas and photographed."""
    models = Models.load()
    images, labels = mnist.load_split("test")
    result = {}
    for medium in ("canvas", "photo"):
        kind = f"4 digits, touching, {medium}"
        found = [n.data for n in numbers.make_numbers(images, labels, READ_NUMBERS, numbers.SEED) if n.kind == kind]
        pipeline.read_number(found[0], models)  # warm-up
        samples = []
        for data in found:
            start = time.perf_counter()
            pipeline.read_number(data, models)
            samples.append((time.perf_counter() - start) * 1000)
        result[kind] = {
            "p50_ms": float(np.median(samples)),
            "p95_ms": float(np.percentile(samples, 95)),
            "n": len(found),
        }
    return result


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
def body_files(bodies: dict[str, bytes]) -> Iterator[dict[str, Path]]:
    """Each body in a temporary file, for wrk; checks wrk is there first."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk")
    with tempfile.TemporaryDirectory() as folder:
        paths = {name: Path(folder) / name for name in bodies}
        for name, body in bodies.items():
            paths[name].write_bytes(body)
        yield paths


@contextmanager
def body_file(data: bytes) -> Iterator[Path]:
    """One body in a temporary file, for wrk."""
    with body_files({"body": data}) as paths:
        yield paths["body"]


def wrk(
    url: str, body: Path, connections: int, seconds: int, path: str = "/api/v1/predict", ctype: str = "image/png"
) -> dict:
    """Requests/s and latency percentiles from wrk posting the file to url + path."""
    threads = min(2, connections)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", "bench/post.lua",
         url + path],
        cwd=ROOT, env={**os.environ, "BODY_FILE": str(body), "CONTENT_TYPE": ctype}, capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    stats = json.loads(re.search(r"^JSON (.*)$", out, re.M).group(1))
    stats["requests_per_s"] = stats["requests"] / stats["seconds"]
    stats["errors"] = stats.pop("socket_errors") + stats.pop("non_2xx")
    return stats


def warm_up(url: str, body: Path, path: str = "/api/v1/predict", times: int = 3) -> None:
    """A few requests before measuring: first calls build caches (Keras traces its graph on the first one)."""
    for _ in range(times):
        request = urllib.request.Request(url + path, data=body.read_bytes(), headers={"Content-Type": "image/png"})
        urllib.request.urlopen(request, timeout=60).read()


MEDIA = {"": "canvas", "_paper_photo": "paper photo", "_photo_12mp": "12 MP photo"}  # key suffix: body


def over_http(png: bytes) -> dict:
    """Our service (one image per request, and batches) and the baseline, at 1 connection and at saturation."""
    batch, batch_type = batch_form(png)
    bodies = {"canvas": png, "paper photo": paper_photo(), "12 MP photo": phone_photo_12mp(), "batch": batch}
    with body_files(bodies) as paths:
        result = {}
        service = servers.gunicorn()
        try:
            result["cold_start_s"] = service.ready_after
            warm_up(service.url, paths["canvas"])
            result["service_1_connection"] = wrk(service.url, paths["canvas"], 1, LATENCY_SECONDS)
            for suffix, medium in MEDIA.items():
                result["service_saturated" + suffix] = wrk(service.url, paths[medium], 16, LATENCY_SECONDS)
            batched = wrk(service.url, paths["batch"], 4, LATENCY_SECONDS, "/api/v1/predict/batch", batch_type)
            result["batch_saturated"] = {**batched, "images_per_s": batched["requests_per_s"] * BATCH_IMAGES}
            result["worker_rss_mb"] = [servers.rss_mb(pid) for pid in service.child_pids()]
        finally:
            service.stop()
        ceiling = servers.gunicorn(app="bench.ceiling_app:app")
        try:
            # The same gunicorn with almost no work per request: the most this machine can give.
            warm_up(ceiling.url, paths["canvas"], "/decode-forward")
            result["ceiling_noop"] = wrk(ceiling.url, paths["canvas"], 16, LATENCY_SECONDS, "/noop")
            for suffix, medium in MEDIA.items():
                result["ceiling_decode" + suffix] = wrk(ceiling.url, paths[medium], 16, LATENCY_SECONDS, "/decode")
            for connections, key in [(16, ""), (1, "_1_connection")]:
                forward = wrk(ceiling.url, paths["canvas"], connections, LATENCY_SECONDS, "/decode-forward")
                result["ceiling_decode_forward" + key] = forward
        finally:
            ceiling.stop()
        baseline = servers.flask_baseline()
        try:
            warm_up(baseline.url, paths["canvas"])
            result["baseline_1_connection"] = wrk(baseline.url, paths["canvas"], 1, LATENCY_SECONDS)
            result["baseline_saturated"] = wrk(baseline.url, paths["canvas"], 16, BASELINE_SATURATED_SECONDS)
        finally:
            baseline.stop()
    result["throughput_ratio"] = (
        result["service_saturated"]["requests_per_s"] / result["baseline_saturated"]["requests_per_s"]
    )
    result["service_over_ceiling"] = {
        medium: result["service_saturated" + suffix]["requests_per_s"]
        / result["ceiling_decode" + suffix]["requests_per_s"]
        for suffix, medium in MEDIA.items()
    }
    result["batch_over_single"] = (
        result["batch_saturated"]["images_per_s"] / result["service_saturated"]["requests_per_s"]
    )
    return result


@reports_missing_data
def main() -> int:
    """Run both parts and write the report."""
    png = canvas_png()
    report = {"machine": {"cpus": os.cpu_count()}, "in_process": in_process(png), "read": read_latency()}
    report["http"] = over_http(png)
    report["measured"] = provenance.measured()
    REPORT.write_text(json.dumps(report, indent=1))
    print("\n".join(report_doc.speed_section(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
