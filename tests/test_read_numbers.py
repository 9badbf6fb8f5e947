"""POST /api/v1/read: whole numbers, left to right, with boxes in the original image's pixels."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from datasets import renders
from digits import cuts, line_reread, pipeline, preprocess, segment
from digits.models import Models
from evaluate import numbers, report
from tests.conftest import png_bytes


def row_of_digits(mnist_test, text: str, gap: int = 30, side: int = 100) -> tuple[bytes, list[int]]:
    """MNIST test digits pasted side by side, dark on white; returns the PNG and each digit's left edge."""
    images, labels = mnist_test
    canvas = np.full((side + 40, len(text) * (side + gap) + gap), 255, dtype=np.uint8)
    lefts = []
    for i, ch in enumerate(text):
        digit = images[np.flatnonzero(labels == int(ch))[i]]
        big = 255 - np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC))
        x = gap + i * (side + gap)
        canvas[20 : 20 + side, x : x + side] = np.minimum(canvas[20 : 20 + side, x : x + side], big)
        lefts.append(x)
    return png_bytes(canvas), lefts


def test_reads_a_number_with_boxes(client, mnist_test) -> None:
    data, lefts = row_of_digits(mnist_test, "2026")
    result = client.simulate_post("/api/v1/read", body=data, headers={"Content-Type": "image/png"})
    assert result.status_code == 200, result.text
    body = result.json
    assert body["text"] == "2026"
    assert [d["digit"] for d in body["digits"]] == [2, 0, 2, 6]
    assert body["image"] == {"width": 4 * 130 + 30, "height": 140}
    for d, left in zip(body["digits"], lefts, strict=True):
        x, y, w, h = d["box"]
        assert left - 5 <= x <= left + 50 and 20 <= y + h <= 125 and 10 < h <= 100 and 0 < w <= 100
        assert len(d["probabilities"]) == 10 and abs(sum(d["probabilities"]) - 1) < 1e-6
        assert d["confidence"] == max(d["probabilities"])
        assert d["input"].startswith("data:image/png;base64,")


def test_boxes_are_in_original_pixels_for_big_images(client, mnist_test) -> None:
    data, lefts = row_of_digits(mnist_test, "47", side=500, gap=200)
    body = client.simulate_post("/api/v1/read", body=data, headers={"Content-Type": "image/png"}).json
    assert body["text"] == "47"
    assert abs(body["digits"][1]["box"][0] - lefts[1]) < 120  # not in the 640 px working resolution
    # A big JPEG is decoded at a quarter scale by libjpeg: the boxes are still in the file's pixels.
    png, jpeg = Image.open(io.BytesIO(data)), io.BytesIO()
    png.convert("RGB").resize((2 * png.width, 2 * png.height)).save(jpeg, "JPEG", quality=90)
    body = client.simulate_post("/api/v1/read", body=jpeg.getvalue(), headers={"Content-Type": "image/jpeg"}).json
    assert body["text"] == "47" and body["image"] == {"width": 2 * png.width, "height": 2 * png.height}
    assert abs(body["digits"][1]["box"][0] - 2 * lefts[1]) < 2 * 120


def test_a_digit_in_two_strokes_is_one_digit() -> None:
    image = Image.new("L", (300, 300), 255)
    draw = ImageDraw.Draw(image)
    draw.line([(110, 60), (90, 160), (200, 170), (200, 250), (90, 250)], fill=0, width=14)  # 5 without its bar
    draw.line([(115, 55), (210, 55)], fill=0, width=14)  # the bar, a separate stroke
    assert len(pipeline.read_number(png_bytes(image), Models.load()).digits) == 1


def test_touching_digits_are_split(mnist_test) -> None:
    images, labels = mnist_test
    a, b = images[np.flatnonzero(labels == 3)[0]], images[np.flatnonzero(labels == 8)[0]]
    pair = np.maximum(np.pad(a, ((0, 0), (0, 18))), np.pad(b, ((0, 0), (18, 0))))  # 10 px of overlap
    big = 255 - np.asarray(Image.fromarray(pair).resize((460, 280), Image.Resampling.BICUBIC))
    reading = pipeline.read_number(png_bytes(big), Models.load())
    assert reading.text == "38"
    (x3, _, w3, _), (x8, _, w8, _) = (d.box for d in reading.digits)
    assert x3 < x8 < x3 + w3 + 40 and x8 + w8 > 380 and w3 < 300 and w8 < 300  # side by side, each one digit wide


