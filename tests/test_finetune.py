"""A tiny fine-tuning of the shipped classifier, then its export, through the real scripts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from digits import artifacts, contract
from digits.classifier import Classifier
from evaluate import report
from tests.conftest import run_stage


@pytest.mark.slow
def test_fine_tuning_starts_from_the_shipped_onnx_members_and_exports_like_a_training(
    mnist_dir: Path, unipen_dir: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "FT_EPOCHS": "1", "MEMBERS": "2", "SUBSET": "1024", "REDRAWS": "100", "UNIPEN": "200",
           "OUT_DIR": str(tmp_path), "ARTIFACTS_DIR": str(tmp_path), "MNIST_DIR": str(mnist_dir),
           "UNIPEN_DIR": str(unipen_dir)}  # fmt: skip
    tuned = run_stage("train.finetune", env)
    assert tuned.returncode == 0, tuned.stdout[-2000:] + tuned.stderr[-2000:]
    assert (tmp_path / "training_curves.png").stat().st_size and (tmp_path / "confusion_matrix.png").stat().st_size
    training = json.loads((tmp_path / "training.json").read_text())
    lineage = training["fine_tuned"]
    assert lineage["from_version"] == Classifier(artifacts.ARTIFACTS / "model.onnx").version
    assert lineage["rebuilt_max_abs_diff"] <= contract.MAX_PROBABILITY_DIFF, "they read as the shipped float model"
    assert lineage["validation_before"]["accuracy"] >= 0.98
    assert len(training["history"]) == 2 and all(len(h["loss"]) == 1 for h in training["history"])
    assert training["config"]["unipen"] == 200 and training["config"]["redraws_used"] == 100

    export = run_stage("export.classifier", env)
    assert export.returncode == 0, export.stdout[-2000:] + export.stderr[-2000:]
    card = json.loads((tmp_path / "model.json").read_text())
    assert card["fine_tuned"]["from_version"] == lineage["from_version"], "the card names the model it came from"
    assert card["parity_with_keras"]["argmax_disagreements"] == 0
    assert card["test"]["accuracy"] > 0.97, "a short fine-tuning at a small rate keeps the shipped model's reading"
    page = "\n".join(report.classifier_section(card))
    assert f"the members of `{lineage['from_version']}` fine-tuned 1 epoch(s)" in page and "`make finetune`" in page
