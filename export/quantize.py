"""Quantise the exported classifier to INT8 (static, QDQ, per channel) and gate it against the float model.

Calibrated on MNIST training images only. The export fails unless the INT8 model's test accuracy is
within MAX_ACCURACY_DROP of the float model's and their answers agree on at least MIN_AGREEMENT of the
test images. The model card then describes the INT8 model, the one served, and what it was made from.
"""

from __future__ import annotations

import datetime
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from onnxruntime import quantization

from datasets import mnist, provenance, reports_missing_data
from digits import artifacts, contract
from digits.classifier import Classifier
from export.classifier import ARTIFACTS_DIR, ExportError, accuracy_report

CALIBRATION_IMAGES = 2000  # MNIST training digits; more changes no range measurably
CALIBRATION_SEED = 20261202
MAX_ACCURACY_DROP = 0.0002  # 0.02 points: two test errors in 10,000
MIN_AGREEMENT = 0.9995  # of test images where INT8 and float give the same digit


class Calibration(quantization.CalibrationDataReader):
    """Feeds calibration images to the quantiser in batches."""

    def __init__(self, images: np.ndarray, batch: int = 100) -> None:
        starts = range(0, len(images), batch)
        self.batches = iter([{contract.INPUT_NAME: contract.as_model_input(images[i : i + batch])} for i in starts])

    def get_next(self) -> dict | None:
        """The next batch, or None when done."""
        return next(self.batches, None)


def calibration_images() -> np.ndarray:
    """A fixed sample of the training split (never validation or test images)."""
    images, _ = mnist.load_split("train")
    train_idx, _ = mnist.train_validation_indices(len(images))
    chosen = np.random.default_rng(CALIBRATION_SEED).choice(train_idx, CALIBRATION_IMAGES, replace=False)
    return images[np.sort(chosen)]


def quantize(float_path: Path, int8_path: Path, images: np.ndarray) -> None:
    """Write the statically quantised model: shape inference first, then QDQ with per-channel weights."""
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        # Symbolic shape inference needs sympy; every shape but the batch is static here.
        quantization.shape_inference.quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
        quantization.quantize_static(
            str(prepared),
            str(int8_path),
            Calibration(images),
            quant_format=quantization.QuantFormat.QDQ,
            per_channel=True,
            activation_type=quantization.QuantType.QUInt8,
            weight_type=quantization.QuantType.QInt8,
            calibrate_method=quantization.CalibrationMethod.MinMax,
            # The convolutions are nearly all the work; the dense head and softmax stay float, so the
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


def file_facts(classifier: Classifier, path: Path) -> dict:
    """What identifies a model file on the card."""
    facts = {"file": path.name, "version": classifier.version, "sha256": classifier.sha256}
    return facts | {"file_bytes": path.stat().st_size}


@reports_missing_data
def main() -> int:
    """artifacts/model.onnx -> artifacts/model.int8.onnx; artifacts/model.json then describes the INT8 model."""
    float_path, int8_path = ARTIFACTS_DIR / artifacts.CLASSIFIER.name, ARTIFACTS_DIR / artifacts.CLASSIFIER_INT8.name
    card_path = ARTIFACTS_DIR / artifacts.CLASSIFIER_CARD.name
    test_images, test_labels = mnist.load_split("test")
    quantize(float_path, int8_path, calibration_images())
    float_model, int8_model = Classifier(float_path), Classifier(int8_path)
    float_probs, int8_probs = float_model.predict_batched(test_images), int8_model.predict_batched(test_images)
    try:
        agreement = gate(float_probs, int8_probs, test_labels)
    except ExportError as exc:
        int8_path.unlink()
        print(f"export failed: {exc}", file=sys.stderr)
        return 1
    card = json.loads(card_path.read_text())
    card.update(file_facts(int8_model, int8_path), test=accuracy_report(int8_probs, test_labels))
    card["quantization"] = {
        "method": "static, QDQ; weights int8 per channel, activations uint8 with MinMax ranges",
        "calibration": f"{CALIBRATION_IMAGES} MNIST training images (seed {CALIBRATION_SEED})",
        "float_model": {**file_facts(float_model, float_path), "test": accuracy_report(float_probs, test_labels)},
        **agreement,
    }
    card["exported"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    card["measured"] = provenance.measured()  # the test figures above are the INT8 model's, measured now
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(
        f"wrote {int8_path} ({card['file_bytes']:,} bytes): test accuracy {card['test']['accuracy']:.4%} "
        f"(float {card['quantization']['float_model']['test']['accuracy']:.4%}), "
        f"agreement {agreement['argmax_agreement_with_float']:.4%}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
