"""Tiny fine-tunings of the shipped classifier and line model, then their exports, through the real scripts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from digits import artifacts, contract
from digits.classifier import Classifier
from digits.line_model import LineModel
from evaluate import report
from tests.conftest import run_stage


@pytest.mark.slow
def test_fine_tuning_starts_from_the_shipped_onnx_members_and_exports_like_a_training(
    mnist_dir: Path, unipen_dir: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "FT_EPOCHS": "1", "MEMBERS": "2", "SUBSET": "1024", "REDRAWS": "100", "UNIPEN": "200",
           "FT_PIECES_OF": "40", "OUT_DIR": str(tmp_path), "ARTIFACTS_DIR": str(tmp_path), "MNIST_DIR": str(mnist_dir),
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
    assert "of the UNIPEN sites syn, apb, imp" in page, "the card says whose writing it learnt"
    assert "the digits of 40 numbers written from them, cut apart as `/read` cuts them" in page


@pytest.mark.slow
def test_line_model_fine_tuning_starts_from_the_shipped_onnx_members_and_exports_like_a_training(
    mnist_dir: Path, unipen_dir: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "LINE_FT_EPOCHS": "1", "LINE_MEMBERS": "1", "LINE_FT_LINES": "300", "UNIPEN": "100",
           "LINE_FT_WRITTEN": "50", "PEN_DIGITS": "100", "VALIDATION_LINES": "200", "OUT_DIR": str(tmp_path),
           "ARTIFACTS_DIR": str(tmp_path),
           "MNIST_DIR": str(mnist_dir), "UNIPEN_DIR": str(unipen_dir)}  # fmt: skip
    tuned = run_stage("train.finetune_line", env)
    assert tuned.returncode == 0, tuned.stdout[-2000:] + tuned.stderr[-2000:]
    training = json.loads((tmp_path / "line_model_training.json").read_text())
    lineage = training["fine_tuned"]
    assert lineage["from_version"] == LineModel(artifacts.LINE_MODEL).version
    assert lineage["rebuilt_max_abs_diff"] <= contract.MAX_PROBABILITY_DIFF, "they read as the shipped float model"
    assert lineage["validation_exact_accuracy_before"][0] >= 0.9, "the rebuilt member reads lines as shipped"
    assert lineage["lines"] == 300 and lineage["real_digits"] == 100 and lineage["written"] == 50
    assert lineage["mix"] == 0.7, "the tuned weights mixed with the start's, as shipped"
    assert len(training["members"]) == 1 and lineage["learning_rates"] == [5e-4, 2.5e-4]
    assert [len(run["loss"]) for run in training["members"][0]["histories"]] == [1, 1], "one run per rate, averaged"

    export = run_stage("export.line_model", env)
    assert export.returncode == 0, export.stdout[-2000:] + export.stderr[-2000:]
    card = json.loads((tmp_path / "line_model.json").read_text())
    assert card["fine_tuned"]["from_version"] == lineage["from_version"], "the card names the model it came from"
    assert card["parity_with_keras"]["reading_disagreements"] == 0 and card["members"] == 1
    page = "\n".join(report.line_model_section(card))
    assert f"the members of `{lineage['from_version']}` fine-tuned 1 epoch(s)" in page
    assert "`make finetune-line-model`" in page
    assert "renders of real pen digits of the UNIPEN sites syn, apb, imp," in page, "whose writing it learnt"
    assert "and 50 numbers written stroke by stroke from real pen digits" in page
    assert "once from each learning rate (0.0005, 0.00025), weights averaged" in page
    assert "then mixed with the start's weights (30% start)" in page


@pytest.mark.parametrize("stage, knob", [("train.finetune", "FT_SITES"), ("train.finetune_line", "LINE_FT_SITES")])
def test_fine_tuning_refuses_the_test_sites(stage: str, knob: str, mnist_dir: Path, unipen_dir: Path) -> None:
    env = {**os.environ, knob: "syn,val", "MNIST_DIR": str(mnist_dir), "UNIPEN_DIR": str(unipen_dir)}
    refused = run_stage(stage, env)
    assert refused.returncode == 2 and "['val'] are not training or validation sites" in refused.stderr
