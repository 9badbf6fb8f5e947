"""Quantise the exported models to INT8 (static, QDQ, per channel) and gate each against its float model.

`python -m export.quantize [classifier]` does the classifier, `python -m export.quantize line-model` the line model.
Calibrated on MNIST training digits only. The classifier's export fails unless the INT8 model's test
accuracy is within MAX_ACCURACY_DROP of the float model's and their answers agree on at least
MIN_AGREEMENT of the test images; the line model's, unless its members read validation lines as
exactly as the float members (within LINE_MAX_DROP) and the same way on LINE_MIN_AGREEMENT of them.
Each card then describes the INT8 model, the one served, and what it was made from.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from onnxruntime import quantization

from datasets import mnist, provenance, reports_missing_data
from digits import artifacts, contract, line_model
from digits.classifier import Classifier
from export.classifier import ARTIFACTS_DIR, ExportError, accuracy_report
from train import line_model as training  # composes the lines the line model is calibrated and gated on

CALIBRATION_IMAGES = 2000  # MNIST training digits; more changes no range measurably
CALIBRATION_SEED = 20261202
MAX_ACCURACY_DROP = 0.0002  # 0.02 points: two test errors in 10,000
MIN_AGREEMENT = 0.9995  # of test images where INT8 and float give the same digit


LINE_CALIBRATION_LINES = 1000  # composed from MNIST training digits
LINE_GATE_LINES = 1000  # composed from validation digits, as the line model's parity check
LINE_MAX_DROP = 0.005  # of lines a member reads exactly: measured at most 0.1 points (shipped model)
LINE_MIN_AGREEMENT = 0.99  # of (line, member) readings the same as the float model's: measured 99.8%
METHOD = "static, QDQ; weights int8 per channel, activations uint8 with MinMax ranges"


class Calibration(quantization.CalibrationDataReader):
    """Feeds calibration inputs to the quantiser, one feed (a batch) at a time."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self.feeds = iter(feeds)

    def get_next(self) -> dict | None:
        """The next batch, or None when done."""
        return next(self.feeds, None)


def image_feeds(images: np.ndarray, batch: int = 100) -> list[dict[str, np.ndarray]]:
    """The classifier's inputs for these images, in batches."""
    return [{contract.INPUT_NAME: contract.as_model_input(images[i : i + batch])} for i in range(0, len(images), batch)]


def line_feeds(lines: np.ndarray, batch: int = 100) -> list[dict[str, np.ndarray]]:
    """The line model's inputs for these lines (one width), in batches."""
    starts = range(0, len(lines), batch)
    return [{contract.LINE_INPUT_NAME: contract.as_line_input(lines[i : i + batch])} for i in starts]


def calibration_images() -> np.ndarray:
    """A fixed sample of the training split (never validation or test images)."""
    images, _ = mnist.load_split("train")
    train_idx, _ = mnist.train_validation_indices(len(images))
    chosen = np.random.default_rng(CALIBRATION_SEED).choice(train_idx, CALIBRATION_IMAGES, replace=False)
    return images[np.sort(chosen)]


def quantize(float_path: Path, int8_path: Path, feeds: list[dict[str, np.ndarray]]) -> None:
    """Write the statically quantised model: shape inference first, then QDQ with per-channel weights."""
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        # Symbolic shape inference needs sympy; every shape but the batch is static here.
        quantization.shape_inference.quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
        quantization.quantize_static(
            str(prepared),
            str(int8_path),
            Calibration(feeds),
            quant_format=quantization.QuantFormat.QDQ,
            per_channel=True,
            activation_type=quantization.QuantType.QUInt8,
            weight_type=quantization.QuantType.QInt8,
            calibrate_method=quantization.CalibrationMethod.MinMax,
            # The convolutions are nearly all the work; dense layers and softmax stay float, so the
            # probabilities keep their precision (quantised, they came in steps of 1/255).
            op_types_to_quantize=["Conv", "Relu"],
        )


def gate(float_probs: np.ndarray, int8_probs: np.ndarray, labels: np.ndarray) -> dict:
    """How far the INT8 model's answers are from the float model's; ExportError if it is not fit to ship."""
    float_accuracy = float((float_probs.argmax(1) == labels).mean())
    accuracy = float((int8_probs.argmax(1) == labels).mean())
    agreement = float((float_probs.argmax(1) == int8_probs.argmax(1)).mean())
    if accuracy < float_accuracy - MAX_ACCURACY_DROP or agreement < MIN_AGREEMENT:
        raise ExportError(
            f"INT8 model: test accuracy {accuracy:.4%} against float {float_accuracy:.4%} "
            f"(allowed drop {MAX_ACCURACY_DROP:.2%}), agreement {agreement:.4%} (needs {MIN_AGREEMENT:.2%})"
        )
    return {
        "images": len(labels),
        "argmax_agreement_with_float": agreement,
        "max_abs_probability_diff": float(np.abs(float_probs - int8_probs).max()),
    }


