"""Real handwriting: the UNIPEN loader, its site split, the pen styles, and the evaluation at small size."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datasets import amounts, unipen
from digits import contract, line_model, pipeline, preprocess
from digits.models import Models
from evaluate import real, real_numbers, report
from evaluate.numbers import score as numbers_score
from tests.conftest import run_stage


@pytest.fixture(scope="module")
def digits(unipen_dir: Path) -> list[unipen.Sample]:
    return unipen.load("digits")


def test_sites_split_into_train_validation_and_test_with_nothing_shared(digits) -> None:
    sites = {s.site for s in digits}
    splits = [set(unipen.TRAIN_SITES), set(unipen.VALIDATION_SITES), set(unipen.TEST_SITES)]
    assert set.union(*splits) == sites and sum(map(len, splits)) == len(sites) == 7
    assert len(digits) == 10_072 and {s.label for s in digits} == set("0123456789")


def test_number_sites_split_into_validation_and_test(unipen_dir: Path) -> None:
    numbers = unipen.load("numbers")
    validation, test = set(unipen.NUMBER_VALIDATION_SITES), set(unipen.NUMBER_TEST_SITES)
    assert not validation & test and validation | test == {s.site for s in numbers}
    assert len(numbers) == 308 and all(s.label.isdigit() and 2 <= len(s.label) <= 7 for s in numbers)
    assert sum(s.site in test for s in numbers) == 189


@pytest.mark.parametrize("stage", ["evaluate.real", "evaluate.real_numbers", "train.classifier", "train.finetune"])
def test_a_missing_folder_is_a_clear_error_before_any_work(stage: str, tmp_path: Path) -> None:
    result = run_stage(stage, {**os.environ, "UNIPEN_DIR": str(tmp_path), "UNIPEN": "300"})  # training asks for it
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].startswith("UNIPEN: set UNIPEN_DIR")
    assert "Traceback" not in result.stderr and "redrawing" not in result.stdout


RENDERS = {**unipen.MEDIA, "stretched box": unipen.stretched_box}


@pytest.mark.parametrize("medium", sorted(RENDERS))
def test_every_medium_renders_a_readable_digit(digits, medium: str) -> None:
    rng, sample = np.random.default_rng(0), next(s for s in digits if s.label == "4")
    data = RENDERS[medium](rng, sample)
    image = Image.open(io.BytesIO(data))
    assert image.height >= 100  # drawn at the sizes people send, not 28 px
    assert preprocess.preprocess(data).max() > 0.5


def test_each_style_adds_its_stroke_where_that_style_has_it(digits) -> None:
    rng = np.random.default_rng(1)
    for style, (digit, _) in unipen.STYLES.items():
        sample = next(s for s in digits if s.label == digit)
        strokes = unipen.styled(sample, style, rng).strokes
        if style == "open four":  # no stroke added: the left arm's top leans out, the rest stays
            moved = [np.abs(new - old).max(axis=0) for new, old in zip(strokes, sample.strokes, strict=True)]
            assert max(m[0] for m in moved) > 0 and max(m[1] for m in moved) == 0
            continue
        extra = strokes[0]
        points = np.concatenate(sample.strokes)
        (left, top), (right, bottom) = points.min(axis=0), points.max(axis=0)
        low, high = extra.min(axis=0), extra.max(axis=0)
        if style == "slashed zero":  # bottom left to top right, across the loop
            assert (
                extra[0, 0] < extra[-1, 0] and extra[0, 1] > extra[-1, 1] and high[0] - low[0] >= 0.9 * (right - left)
            )
        elif style == "flagged one":  # down to the left from the top
            assert extra[-1, 1] == top and extra[0, 0] < extra[-1, 0] and extra[0, 1] > extra[-1, 1]
        elif style in ("footed one", "crossed seven"):  # a level stroke: at the bottom, or across the stem
            assert high[1] - low[1] < 1e-3 and (style == "crossed seven" or low[1] == bottom)
        else:  # the hooked nine: from the lowest point, up and to the left
            assert extra[0, 1] == bottom and extra[-1, 0] < extra[0, 0] and extra[-1, 1] < bottom


def test_a_style_set_takes_a_writers_own_styled_digits_as_written() -> None:
    """A zero its writer slashed, a 1 its writer flagged: real ones, not styled a second time."""
    rng, turn = np.random.default_rng(5), np.linspace(0, 2 * np.pi, 40)
    loop = np.stack([50 + 30 * np.cos(turn), 50 + 45 * np.sin(turn)], axis=1).astype(np.float32)
    zero = unipen.Sample("0", "x", [loop])
    slashed = unipen.Sample("0", "x", [loop, np.array([[20, 110], [80, -10]], dtype=np.float32)])
    stem = np.stack([np.full(20, 50.0), np.linspace(0, 100, 20)], axis=1).astype(np.float32)
    one, flagged = unipen.Sample("1", "x", [stem]), unipen.Sample("1", "x", [np.vstack([[[20, 30]], stem])])
    assert (
        unipen.in_style(slashed, "slashed zero", rng) is slashed
        and unipen.in_style(flagged, "flagged one", rng) is flagged
    )
    assert len(unipen.in_style(zero, "slashed zero", rng).strokes) == 2 and unipen.WRITTEN_IN["slashed zero"](
        unipen.styled(zero, "slashed zero", rng)
    )
    assert len(unipen.in_style(one, "flagged one", rng).strokes) == 2
    seven = unipen.Sample("7", "x", [stem])
    assert len(unipen.in_style(seven, "crossed seven", rng).strokes) == 2  # a style no detector has: always styled


def test_training_styles_touch_only_some_digits_of_their_kind(digits) -> None:
    rng = np.random.default_rng(2)
    zero, three = (next(s for s in digits if s.label == d) for d in "03")
    changed = sum(unipen.with_style(zero, rng) is not zero for _ in range(100))
    assert abs(changed - 100 * unipen.STYLE_SHARE) <= 15  # about STYLE_SHARE of them
    assert all(unipen.with_style(three, rng) is three for _ in range(20))  # no style of 3


def test_training_flags_reach_further_than_the_evaluations(digits) -> None:
    """Real flags can be as long as a 1 is high: training draws them that long, the style sets keep to 45%."""
    one = next(s for s in digits if s.label == "1")
    points = np.concatenate(one.strokes)
    height = np.ptp(points[:, 1])

    def flag_lengths(write) -> np.ndarray:
        rng = np.random.default_rng(4)
        flags = [write(one, rng)[0] for _ in range(400)]
        return np.array([np.hypot(*(flag[-1] - flag[0])) / height for flag in flags])

    evaluated, trained = (
        flag_lengths(unipen.STYLES["flagged one"][1]),
        flag_lengths(unipen.TRAINING_STYLES["flagged one"][1]),
    )
    assert evaluated.max() <= 0.45 + 1e-6 and trained.min() >= 0.2 - 1e-6
    assert 1.1 < trained.max() <= unipen.LONGEST_TRAINING_FLAG + 1e-6
    assert all(
        unipen.TRAINING_STYLES[style] == unipen.STYLES[style] for style in unipen.STYLES if style != "flagged one"
    )


def test_training_digits_are_model_inputs_with_their_labels(digits) -> None:
    picked = [s for s in digits if s.site in unipen.TRAIN_SITES][:50]
    images, labels = unipen.training_digits(picked, 20, seed=3)
    assert images.shape == (20, 28, 28) and images.dtype == np.float32 and images.max() <= 1.0
    assert set(labels) <= {int(s.label) for s in picked}


def test_a_written_number_is_its_digits_side_by_side_at_one_height(digits) -> None:
    picked = [s for s in digits if s.site in unipen.TRAIN_SITES and s.label in "0123456789"][:4]
    number = unipen.written_number(picked, np.random.default_rng(1))
    assert number.label == "".join(s.label for s in picked)
    points = np.concatenate(number.strokes)
    height = np.ptp(points[:, 1])
    assert 0.7 <= height <= max(unipen.WRITTEN_SIZE) + 2 * unipen.WRITTEN_LIFT, "digits scaled to one height"
    assert np.ptp(points[:, 0]) > 1.5 * height, "four digits side by side, not stacked"


def test_the_pen_joins_neighbours_only_where_the_next_digit_starts_near_its_height(monkeypatch) -> None:
    monkeypatch.setattr(unipen, "LIGATURE", 1.0)  # join wherever the rule allows
    ends_low = unipen.Sample("2", "t", [np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])])
    starts_low = unipen.Sample("3", "t", [np.array([[0.0, 1.0], [1.0, 0.5], [0.0, 0.0]])])
    starts_high = unipen.Sample("3", "t", [np.array([[0.0, 0.0], [1.0, 0.5], [0.0, 1.0]])])
    rng = np.random.default_rng(0)
    assert len(unipen.written_number([ends_low, starts_low], rng).strokes) == 1, "a join along the baseline"
    assert len(unipen.written_number([ends_low, starts_high], rng).strokes) == 2, "no foot-to-top join: a 1's stroke"


def test_a_written_numbers_digits_are_drawn_each_where_it_lies_in_the_number(digits) -> None:
    picked = [s for s in digits if s.site in unipen.TRAIN_SITES][:40:10]
    coverage, own = unipen._written_ink(picked, np.random.default_rng(3), each=True)
    assert len(own) == 4 and all(o.shape == coverage.shape for o in own)
    assert np.abs(np.maximum.reduce(own) - coverage).max() < 0.05, "together they are the number, in place"
    columns = [np.nonzero(o.max(axis=0) > 0.5)[0].mean() for o in own]
    assert columns == sorted(columns), "left to right"


def test_written_numbers_cut_apart_as_read_cuts_them_are_their_digits(digits) -> None:
    picked = [s for s in digits if s.site in unipen.VALIDATION_SITES]
    images, labels = unipen.written_pieces(picked, 60, seed=4)
    assert images.shape[1:] == (28, 28) and images.dtype == np.float32 and len(images) == len(labels)
    assert len(labels) >= 60 * min(unipen.WRITTEN_DIGITS) * 0.8, "most numbers cut into their own count of digits"
    read = Models.load().classifier.predict(images).argmax(axis=1)
    assert np.mean(read == labels) >= 0.9, "each piece labelled with the digit it is"


def test_a_cut_piece_keeps_its_label_only_if_its_own_digit_drew_most_of_it(digits, monkeypatch) -> None:
    picked = [s for s in digits if s.site in unipen.VALIDATION_SITES]
    numbers = unipen._numbers(picked, 20, np.random.default_rng(6))
    kept = len(unipen._pieces_chunk((numbers, 6))[1])
    monkeypatch.setattr(unipen, "PIECE_OWN", 1.01)  # no piece can be more than all its own digit's
    assert kept >= 20 and len(unipen._pieces_chunk((numbers, 6))[1]) == 0


def test_written_lines_are_line_model_inputs_the_shipped_model_mostly_reads(digits) -> None:
    picked = [s for s in digits if s.site in unipen.VALIDATION_SITES]
    lines, texts = unipen.written_lines(picked, 60, seed=4)
    assert all(line.shape[0] == 28 and line.shape[1] % contract.LINE_STRIDE == 0 for line in lines)
    assert all(min(unipen.WRITTEN_DIGITS) <= len(t) <= max(unipen.WRITTEN_DIGITS) for t in texts)
    model = Models.load().line_model
    read = ["".join(str(d.digit) for d in line_model.consensus(model.line_frames(line))) for line in lines]
    assert np.mean([r == t for r, t in zip(read, texts, strict=True)]) >= 0.6, "legible numbers, not scribbles"


@pytest.mark.slow
def test_real_handwriting_evaluation_at_small_size(digits) -> None:
    """A floor under today's validation figures (tos reads ~99.6%), not the issue's 99% bar for every site."""
    sample = [s for s in digits if s.site == "tos"][::5]
    table = real.score(sample, Models.load(), seed=5)
    print("\n".join(report.real_table(table)))
    styles = {f"style: {style}, canvas" for style in unipen.STYLES}
    assert set(table) == {f"tos, {medium}" for medium in [*unipen.MEDIA, real.STRETCHED]} | styles
    for medium in unipen.MEDIA:
        row = table[f"tos, {medium}"]
        assert row["digits"] == len(sample) and row["accuracy"] >= 0.95, medium
    for style, (digit, _) in unipen.STYLES.items():
        row = table[f"style: {style}, canvas"]
        assert row["digits"] == sum(s.label == digit for s in sample) and row["accuracy"] >= 0.4, style
    for row in table.values():
        assert sum(row["confusions"].values()) == row["digits"] - row["correct"]


@pytest.mark.slow
def test_real_numbers_evaluation_at_small_size(unipen_dir: Path) -> None:
    """A floor under today's validation figures (ape canvas reads ~93% exact), not the issue's 97% bar."""
    sample = unipen.load("numbers", ("ape",))[::4]
    table = numbers_score(real_numbers.numbers(sample, seed=5), Models.load())
    print("\n".join(report.real_numbers_table(table)))
    assert set(table) == {f"ape, {medium}" for medium in real_numbers.MEDIA}
    for row in table.values():
        assert row["numbers"] == len(sample) and row["exact_accuracy"] >= 0.75
        assert len(row["misreads"]) == row["numbers"] - row["exact"]


def test_a_stretched_digit_fills_its_box(digits) -> None:
    """A 1 stretched to its 16 px box is as wide as it is tall, its ink in blocks of the enlargement."""
    one = next(s for s in digits if s.label == "1" and unipen.aspect(s) < 0.3)
    image = np.asarray(Image.open(io.BytesIO(unipen.stretched_box(np.random.default_rng(2), one))).convert("L"))
    factor = image.shape[0] // unipen.BOX_SIDE
    assert image.shape == (unipen.BOX_SIDE * factor,) * 2 and set(np.unique(image)) <= {0, 255}
    rows, cols = np.nonzero(image < 128)
    assert np.ptp(cols) >= 0.8 * image.shape[1] and np.ptp(rows) >= 0.8 * image.shape[0]


def test_an_amount_is_written_whole_on_its_paper(digits) -> None:
    """The evaluation's amounts keep every digit on the paper: wide digits once ran off its right edge."""
    widest = {}
    for sample in sorted(digits, key=unipen.aspect, reverse=True):  # each digit's widest writing
        widest.setdefault(sample.label, []).append(sample)
    samples = [s for label in sorted(widest) for s in widest[label][:5]]
    unframed = [a for a in amounts.amounts(samples, 60, seed=3) if a.kind.endswith("none")]
    assert len(unframed) >= 10
    for written in unframed:
        ink = preprocess.ink_map(Image.open(io.BytesIO(written.data)))
        assert ink[:, -ink.shape[1] // 50 :].max() < 0.3, written.text  # nothing but paper at the right edge


def test_ones_stretched_to_their_box_are_read_at_narrower_widths_too(digits) -> None:
    """tos writes plain 1s; stretched to a 16 px box they read as 7, 5 or 3 at their given width."""
    models = Models.load()
    ones = [s for s in digits if s.site == "tos" and s.label == "1"]
    rng = np.random.default_rng(4)
    images = [unipen.stretched_box(rng, s) for s in ones]
    as_given = sum(int(models.classifier.predict(preprocess.preprocess(d)[None])[0].argmax()) == 1 for d in images)
    read = sum(pipeline.read_digit(d, models).digit == 1 for d in images)
    print(f"{len(ones)} stretched 1s: {as_given} read as given, {read} by /predict")
    assert read >= as_given + 8 and read >= 0.6 * len(ones)  # today 23 and 35 of 54
