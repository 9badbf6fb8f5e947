"""A tiny train -> export -> onnxruntime run on a subset, in seconds, through the real scripts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from digits.classifier import Classifier
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

    images, labels = mnist_test
    classifier = Classifier(tmp_path / "model.onnx")  # checks the contract on load
    accuracy = float((classifier.predict_batched(images).argmax(1) == labels).mean())
    assert accuracy == pytest.approx(card["test"]["accuracy"], abs=1e-9), "the card states what the ONNX model scores"
    assert np.allclose(classifier.predict(images[:3]).sum(1), 1, atol=1e-5)


def test_export_refuses_a_model_that_differs_from_keras() -> None:
    from export.classifier import ExportError, check_parity

    p = np.full((4, 10), 0.1, dtype=np.float32)
    check_parity(p, p + 1e-6)
    with pytest.raises(ExportError, match="max"):
        check_parity(p, p + 1e-4)
    q = p.copy()
    q[0, 3] = 0.2
    with pytest.raises(ExportError, match="1 argmax disagreements"):
        check_parity(p, q)


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
