"""Real handwriting: the UNIPEN loader, its site split, the pen styles, and the evaluation at small size."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datasets import unipen
from digits import preprocess
from digits.models import Models
from evaluate import real, report

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def digits(unipen_dir: Path) -> list[unipen.Sample]:
    return unipen.load("digits")


def test_sites_split_into_train_validation_and_test_with_nothing_shared(digits) -> None:
    sites = {s.site for s in digits}
    splits = [set(unipen.TRAIN_SITES), set(unipen.VALIDATION_SITES), set(unipen.TEST_SITES)]
    assert set.union(*splits) == sites and sum(map(len, splits)) == len(sites) == 7
    assert len(digits) == 10_072 and {s.label for s in digits} == set("0123456789")
    assert len(unipen.load("numbers")) == 308


def test_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "evaluate.real", "--source", "validation"],
        cwd=ROOT, env={**os.environ, "UNIPEN_DIR": str(tmp_path)}, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1 and result.stderr.strip().startswith("UNIPEN: set UNIPEN_DIR")


@pytest.mark.parametrize("medium", sorted(unipen.MEDIA))
def test_every_medium_renders_a_readable_digit(digits, medium: str) -> None:
    rng, sample = np.random.default_rng(0), next(s for s in digits if s.label == "4")
    data = unipen.MEDIA[medium](rng, sample)
    image = Image.open(io.BytesIO(data))
    assert image.height >= 100  # drawn at the sizes people send, not 28 px
    assert preprocess.preprocess(data).max() > 0.5


def test_styles_slash_zeros_and_flag_ones_and_leave_other_digits(digits) -> None:
    rng = np.random.default_rng(1)
    zero, one, seven = (next(s for s in digits if s.label == d) for d in "017")
    styled = [unipen.with_style(zero, rng) for _ in range(40)]
    slashed = [s for s in styled if len(s.strokes) == len(zero.strokes) + 1]
    assert 4 <= len(slashed) <= 24  # about STYLE_SHARE of them
    extra = slashed[0].strokes[0]
    assert extra[0, 0] < extra[-1, 0] and extra[0, 1] > extra[-1, 1]  # bottom left to top right
    assert any(len(unipen.with_style(one, rng).strokes) > len(one.strokes) for _ in range(40))
    assert all(unipen.with_style(seven, rng) is seven for _ in range(10))


def test_training_digits_are_model_inputs_with_their_labels(digits) -> None:
    picked = [s for s in digits if s.site in unipen.TRAIN_SITES][:50]
    images, labels = unipen.training_digits(picked, 20, seed=3)
    assert images.shape == (20, 28, 28) and images.dtype == np.float32 and images.max() <= 1.0
    assert set(labels) <= {int(s.label) for s in picked}


@pytest.mark.slow
def test_real_handwriting_evaluation_at_small_size(digits) -> None:
    """A floor under today's validation figures (tos reads ~99.6%), not the issue's 99% bar for every site."""
    sample = [s for s in digits if s.site == "tos"][::5]
    table = real.score(sample, Models.load(), seed=5)
    print("\n".join(report.real_table(table)))
    assert set(table) == {f"tos, {medium}" for medium in unipen.MEDIA}
    for row in table.values():
        assert row["digits"] == len(sample) and row["accuracy"] >= 0.95
        assert sum(row["confusions"].values()) == row["digits"] - row["correct"]