def test_pieces_normalised_once_per_blob_read_as_each_alone(mnist_test) -> None:
    """The cut search's cheap 28x28s (strokes evened once per blob) read like normalize_digit's of each piece."""
    ink = preprocess.ink_map(Image.open(io.BytesIO(row_of_digits(mnist_test, "4071358296", gap=20)[0])))
    labels, kept = preprocess.ink_components(ink)
    pieces = [labels == k for k in kept]
    cheap = preprocess.normalize_pieces(ink, ink > 0, pieces)
    alone = [preprocess.normalize_digit(ink, piece) for piece in pieces]
    classifier = Models.load().classifier
    assert (classifier.predict(np.stack(cheap)).argmax(1) == classifier.predict(np.stack(alone)).argmax(1)).all()
    # Evened at the blob's scale (its height), not each piece's: the strokes differ a little, the shapes do not.
    assert max(float(np.abs(c - a).mean()) for c, a in zip(cheap, alone, strict=True)) < 0.1
    assert preprocess.normalize_pieces(ink, ink > 0, [np.zeros_like(ink, dtype=bool)]) == [None]


def test_a_cut_piece_is_computed_in_its_columns_as_over_the_whole_blob() -> None:
    rng = np.random.default_rng(5)
    mask = rng.random((60, 200)) < 0.3
    for _ in range(50):
        left = np.clip(rng.integers(-5, 150) + rng.integers(-6, 7, size=60), -5, 199)
        right = left + rng.integers(1, 60)
        column = np.arange(200)[None, :]
        whole = cuts.main_part(mask & (column >= left[:, None]) & (column < right[:, None]))
        assert (cuts.between(mask, left, right) == whole).all()


def test_touching_numbers_get_one_box_per_digit_left_to_right(mnist_test) -> None:
    images, labels = mnist_test
    rng, models = np.random.default_rng(11), Models.load()
    read_right = 0
    for _ in range(10):
        picks = rng.choice(len(images), size=4, replace=False)
        data = renders.number(rng, [images[i] for i in picks], touching=True, medium="canvas")
        reading = pipeline.read_number(data, models)
        lefts = [d.box[0] for d in reading.digits]
        assert lefts == sorted(lefts) and all(d.box[2] > 0 and d.box[3] > 0 for d in reading.digits)
        assert all(d.image28.shape == (28, 28) and d.image28.max() > 0.5 for d in reading.digits)
        read_right += reading.text == "".join(str(labels[i]) for i in picks)
    assert read_right >= 6, f"{read_right} of 10 touching 4-digit numbers read exactly"


def test_touching_digits_are_cut_where_the_line_model_reads_them_without_the_full_search(
    mnist_test, monkeypatch
) -> None:
    images, labels = mnist_test
    rng, models = np.random.default_rng(11), Models.load()
    full_searches = []
    search = cuts.candidates
    monkeypatch.setattr(cuts, "candidates", lambda *args: full_searches.append(1) or search(*args))
    line_reads = []
    read_line = models.line_model.frames
    monkeypatch.setattr(models.line_model, "frames", lambda lines: line_reads.append(1) or read_line(lines))
    right = blobs = 0
    for _ in range(10):
        picks = rng.choice(len(images), size=4, replace=False)
        data = renders.number(rng, [images[i] for i in picks], touching=True, medium="canvas")
        before = len(line_reads)
        right += pipeline.read_number(data, models).text == "".join(str(labels[i]) for i in picks)
        blobs += len(line_reads) - before == 1  # one blob: its line and all the ink's are the same, read once
    assert right >= 6, f"{right} of 10 touching 4-digit numbers read exactly"
    assert len(full_searches) <= 3, f"the full cut search ran for {len(full_searches)} of 10 numbers"
    assert blobs >= 3, f"{blobs} of 10 numbers had their line read once"  # the 3 that are one blob; without the cache 0


def test_the_whole_line_reading_overrules_pieces_it_plainly_disagrees_with(mnist_test) -> None:
    data, _ = row_of_digits(mnist_test, "2026")
    ink = preprocess.ink_map(preprocess.decode(data))
    models = Models.load()
    inked = segment.segment(ink, models).inked
    assert line_reread.reread(ink, inked, [2, 0, 2, 6], models) is None  # agrees: the pieces stand
    reread = line_reread.reread(ink, inked, [1, 7], models)  # pieces read wrongly: the line's reading wins
    assert reread is not None and [int(p.read.argmax()) for p in reread] == [2, 0, 2, 6]
    lefts = [preprocess.bounding_box(p.mask)[2] for p in reread]
    assert lefts == sorted(lefts) and len(set(lefts)) == 4  # one piece per digit, left to right


