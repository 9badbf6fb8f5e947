"""A tiny train -> export -> onnxruntime run on a subset, in seconds, through the real scripts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from digits import contract
from digits.classifier import Classifier
from evaluate.report import training_row
from tests.conftest import run_stage

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_tiny_train_then_export_gives_a_parity_checked_contract_model(
    mnist_dir: Path, unipen_dir: Path, tmp_path: Path, mnist_test
):
    env = {**os.environ, "EPOCHS": "2", "MEMBERS": "2", "SUBSET": "2048", "REDRAWS": "400", "UNIPEN": "300",
           "OUT_DIR": str(tmp_path), "ARTIFACTS_DIR": str(tmp_path), "MNIST_DIR": str(mnist_dir),
           "UNIPEN_DIR": str(unipen_dir)}  # fmt: skip
    train = run_stage("train.classifier", env)
    assert train.returncode == 0, train.stdout[-2000:] + train.stderr[-2000:]
    for name in ("model.keras", "training.json", "training_curves.png", "confusion_matrix.png"):
        assert (tmp_path / name).is_file(), name
    report = json.loads((tmp_path / "training.json").read_text())
    assert report["config"]["epochs"] == 2 and len(report["history"]) == 2
    assert all(h["loss"][1] < h["loss"][0] for h in report["history"]), "each member learns"
    assert report["config"]["seed"] and report["parameters_per_member"] <= 400_000
    assert report["config"]["redraws_used"] == 400, "pen-redrawn digits join the training set"
    assert report["config"]["unipen"] == 300, "real pen digits of the training sites join it too"

    export = run_stage("export.classifier", env)
    assert export.returncode == 0, export.stdout[-2000:] + export.stderr[-2000:]
    card = json.loads((tmp_path / "model.json").read_text())
    assert card["parity_with_keras"]["argmax_disagreements"] == 0
    assert card["parity_with_keras"]["max_abs_probability_diff"] <= 1e-5
    made = dict([training_row(card)])["training (`make train`)"]
    assert made.endswith("400 pen redraws and 300 renders of real pen digits of the UNIPEN training sites"), made

    images, labels = mnist_test
    classifier = Classifier(tmp_path / "model.onnx")  # checks the contract on load
    accuracy = float((classifier.predict_batched(images).argmax(1) == labels).mean())
    assert accuracy == pytest.approx(card["test"]["accuracy"], abs=1e-9), "the card states what the ONNX model scores"
    assert np.allclose(classifier.predict(images[:3]).sum(1), 1, atol=1e-5)

    # The INT8 quantisation of that model loads under the same contract and mostly agrees with it.
    from export.quantize import image_feeds, quantize

    quantize(tmp_path / "model.onnx", tmp_path / "model.int8.onnx", image_feeds(images[:200]))
    int8 = Classifier(tmp_path / "model.int8.onnx")
    agreement = (int8.predict(images[:1000]).argmax(1) == classifier.predict(images[:1000]).argmax(1)).mean()
    assert agreement >= 0.98, agreement


def test_export_refuses_a_model_that_differs_from_keras() -> None:
    from export.classifier import ExportError, check_parity

    p = np.full((4, 10), 0.1, dtype=np.float32)
    check_parity(p, p + 1e-6)
    with pytest.raises(ExportError, match="max"):
        check_parity(p, p + 1e-4)
    p[0, 5] = 0.2
    q = p.copy()
    q[0, 3] = 0.2 + 2e-6
    with pytest.raises(ExportError, match="1 argmax disagreements"):
        check_parity(p, q)
    tied = p.copy()
    tied[1, 2] = tied[1, 7] = 0.2  # a tie within float noise: either digit is Keras' answer
    flipped = tied.copy()
    flipped[1, 7] += 1e-6
    check_parity(tied, flipped)


def test_export_refuses_an_int8_model_that_reads_worse_than_its_float_original() -> None:
    from export.classifier import ExportError
    from export.quantize import gate

    labels = np.arange(10_000) % 10
    exact = np.eye(10, dtype=np.float32)[labels]
    assert gate(exact, exact * 0.9 + 0.01, labels)["argmax_agreement_with_float"] == 1.0
    two_wrong, six_wrong = exact.copy(), exact.copy()
    two_wrong[:2] = np.roll(exact[:2], 1, axis=1)  # 0.02 points down, agreement 99.98%: allowed
    assert gate(exact, two_wrong, labels)["argmax_agreement_with_float"] == 0.9998
    six_wrong[:6] = np.roll(exact[:6], 1, axis=1)
    with pytest.raises(ExportError, match="INT8 model"):
        gate(exact, six_wrong, labels)
    # Agreeing too rarely fails even when accuracy holds: the INT8 model fixes as many as it breaks.
    swapped, float_probs = exact.copy(), exact.copy()
    float_probs[:5] = np.roll(exact[:5], 1, axis=1)
    swapped[5:10] = np.roll(exact[5:10], 1, axis=1)
    with pytest.raises(ExportError, match=r"agreement 99\.9000%"):
        gate(float_probs, swapped, labels)


def test_export_refuses_an_int8_line_model_that_reads_lines_worse_than_its_float_original() -> None:
    from export.classifier import ExportError
    from export.quantize import line_gate

    blank = contract.BLANK
    targets = np.full((1000, 3), blank)
    targets[:, 0], targets[:, 1] = 4, 2  # every line is "3 1"
    right = np.full((1000, 2, 5, contract.LINE_CLASSES), 0.01, dtype=np.float32)  # [lines, members, T, classes]
    right[:, :, [0, 2, 4], blank], right[:, :, 1, 4], right[:, :, 3, 2] = 0.9, 0.9, 0.9
    assert line_gate(right, right, targets)["reading_agreement_with_float"] == 1.0
    five_wrong = right.copy()
    five_wrong[:5, 1, 3] = right[:5, 1, 1]  # member 1 reads "3 3" in 5 lines: 0.5 points fewer, allowed
    report = line_gate(right, five_wrong, targets)
    assert report["validation_lines_read_exactly"] == [1.0, 0.995] and report["reading_agreement_with_float"] == 0.9975
    six_wrong = right.copy()
    six_wrong[:6, 1, 3] = right[:6, 1, 1]
    with pytest.raises(ExportError, match="INT8 line model"):
        line_gate(right, six_wrong, targets)


@pytest.mark.slow
def test_redrawn_training_digits_keep_their_labels_and_the_model_input_format(mnist_test) -> None:
    from datasets.redraws import redraws

    images, labels = mnist_test
    drawn, drawn_labels = redraws(images[:300], labels[:300], 200, seed=1)
    assert drawn.shape == (200, 28, 28) and drawn.dtype == np.float32
    assert drawn.min() >= 0 and drawn.max() == 1
    # A redraw paired with the wrong label would be read right about one time in ten.
    read = Classifier().predict(drawn).argmax(1)
    assert (read == drawn_labels).mean() >= 0.95
