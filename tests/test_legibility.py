"""The blind-reading sheets: the evaluation's numbers as a person sees them, and the score of a reading."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evaluate import legibility, numbers

ROOT = Path(__file__).resolve().parent.parent


def test_sheets_show_each_number_dark_on_light_and_nothing_else(mnist_test, tmp_path) -> None:
    images, labels = mnist_test
    canvas, photo = itertools.islice(numbers.make_numbers(images, labels, 1, seed=3), 2)
    assert canvas.kind.endswith("canvas") and photo.kind.endswith("photo")
    paths = legibility.write_sheets([canvas, photo, canvas], tmp_path)
    assert [p.name for p in paths] == ["sheet_00.png"]
    sheet = np.asarray(Image.open(paths[0]).convert("L"))
    width, height = legibility.TILE
    tiles = [sheet[(k // 2) * height : (k // 2 + 1) * height, (k % 2) * width : (k % 2 + 1) * width] for k in range(4)]
    # A canvas export keeps its ink in the alpha channel: dropped, the tile would be one black square.
    for number in tiles[:3]:
        body = number[:, 22:]  # right of the index
        assert np.median(body) > 150 and body.min() < 90
    assert tiles[3].min() == 255  # no fourth number, nothing drawn


def test_a_sheet_holds_ten_numbers(mnist_test, tmp_path) -> None:
    images, labels = mnist_test
    items = list(itertools.islice(numbers.make_numbers(images, labels, 11, seed=3), 11))
    assert [p.name for p in legibility.write_sheets(items, tmp_path)] == ["sheet_00.png", "sheet_01.png"]


def test_score_counts_exact_readings_and_shared_misses() -> None:
    truth, reading, service = ["12", "34", "56", "78"], ["12", "?", "57", "78"], ["12", "34", "50", "7"]
    assert legibility.score(truth, reading, service) == {
        "numbers": 4,
        "reader_exact": 2,
        "service_exact": 2,
        "both_wrong": 1,
    }


def test_a_reading_must_have_one_entry_per_number() -> None:
    assert legibility.parse_reading("12 34\n?\n", 3) == ["12", "34", "?"]
    with pytest.raises(ValueError, match="2 entries, the sheets 3"):
        legibility.parse_reading("12 34", 3)


def test_sheets_then_score_from_the_command_line(mnist_dir, tmp_path) -> None:
    kind = "4 digits, separated, canvas"
    run = [sys.executable, "-m", "evaluate.legibility"]
    made = subprocess.run(
        [*run, "sheets", str(tmp_path), "--kind", kind, "--count", "3", "--source", "validation"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    key = json.loads((tmp_path / "key.json").read_text())
    assert key["kind"] == kind and len(key["truth"]) == len(key["service"]) == 3
    assert all(len(text) == 4 for text in key["truth"])
    assert sorted(p.name for p in (tmp_path / "sheets").iterdir()) == ["sheet_00.png"]
    reading = tmp_path / "reading.txt"
    reading.write_text("\n".join([*key["truth"][:2], "?"]))
    scored = subprocess.run([*run, "score", str(tmp_path), str(reading)], cwd=ROOT, capture_output=True, text=True)
    assert scored.returncode == 0, scored.stderr
    result = json.loads(scored.stdout)
    assert result["reader_exact"] == 2
    assert result["service_exact"] == sum(s == t for s, t in zip(key["service"], key["truth"], strict=True))