def test_a_colon_between_digits_is_not_read_as_a_one(mnist_test) -> None:
    data, lefts = row_of_digits(mnist_test, "1230", gap=80)
    image = Image.open(io.BytesIO(data)).convert("L")
    draw, x = ImageDraw.Draw(image), lefts[2] - 40
    for y in (50, 100):  # two dots, each far shorter than a digit, stacked in one column
        draw.ellipse([x - 8, y - 8, x + 8, y + 8], fill=0)
    data, models = png_bytes(np.asarray(image)), Models.load()
    ink = preprocess.ink_map(preprocess.decode(data))
    assert len(segment.segment(ink, models).pieces) == 4
    reading = pipeline.read_number(data, models)
    assert reading.text == "1230" and len(reading.skipped) == 2, "both dots said to be skipped"


def test_a_separator_and_a_trailing_dash_are_skipped_and_said_where(client, mnist_test) -> None:
    data, lefts = row_of_digits(mnist_test, "1500", gap=80)
    headers = {"Content-Type": "image/png"}
    assert client.simulate_post("/api/v1/read", body=data, headers=headers).json["skipped"] == []
    plain = np.pad(np.asarray(Image.open(io.BytesIO(data)).convert("L")), ((0, 0), (0, 120)), constant_values=255)
    image = Image.fromarray(plain)
    draw = ImageDraw.Draw(image)
    draw.ellipse([lefts[1] - 47, 100, lefts[1] - 33, 114], fill=0)  # a thousands separator on the baseline
    draw.line([(lefts[3] + 140, 70), (lefts[3] + 190, 70)], fill=0, width=6)  # a trailing dash
    body = client.simulate_post("/api/v1/read", body=png_bytes(image), headers=headers).json
    assert body["text"] == "1500"
    centres = [(x + w / 2, y + h / 2) for x, y, w, h in (mark["box"] for mark in body["skipped"])]
    assert len(centres) == 2, body["skipped"]
    assert abs(centres[0][0] - (lefts[1] - 40)) <= 3 and abs(centres[0][1] - 107) <= 3
    assert abs(centres[1][0] - (lefts[3] + 165)) <= 5 and abs(centres[1][1] - 70) <= 5


def test_dots_alone_are_still_read_not_an_error() -> None:
    image = Image.new("L", (300, 300), 255)
    draw = ImageDraw.Draw(image)
    for y in (80, 200):  # a lone colon: every group is short, the tallest one must stay
        draw.ellipse([140, y, 160, y + 20], fill=0)
    reading = pipeline.read_number(png_bytes(np.asarray(image)), Models.load())
    assert len(reading.digits) == 1


def test_blank_is_422_and_bad_input_like_predict(client) -> None:
    blank = png_bytes(np.zeros((200, 400, 4), dtype=np.uint8))
    result = client.simulate_post("/api/v1/read", body=blank, headers={"Content-Type": "image/png"})
    assert result.status_code == 422 and result.json["code"] == "no_digit"
    result = client.simulate_post("/api/v1/read", body=b"nope", headers={"Content-Type": "image/png"})
    assert result.status_code == 400 and result.json["code"] == "invalid_image"
    result = client.simulate_post("/api/v1/read", body=b"nope", headers={"Content-Type": "text/plain"})
    assert result.status_code == 415


def test_predict_is_unchanged_by_read(client, mnist_test) -> None:
    data, _ = row_of_digits(mnist_test, "7")
    predict = client.simulate_post("/api/v1/predict", body=data, headers={"Content-Type": "image/png"}).json
    assert set(predict) == {"digit", "confidence", "probabilities", "top", "input", "model"}
    assert predict["digit"] == 7


@pytest.mark.slow
def test_number_evaluation_at_small_size(mnist_test) -> None:
    """A regression floor, below the issue's targets (98% exact separated, 90% touching) not yet reached."""
    images, labels = mnist_test
    models = Models.load()
    table = numbers.score(numbers.make_numbers(images, labels, 10, seed=77), models)
    print("\n".join(report.numbers_table(table, numbers.single_digits(images, labels, 40, models))))
    separated = [row for kind, row in table.items() if "separated" in kind]
    touching = [row for kind, row in table.items() if "touching" in kind]
    assert sum(r["digits_right"] for r in separated) / sum(r["digits"] for r in separated) >= 0.93
    assert sum(r["exact"] for r in separated) / sum(r["numbers"] for r in separated) >= 0.7
    # The line model lifted touching numbers from ~70% to ~90% per digit (docs/experiments.md); this floor guards it.
    assert sum(r["digits_right"] for r in touching) / sum(r["digits"] for r in touching) >= 0.85
    assert sum(r["exact"] for r in touching) / sum(r["numbers"] for r in touching) >= 0.5
    single = numbers.single_digits(images, labels, 50, models)
    assert single["read_accuracy"] >= single["predict_accuracy"] - 0.02


