"""The shipped ONNX model: the contract, and its accuracy on the real MNIST test set (onnxruntime only)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from digits import artifacts, contract
from digits.classifier import DEFAULT_MODEL, Classifier

CARD = artifacts.CLASSIFIER_CARD


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier()


def test_onnx_graph_honours_the_contract() -> None:
    graph = onnx.load(DEFAULT_MODEL).graph
    assert [i.name for i in graph.input] == [contract.INPUT_NAME]
    assert [o.name for o in graph.output] == [contract.OUTPUT_NAME]
    (image,), (probabilities,) = graph.input, graph.output
    assert image.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    dims = image.type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [28, 28, 1]
    out_dims = probabilities.type.tensor_type.shape.dim
    assert out_dims[0].dim_param and out_dims[1].dim_value == 10


@pytest.mark.parametrize("batch", [1, 7, 256])
def test_dynamic_batch_and_softmax(classifier: Classifier, batch: int) -> None:
    x = np.random.default_rng(batch).random((batch, 28, 28, 1), dtype=np.float32)
    p = classifier.predict(x)
    assert p.shape == (batch, 10) and p.dtype == np.float32
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-5) and (p >= 0).all()


def test_contract_checker_rejects_wrong_graphs() -> None:
    class Arg:
        def __init__(self, name, shape, type_="tensor(float)"):
            self.name, self.shape, self.type = name, shape, type_

    class Session:
        def __init__(self, inputs, outputs):
            self._i, self._o = inputs, outputs

        def get_inputs(self):
            return self._i

        def get_outputs(self):
            return self._o

    good_in, good_out = Arg("image", ["N", 28, 28, 1]), Arg("probabilities", ["N", 10])
    contract.check_session(Session([good_in], [good_out]))
    for inputs, outputs, words in [
        ([Arg("input_1", ["N", 28, 28, 1])], [good_out], "inputs are"),
        ([Arg("image", [1, 28, 28, 1])], [good_out], "fixed"),
        ([Arg("image", ["N", 1, 28, 28])], [good_out], "expected float [N, 28, 28, 1]"),
        ([good_in], [Arg("probabilities", ["N", 10], "tensor(double)")], "expected float [N, 10]"),
        ([good_in], [Arg("logits", ["N", 10])], "outputs are"),
    ]:
        with pytest.raises(ValueError, match=words.replace("[", r"\[")):
            contract.check_session(Session(inputs, outputs))


# The shipped model's measured floor. The 99.70% target is not reached yet (docs/experiments.md); this
# guards against shipping anything worse than what was measured.
SHIPPED_TEST_ACCURACY_FLOOR = 0.9965


def test_shipped_model_accuracy_on_mnist_test(classifier: Classifier, mnist_test) -> None:
    images, labels = mnist_test
    predicted = classifier.predict_batched(images).argmax(axis=1)
    accuracy = float((predicted == labels).mean())
    assert accuracy >= SHIPPED_TEST_ACCURACY_FLOOR, f"test accuracy {accuracy:.4%}"
    card = json.loads(CARD.read_text())
    assert card["test"]["accuracy"] == pytest.approx(accuracy, abs=1e-9), "the model card states what was measured"


def test_model_card_is_complete(classifier: Classifier) -> None:
    card = json.loads(CARD.read_text())
    assert card["sha256"] == classifier.sha256
    assert card["file_bytes"] == DEFAULT_MODEL.stat().st_size
    assert len(card["test"]["per_class_accuracy"]) == 10
    assert card["parameters_per_member"] <= 400_000
    assert (
        card["parity_with_keras"]["images"] == 10000 and card["parity_with_keras"]["max_abs_probability_diff"] <= 1e-5
    )
    assert set(card["data_md5"].values()) == {
        "f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
        "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c",
    }  # fmt: skip
    for key in ("opset", "libraries", "training", "training_seconds", "exported"):
        assert card[key]


def test_served_model_is_the_int8_quantisation_of_the_float_model(classifier: Classifier, mnist_test) -> None:
    """The served file is quantised (int8 weights, QDQ), made from the float file the card names, and as good."""
    assert DEFAULT_MODEL == artifacts.CLASSIFIER_INT8
    graph = onnx.load(DEFAULT_MODEL).graph
    ops = {node.op_type for node in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert any(w.data_type == onnx.TensorProto.INT8 for w in graph.initializer)
    card = json.loads(CARD.read_text())["quantization"]
    original = Classifier(artifacts.CLASSIFIER)
    assert card["float_model"]["sha256"] == original.sha256
    images, labels = mnist_test
    float_read = original.predict_batched(images).argmax(1)
    int8_read = classifier.predict_batched(images).argmax(1)
    assert float((float_read == labels).mean()) == pytest.approx(card["float_model"]["test"]["accuracy"], abs=1e-9)
    agreement = float((float_read == int8_read).mean())
    assert agreement == pytest.approx(card["argmax_agreement_with_float"], abs=1e-9) and agreement >= 0.9995
    assert (int8_read == labels).mean() >= (float_read == labels).mean() - 0.0002


def test_model_card_carries_the_real_handwriting_figures_of_this_model() -> None:
    card = json.loads(CARD.read_text())
    real = json.loads((CARD.parent / "evaluation_real.json").read_text())
    assert card["real_handwriting"]["measured"] == real["measured"]  # `make evaluate` after `make export`
    assert real["measured"]["date"] >= card["exported"][:10], "the real-handwriting figures predate this model"
    for kind, row in real["kinds"].items():
        assert card["real_handwriting"]["accuracy"][kind] == {"digits": row["digits"], "accuracy": row["accuracy"]}