def line_gate(float_frames: np.ndarray, int8_frames: np.ndarray, targets: np.ndarray) -> dict:
    """How each member of the INT8 line model reads lines against the float one; ExportError if not fit to ship."""
    truth = [[int(t) - 1 for t in row if t != contract.BLANK] for row in targets]

    def readings(frames: np.ndarray) -> list[list[list[int]]]:  # [line][member] -> digits
        return [[[r.digit for r in line_model.ctc_greedy(member)] for member in line] for line in frames]

    before, after = readings(float_frames), readings(int8_frames)

    def exact(read: list[list[list[int]]]) -> list[float]:  # each member's share of lines read exactly
        members = range(float_frames.shape[1])
        return [float(np.mean([line[m] == t for line, t in zip(read, truth, strict=True)])) for m in members]

    exact_float, exact_int8 = exact(before), exact(after)
    agreement = float(np.mean([a == b for x, y in zip(before, after, strict=True) for a, b in zip(x, y, strict=True)]))
    worst = max(f - q for f, q in zip(exact_float, exact_int8, strict=True))
    if round(worst, 9) > LINE_MAX_DROP or agreement < LINE_MIN_AGREEMENT:  # rounded: 1 - 0.995 > 0.005 in floats
        raise ExportError(
            f"INT8 line model: a member reads {worst:.2%} fewer lines exactly (allowed {LINE_MAX_DROP:.2%}), "
            f"readings agree on {agreement:.2%} (needs {LINE_MIN_AGREEMENT:.2%})"
        )
    return {
        "lines": len(targets),
        "validation_lines_read_exactly_float": exact_float,
        "validation_lines_read_exactly": exact_int8,
        "reading_agreement_with_float": agreement,
    }


def file_facts(path: Path) -> dict:
    """What identifies a model file on the card (the version is the sha256 prefix the service reports)."""
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"file": path.name, "version": sha256[:12], "sha256": sha256, "file_bytes": path.stat().st_size}


@reports_missing_data
def main() -> int:
    """artifacts/model.onnx -> artifacts/model.int8.onnx; artifacts/model.json then describes the INT8 model."""
    float_path, int8_path = ARTIFACTS_DIR / artifacts.CLASSIFIER.name, ARTIFACTS_DIR / artifacts.CLASSIFIER_INT8.name
    card_path = ARTIFACTS_DIR / artifacts.CLASSIFIER_CARD.name
    test_images, test_labels = mnist.load_split("test")
    quantize(float_path, int8_path, image_feeds(calibration_images()))
    float_model, int8_model = Classifier(float_path), Classifier(int8_path)
    float_probs, int8_probs = float_model.predict_batched(test_images), int8_model.predict_batched(test_images)
    try:
        agreement = gate(float_probs, int8_probs, test_labels)
    except ExportError as exc:
        int8_path.unlink()
        print(f"export failed: {exc}", file=sys.stderr)
        return 1
    card = json.loads(card_path.read_text())
    card.update(file_facts(int8_path), test=accuracy_report(int8_probs, test_labels))
    card["quantization"] = {
        "method": METHOD,
        "calibration": f"{CALIBRATION_IMAGES} MNIST training images (seed {CALIBRATION_SEED})",
        "float_model": {**file_facts(float_path), "test": accuracy_report(float_probs, test_labels)},
        **agreement,
    }
    card["exported"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    card["measured"] = provenance.measured()  # the test figures above are the INT8 model's, measured now
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(
        f"wrote {int8_path} ({card['file_bytes']:,} bytes): within the gate of its float original "
        f"(test figures in {card_path.name})"
    )
    return 0


@reports_missing_data
def main_line_model() -> int:
    """artifacts/line_model.onnx -> artifacts/line_model.int8.onnx; artifacts/line_model.json then describes it."""
    float_path, int8_path = ARTIFACTS_DIR / artifacts.LINE_MODEL.name, ARTIFACTS_DIR / artifacts.LINE_MODEL_INT8.name
    card_path = ARTIFACTS_DIR / artifacts.LINE_MODEL_CARD.name
    images, labels = mnist.load_split("train")
    train_idx, val_idx = mnist.train_validation_indices(len(images))
    digits = images / np.float32(255)
    calibration, _ = training.make_lines(digits[train_idx], labels[train_idx], LINE_CALIBRATION_LINES, CALIBRATION_SEED)
    lines, targets = training.make_lines(digits[val_idx], labels[val_idx], LINE_GATE_LINES, training.CONFIG.seed)
    quantize(float_path, int8_path, line_feeds(calibration))

    def frames(path: Path) -> np.ndarray:
        model = line_model.LineModel(path)  # checks the line contract on load
        return np.concatenate([model.frames(lines[i : i + 250]) for i in range(0, len(lines), 250)])

    try:
        gate_report = line_gate(frames(float_path), frames(int8_path), targets)
    except ExportError as exc:
        int8_path.unlink()
        print(f"export failed: {exc}", file=sys.stderr)
        return 1
    card = json.loads(card_path.read_text())
    card.update(file_facts(int8_path))
    card["quantization"] = {
        "method": METHOD,
        "calibration": f"{LINE_CALIBRATION_LINES} lines of MNIST training digits (seed {CALIBRATION_SEED})",
        "float_model": file_facts(float_path),
        **gate_report,
    }
    card["measured"] = provenance.measured()
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(
        f"wrote {int8_path} ({card['file_bytes']:,} bytes): readings agree with float on "
        f"{gate_report['reading_agreement_with_float']:.2%} of {LINE_GATE_LINES} lines x members"
    )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Quantise an exported model to INT8 and gate it.")
    parser.add_argument("model", nargs="?", choices=("classifier", "line-model"), default="classifier")
    sys.exit(main_line_model() if parser.parse_args().model == "line-model" else main())
