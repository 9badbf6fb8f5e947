"""Convert the trained Keras model to ONNX, prove it matches Keras, and write the model card.

Route: a tf.function with the contract's input signature, converted by tf2onnx.convert.from_function
(from_keras does not understand Keras 3 models). The export fails loudly if parity does not hold.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras
import onnx
import tensorflow as tf
import tf2onnx

from datasets import mnist, provenance, reports_missing_data
from digits import contract
from digits.classifier import Classifier

ROOT = Path(__file__).resolve().parent.parent
OPSET = 17
BUILD_DIR = Path(os.environ.get("OUT_DIR", ROOT / "build"))
ARTIFACTS_DIR = Path(os.environ.get("ARTIFACTS_DIR", ROOT / "artifacts"))
LIBRARIES = ("tensorflow-cpu", "keras", "tf2onnx", "onnx", "onnxruntime", "numpy")


class ExportError(RuntimeError):
    """The exported model is not fit to ship."""


def to_onnx(
    model: keras.Model,
    path: Path,
    inputs: tuple[str, tuple, tuple[str, ...]] = (contract.INPUT_NAME, contract.INPUT_SHAPE, ("N",)),
    output: tuple[str, tuple[str, ...]] = (contract.OUTPUT_NAME, ("N",)),
    doc: str = "MNIST digit classifier; input image [N,28,28,1] white-on-black in [0,1]",
) -> onnx.ModelProto:
    """Convert with tf2onnx; name the input and output, and their dynamic dimensions, as the contract does.

    `inputs` is (name, shape, names of its None dimensions); `output` is (name, names of its dynamic ones).
    """
    (input_name, shape, input_dims), (output_name, output_dims) = inputs, output
    signature = [tf.TensorSpec(shape, tf.float32, name=input_name)]
    forward = tf.function(lambda x: model(x, training=False), input_signature=signature)
    proto, _ = tf2onnx.convert.from_function(forward, input_signature=signature, opset=OPSET)
    # tf2onnx names the output after the TF tensor; the contract names it.
    old_name = proto.graph.output[0].name
    for node in proto.graph.node:
        node.output[:] = [output_name if o == old_name else o for o in node.output]
    proto.graph.output[0].name = output_name
    for value, names in ((proto.graph.input[0], input_dims), (proto.graph.output[0], output_dims)):
        dynamic = [d for d in value.type.tensor_type.shape.dim if not d.HasField("dim_value")]
        for dim, name in zip(dynamic, names, strict=True):
            dim.dim_param = name
    proto.doc_string = doc
    onnx.checker.check_model(proto)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, path)
    return proto


def check_parity(keras_probs: np.ndarray, onnx_probs: np.ndarray) -> dict:
    """Identical argmax wherever Keras' top two differ by more than the bound, max |dp| within it; else ExportError."""
    max_diff = float(np.abs(keras_probs - onnx_probs).max())
    top_two = np.sort(keras_probs, axis=1)[:, -2:]
    decided = top_two[:, 1] - top_two[:, 0] > contract.MAX_PROBABILITY_DIFF  # a tie within float noise: no argmax
    disagreements = int((keras_probs.argmax(1) != onnx_probs.argmax(1))[decided].sum())
    if disagreements or max_diff > contract.MAX_PROBABILITY_DIFF:
        raise ExportError(
            f"ONNX differs from Keras: {disagreements} argmax disagreements, "
            f"max |dp| = {max_diff:.2e} (allowed {contract.MAX_PROBABILITY_DIFF:.0e})"
        )
    return {"images": len(keras_probs), "argmax_disagreements": 0, "max_abs_probability_diff": max_diff}


def accuracy_report(probs: np.ndarray, labels: np.ndarray) -> dict:
    """Overall and per-class accuracy."""
    predicted = probs.argmax(1)
    per_class = {str(d): float((predicted[labels == d] == d).mean()) for d in range(contract.NUM_CLASSES)}
    return {
        "accuracy": float((predicted == labels).mean()),
        "errors": int((predicted != labels).sum()),
        "per_class_accuracy": per_class,
    }


def model_card(onnx_path: Path, classifier: Classifier, training: dict, test: dict, parity: dict) -> dict:
    """Everything a user of artifacts/model.onnx needs to know about it."""
    return {
        "name": "mnist-cnn-ensemble",
        "version": classifier.version,
        "sha256": classifier.sha256,
        "file": onnx_path.name,
        "file_bytes": onnx_path.stat().st_size,
        "opset": OPSET,
        "contract": {
            "input": {
                "name": contract.INPUT_NAME,
                "dtype": "float32",
                "shape": ["N", 28, 28, 1],
                "range": [0, 1],
                "polarity": "white digit on black (MNIST)",
            },
            "output": {"name": contract.OUTPUT_NAME, "dtype": "float32", "shape": ["N", 10], "activation": "softmax"},
        },
        "parameters": training["parameters"],
        "parameters_per_member": training["parameters_per_member"],
        "test": test,
        "validation_accuracy": training["validation"]["accuracy"],
        "member_test_accuracy": training["member_test_accuracy"],
        "parity_with_keras": parity,
        "training": training["config"],
        **({"fine_tuned": training["fine_tuned"]} if "fine_tuned" in training else {}),  # train.finetune's lineage
        "training_seconds": training["training_seconds"],
        "training_machine": training["machine"],
        "data_md5": mnist.data_md5s(),
        "libraries": {name: importlib.metadata.version(name) for name in LIBRARIES},
        "exported": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "measured": provenance.measured(),
    }


@reports_missing_data
def main() -> int:
    """Export build/model.keras to artifacts/model.onnx and artifacts/model.json."""
    test_images, test_labels = mnist.load_split("test")
    keras_path = BUILD_DIR / "model.keras"
    if not keras_path.is_file():
        print(f"{keras_path} is missing: run `make train` first", file=sys.stderr)
        return 1
    model = keras.models.load_model(keras_path)
    training = json.loads((BUILD_DIR / "training.json").read_text())
    onnx_path = ARTIFACTS_DIR / "model.onnx"
    to_onnx(model, onnx_path)

    x = contract.as_model_input(test_images)
    keras_probs = model.predict(x, batch_size=1000, verbose=0)
    classifier = Classifier(onnx_path)
    onnx_probs = classifier.predict_batched(x)
    try:
        parity = check_parity(keras_probs, onnx_probs)
    except ExportError as exc:
        onnx_path.unlink()
        print(f"export failed: {exc}", file=sys.stderr)
        return 1
    test = accuracy_report(onnx_probs, test_labels)
    card = model_card(onnx_path, classifier, training, test, parity)
    (ARTIFACTS_DIR / "model.json").write_text(json.dumps(card, indent=2) + "\n")
    print(
        f"wrote {onnx_path} ({card['file_bytes']:,} bytes) and its card (test figures there); "
        f"parity max |dp| {parity['max_abs_probability_diff']:.1e}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