def test_a_forms_baseline_and_box_are_not_read_as_digits(client, mnist_test) -> None:
    """The same number written over a printed baseline, and inside a box: the rules are erased, the digits read.

    A one-digit amount in a box too: its image is short, and the box's sides had read as 1s (`6` -> `161`).
    """
    for text, frames in (("2026", ("baseline", "box")), ("6", ("box",))):
        data, _ = row_of_digits(mnist_test, text)
        plain = np.asarray(Image.open(io.BytesIO(data)))
        height, width = plain.shape
        for frame in frames:
            form = Image.fromarray(plain.copy())
            draw = ImageDraw.Draw(form)
            if frame == "baseline":
                draw.line([(0, height - 12), (width, height - 14)], fill=90, width=3)
            else:
                draw.rectangle([4, 4, width - 5, height - 5], outline=90, width=3)
            headers = {"Content-Type": "image/png"}
            body = client.simulate_post("/api/v1/read", body=png_bytes(form), headers=headers).json
            assert body["text"] == text, (frame, body.get("text"))


def test_a_short_image_loses_only_a_whole_box() -> None:
    """A digit's own straight strokes survive: a tight crop of a 7's bar, with its stem at a corner; a tall 1."""
    seven = np.zeros((100, 80), np.float32)
    seven[5:12, :] = 1.0  # the bar spans the whole width
    seven[12:95, 60:67] = 1.0
    corner_seven = np.zeros((100, 80), np.float32)
    corner_seven[5:12, :] = 1.0
    corner_seven[5:95, 74:80] = 1.0  # a stem that meets the bar at its end, as a box's side would
    one = np.zeros((280, 280), np.float32)
    one[20:260, 137:145] = 1.0
    for ink in (seven, corner_seven, one):
        assert np.array_equal(segment.without_rules(ink), ink)
    line = np.zeros((100, 400), np.float32)
    line[80:83, 5:395] = 0.6  # a printed baseline under the writing
    line[20:78, 50:56] = 1.0  # a 1 above it
    cleaned = segment.without_rules(line)
    assert cleaned[80:83].max() == 0 and np.array_equal(cleaned[20:77, 50:56], line[20:77, 50:56])
    boxed = np.zeros((100, 120), np.float32)
    boxed[[8, 9, 90, 91], 5:115] = 0.6  # a box round one digit: two rules, two sides
    boxed[8:92, [5, 6, 113, 114]] = 0.6
    boxed[20:80, 57:63] = 1.0  # a 1 inside
    cleaned = segment.without_rules(boxed)
    assert cleaned[:, :10].max() == 0 and cleaned[:, 110:].max() == 0 and cleaned[:12].max() == 0
    assert np.array_equal(cleaned[20:80, 57:63], boxed[20:80, 57:63])


def test_a_box_loses_its_sides_and_a_tall_stem_on_a_baseline_stays() -> None:
    """A box's sides meet its rules at their ends; a 4's or 9's stem standing on a baseline meets it midway."""
    line = np.zeros((100, 400), np.float32)
    line[88:91, 5:395] = 0.6  # a printed baseline
    line[15:88, 200:206] = 1.0  # a stem taller than SIDE_SPAN of the height, standing on it
    cleaned = segment.without_rules(line)
    assert cleaned[88:91].max() == 0 and np.array_equal(cleaned[15:86, 200:206], line[15:86, 200:206])
    box = np.zeros((100, 400), np.float32)
    box[[8, 9, 90, 91], 5:395] = 0.6  # top and bottom rules
    box[8:92, [5, 6, 393, 394]] = 0.6  # the sides
    box[20:80, 200:206] = 1.0  # a 1 inside
    cleaned = segment.without_rules(box)
    assert cleaned[:, :10].max() == 0 and cleaned[:, 390:].max() == 0, "the sides are erased"
    assert np.array_equal(cleaned[20:80, 200:206], box[20:80, 200:206])
