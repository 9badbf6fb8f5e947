"""Property-based fuzzing of decode, preprocess and number reading: only the documented errors ever escape."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from digits import pipeline, preprocess
from digits.models import Models

ROOT = Path(__file__).resolve().parent.parent
SEED_IMAGES = []
for fmt in ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"):
    canvas = Image.new("L", (64, 64), 255)
    canvas.paste(0, (20, 10, 30, 54))  # a "1"
    buffer = io.BytesIO()
    canvas.convert("RGB" if fmt == "JPEG" else "L").save(buffer, format=fmt)
    SEED_IMAGES.append(buffer.getvalue())
MODELS = Models.load()


def outcome(data: bytes) -> str:
    """Run preprocess; anything but a valid image or a PreprocessError fails the test."""
    try:
        image28 = preprocess.preprocess(data, preprocess.Limits(max_pixels=4_000_000))
    except preprocess.PreprocessError as exc:
        assert exc.code in {"invalid_image", "too_large", "no_digit"}
        return exc.code
    assert image28.shape == (28, 28) and np.isfinite(image28).all()
    assert image28.min() >= 0.0 and image28.max() <= 1.0
    return "ok"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    outcome(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SEED_IMAGES),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8),
    st.integers(0, 10**6),
)
def test_mutated_images(seed: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(seed)
    for position, value in flips:
        data[position % len(data)] = value
    outcome(bytes(data[: max(1, len(data) - cut % len(data))]))


WIDE_MODES = {"I;16": 2, "I;16B": 2, "I": 4, "F": 4}  # bytes per pixel; random bytes make NaN and inf floats
MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", *WIDE_MODES]


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 300), st.integers(1, 300), st.sampled_from(MODES))
def test_any_size_and_mode_of_noise(width: int, height: int, mode: str) -> None:
    rng = np.random.default_rng(width * 1000 + height)
    if mode in WIDE_MODES:
        image = Image.frombytes(mode, (width, height), rng.bytes(width * height * WIDE_MODES[mode]))
    else:
        image = Image.fromarray(rng.integers(0, 256, (height, width), dtype=np.uint8)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="TIFF" if mode == "CMYK" or mode in WIDE_MODES else "PNG")
    outcome(buffer.getvalue())


def test_coverage_guided_fuzzing(tmp_path) -> None:
    """A short atheris (libFuzzer) run from the seed images; `python -m tests.fuzz_atheris` runs longer."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for k, data in enumerate(SEED_IMAGES):
        (corpus / f"seed{k}").write_bytes(data)
    run = subprocess.run(
        [sys.executable, "-m", "tests.fuzz_atheris", str(corpus), "-runs=3000", "-seed=1", "-max_len=8192",
         "-timeout=20", "-rss_limit_mb=2048", f"-artifact_prefix={tmp_path}/"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    done = re.search(r"Done (\d+) runs", run.stderr)
    assert done and int(done.group(1)) >= 3000, run.stderr[-3000:]  # libFuzzer may count a few runs more


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(8, 400),
    st.integers(8, 300),
    st.lists(st.tuples(*[st.floats(0, 1)] * 4, st.integers(1, 30)), min_size=1, max_size=12),
)
def test_reading_random_strokes_answers_or_raises_only_documented_errors(width: int, height: int, strokes) -> None:
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    for x0, y0, x1, y1, pen in strokes:  # scribbles: touching, crossing, specks, lines wider than the image
        draw.line([(x0 * width, y0 * height), (x1 * width, y1 * height)], fill=0, width=pen)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    try:
        reading = pipeline.read_number(buffer.getvalue(), MODELS)
    except preprocess.PreprocessError as exc:
        assert exc.code == "no_digit"
        return
    assert reading.digits and (reading.width, reading.height) == (width, height)
    for digit in reading.digits:
        x, y, w, h = digit.box
        assert 0 <= x < width and 0 <= y < height and 0 < w <= width - x + 1 and 0 < h <= height - y + 1
        assert abs(sum(digit.probabilities) - 1) < 1e-6 and digit.image28.shape == (28, 28)
