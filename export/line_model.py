"""Convert the trained CTC line model to ONNX, prove it matches Keras, and write its card.

Same route as the classifier (export.classifier.to_onnx); the exported graph ends in a softmax, so it
answers frame probabilities, which is what digits.line_model decodes.
"""

from __future__ import annotations

import datetime
import json
import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras

from datasets import mnist, provenance, reports_missing_data
from digits import contract, line_model
from export.classifier import ARTIFACTS_DIR, BUILD_DIR, OPSET, ExportError, to_onnx
from train import line_model as training

PARITY_LINES = 1000


def with_softmax(model: keras.Model) -> keras.Model:
    """The trained model (logits for CTC) with the probabilities the service decodes."""
    return keras.Model(model.inputs, keras.layers.Softmax()(model.outputs[0]), name="line_model")


def check_parity(model: keras.Model, session: line_model.LineModel, lines: np.ndarray) -> dict:
    """Same frames (within contract.MAX_PROBABILITY_DIFF) and readings from Keras and onnxruntime, or ExportError."""
    keras_frames = model.predict(lines[..., None], batch_size=250, verbose=0)
    onnx_frames = np.concatenate([session.frames(lines[i : i + 250]) for i in range(0, len(lines), 250)])
    max_diff = float(np.abs(keras_frames - onnx_frames).max())
    flat = keras_frames.shape[2:]  # each member's frames of each line: [T, 11]
    differ = sum(
        [r.digit for r in line_model.ctc_greedy(a)] != [r.digit for r in line_model.ctc_greedy(b)]
        for a, b in zip(keras_frames.reshape(-1, *flat), onnx_frames.reshape(-1, *flat), strict=True)
    )
    if differ or max_diff > contract.MAX_PROBABILITY_DIFF:
        raise ExportError(f"ONNX differs from Keras: {differ} readings differ, max |dp| = {max_diff:.2e}")
    return {"lines": len(lines), "reading_disagreements": 0, "max_abs_probability_diff": max_diff}


@reports_missing_data
def main() -> int:
    """Export build/line_model.keras to artifacts/line_model.onnx and artifacts/line_model.json."""
    keras_path = BUILD_DIR / "line_model.keras"
    if not keras_path.is_file():
        print(f"{keras_path} is missing: run `make train-line-model` first", file=sys.stderr)
        return 1
    images, labels = mnist.load_split("train")
    model = with_softmax(keras.models.load_model(keras_path))
    onnx_path = ARTIFACTS_DIR / "line_model.onnx"
    to_onnx(
        model,
        onnx_path,
        inputs=(contract.LINE_INPUT_NAME, contract.LINE_INPUT_SHAPE, ("N", "W")),
        output=(contract.LINE_OUTPUT_NAME, ("N", "T")),  # R, the number of members, is fixed
        doc="MNIST CTC line models; input line [N,28,W,1] white-on-black, "
        f"output each member's CTC frames [N,R,W/{contract.LINE_STRIDE},11], blank 0",
    )
    _, val_idx = mnist.train_validation_indices(len(images))
    validation = images[val_idx] / np.float32(255)
    lines, _ = training.make_lines(validation, labels[val_idx], PARITY_LINES, training.CONFIG.seed)
    try:
        session = line_model.LineModel(onnx_path)
        parity = check_parity(model, session, lines)
    except ExportError as exc:
        onnx_path.unlink()
        print(f"export failed: {exc}", file=sys.stderr)
        return 1
    trained = json.loads((BUILD_DIR / "line_model_training.json").read_text())
    card = {
        "name": "mnist-ctc-line-model",
        "version": session.version,
        "file": onnx_path.name,
        "file_bytes": onnx_path.stat().st_size,
        "opset": OPSET,
        "contract": {
            "input": {"name": contract.LINE_INPUT_NAME, "dtype": "float32", "shape": ["N", 28, "W", 1]},
            "output": {
                "name": contract.LINE_OUTPUT_NAME,
                "dtype": "float32",
                "shape": ["N", "R", f"W/{contract.LINE_STRIDE}", 11],
                "classes": "0 blank, k + 1 digit k",
                "decoding": "greedy CTC",
            },
        },
        "parameters": trained["parameters"],
        "members": trained["config"]["members"],
        "validation_lines_read_exactly": [m["validation_exact_accuracy"] for m in trained["members"]],
        "parity_with_keras": parity,
        "training": trained["config"],
        "training_seconds": trained["training_seconds"],
        **({"fine_tuned": trained["fine_tuned"]} if "fine_tuned" in trained else {}),
        "data_md5": mnist.data_md5s(),
        "exported": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "measured": provenance.measured(),
    }
    (ARTIFACTS_DIR / "line_model.json").write_text(json.dumps(card, indent=2) + "\n")
    print(f"wrote {onnx_path} ({card['file_bytes']:,} bytes); parity max |dp| {parity['max_abs_probability_diff']:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
