"""The CTC line model: its contract, CTC decoding, line normalisation and a tiny train -> export run."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image

from digits import artifacts, contract, line_model, preprocess
from digits.line_model import DEFAULT_LINE_MODEL, LineModel
from tests.conftest import run_stage

ROOT = Path(__file__).resolve().parent.parent


def frames_for(classes: list[int]) -> np.ndarray:
    """Frame probabilities that put 0.9 on each listed class in turn."""
    frames = np.full((len(classes), contract.LINE_CLASSES), 0.01, dtype=np.float32)
    frames[np.arange(len(classes)), classes] = 0.9
    return frames


def test_greedy_decoding_collapses_runs_and_drops_blanks() -> None:
    b = contract.BLANK
    reads = line_model.ctc_greedy(
        frames_for([b, 5, 5, b, 2, b, b, 2, 8, 8, b])
    )  # "4 1 1 7": repeated digits need a blank
    assert [r.digit for r in reads] == [4, 1, 1, 7]
    assert [(r.first, r.last) for r in reads] == [(1, 2), (4, 4), (7, 7), (8, 9)]
    middles = [2, 4.5, 7.5, 9]  # the middle of its frames, in frames...
    assert [r.centre for r in reads] == [m * contract.LINE_STRIDE for m in middles]  # ...and in line columns
    assert all(abs(r.probabilities.sum() - 1) < 1e-6 and r.probabilities.argmax() == r.digit for r in reads)
    assert line_model.ctc_greedy(frames_for([b, b, b])) == []


@pytest.mark.parametrize("digits", [[2], [3, 3], [1, 4, 1], []])
def test_ctc_likelihood_sums_every_alignment(digits: list[int]) -> None:
    frames = np.random.default_rng(len(digits)).random((6, contract.LINE_CLASSES))
    frames /= frames.sum(axis=1, keepdims=True)
    classes = [contract.BLANK, *sorted({d + 1 for d in digits})]  # other classes cannot collapse to `digits`
    total = 0.0
    for path in itertools.product(classes, repeat=len(frames)):  # every frame labelling, collapsed as CTC does
        collapsed = [c - 1 for k, c in enumerate(path) if c != contract.BLANK and (k == 0 or path[k - 1] != c)]
        if collapsed == digits:
            total += np.prod(frames[np.arange(len(frames)), path])
    assert line_model.log_likelihood(frames, digits) == pytest.approx(np.log(total), abs=1e-9)


def test_views_stretch_and_shift_the_line_to_one_width() -> None:
    line = np.zeros((28, 40), dtype=np.float32)
    line[4:24, 10:14] = 1.0  # one upright bar, 4 px wide
    views = line_model.views(line)
    assert views.shape == (len(line_model.VIEWS), 28, views.shape[2])
    assert views.shape[2] % contract.LINE_STRIDE == 0 and not views[:, :, -contract.LINE_STRIDE :].any()
    assert np.array_equal(views[0, :, :40], line)  # the first view is the line itself
    starts = [np.flatnonzero(v.max(axis=0) > 0.5)[0] for v in views]
    stretched = [10 * stretch + shift for stretch, shift in line_model.VIEWS]
    assert np.allclose(starts, stretched, atol=1.5)


def test_consensus_takes_the_reading_the_views_agree_on() -> None:
    b = contract.BLANK
    extra_one = frames_for([b, 5, b, 2, b, b])  # two views read "4 1"...
    plain = frames_for([b, b, 5, 5, b, b])  # ...four read "4"
    views = np.stack([extra_one, extra_one, plain, plain, plain, plain])
    assert len(views) == len(line_model.VIEWS)
    reads = line_model.consensus(views)
    assert [r.digit for r in reads] == [4] and (reads[0].first, reads[0].last) == (2, 3)
    stretch, shift = line_model.VIEWS[2]  # the first view that reads "4": its centre, back in the line's columns
    assert reads[0].centre == pytest.approx((3 * contract.LINE_STRIDE - shift) / stretch)
    expected = np.mean([line_model.log_likelihood(v, [4]) for v in views])
    assert line_model.joint_log_likelihood(views, [4]) == pytest.approx(expected)
    assert line_model.joint_log_likelihood(views, [4]) > line_model.joint_log_likelihood(views, [4, 1])
    # Three members' views, member by member: the first reads "4", the other two "4 1" in every view.
    pooled = line_model.consensus(np.stack([plain] * 6 + [extra_one] * 12))
    assert [r.digit for r in pooled] == [4, 1]
    assert pooled[0].centre == 1.5 * contract.LINE_STRIDE  # read in the second member's first view, unstretched


def test_shipped_line_model_honours_the_line_contract() -> None:
    graph = onnx.load(DEFAULT_LINE_MODEL).graph
    assert [i.name for i in graph.input] == [contract.LINE_INPUT_NAME]
    assert [o.name for o in graph.output] == [contract.LINE_OUTPUT_NAME]
    session = LineModel()  # checks the contract on load
    members = json.loads((ROOT / "artifacts" / "line_model.json").read_text())["members"]
    for width in (28, 64, 300):
        stride = contract.LINE_STRIDE
        frames = session.frames(np.zeros((2, 28, width - width % stride), dtype=np.float32))
        assert frames.shape == (2, members, width // stride, contract.LINE_CLASSES)
        assert np.allclose(frames.sum(axis=3), 1, atol=1e-5)


def test_line_frames_are_every_members_views_member_by_member() -> None:
    session, line = LineModel(), np.zeros((28, 40), dtype=np.float32)
    line[4:24, 10:14] = 1.0
    frames = session.frames(line_model.views(line))  # [views, R, T, 11]
    pooled = session.line_frames(line)
    assert pooled.shape == (frames.shape[1] * len(line_model.VIEWS), *frames.shape[2:])
    for k in range(frames.shape[1]):
        assert np.array_equal(pooled[k * len(line_model.VIEWS) : (k + 1) * len(line_model.VIEWS)], frames[:, k])


def test_contract_refuses_lines_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match=f"{contract.LINE_STRIDE}k"):
        contract.as_line_input(np.zeros((1, 28, 4 * contract.LINE_STRIDE + 1)))
    with pytest.raises(ValueError, match=f"{contract.LINE_STRIDE}k"):
        contract.as_line_input(np.zeros((1, 20, 32)))


def enlarged(pixels: np.ndarray, factor: int) -> np.ndarray:
    """Float pixels scaled up `factor` times, smoothly, as a user-sized drawing of them."""
    image = Image.fromarray(pixels.astype(np.float32))
    return np.asarray(image.resize((image.width * factor, image.height * factor), Image.Resampling.BILINEAR))


def pooling_line_model(path: Path, frame_width: int) -> Path:
    """A stand-in line model graph that honours the declared shapes but gives one frame per `frame_width` columns."""
    window = [28, frame_width]  # the whole height, one frame's columns
    nodes = [
        helper.make_node("Transpose", ["line"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("AveragePool", ["nchw"], ["pooled"], kernel_shape=window, strides=window),
        helper.make_node("Reshape", ["pooled", "to_frames"], ["column"]),
        helper.make_node("MatMul", ["column", "to_classes"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["frames"], axis=-1),
    ]
    constants = [
        helper.make_tensor("to_frames", TensorProto.INT64, [4], [0, 1, -1, 1]),  # one member
        helper.make_tensor("to_classes", TensorProto.FLOAT, [1, contract.LINE_CLASSES], [1.0] * contract.LINE_CLASSES),
    ]
    graph = helper.make_graph(
        nodes,
        "pooling_line_model",
        [helper.make_tensor_value_info("line", TensorProto.FLOAT, ["N", 28, "W", 1])],
        [helper.make_tensor_value_info("frames", TensorProto.FLOAT, ["N", 1, "T", contract.LINE_CLASSES])],
        constants,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_contract_refuses_a_line_model_whose_frames_are_another_width(tmp_path: Path) -> None:
    LineModel(pooling_line_model(tmp_path / "same.onnx", contract.LINE_STRIDE))  # the stand-in itself is accepted
    with pytest.raises(ValueError, match="expected \\[1, R, 8, 11\\]"):
        LineModel(pooling_line_model(tmp_path / "wider.onnx", 2 * contract.LINE_STRIDE))


def test_line_normalisation_gives_20px_high_ink_in_28_rows(mnist_test) -> None:
    images, _ = mnist_test
    pair = np.hstack([images[0], images[1]]).astype(np.float32) / 255
    big = enlarged(pair, 5)  # a user-sized drawing
    line = preprocess.normalize_line(big, big > 0.35)
    rows = np.flatnonzero(line.max(axis=1) > 0.05)
    assert line.shape[0] == 28 and line.shape[1] % contract.LINE_STRIDE == 0 and line.max() == 1.0
    assert 19 <= rows[-1] - rows[0] + 1 <= 21 and rows[0] >= 3


def test_shipped_line_model_reads_touching_mnist_test_digits(mnist_test) -> None:
    images, labels = mnist_test
    session, rng, right = LineModel(), np.random.default_rng(5), 0
    for _ in range(50):
        picks = rng.choice(len(images), size=3, replace=False)
        row = np.zeros((28, 3 * 20 + 8), dtype=np.float32)
        for k, i in enumerate(picks):  # 28 px digits 20 px apart: neighbours overlap
            np.maximum(row[:, k * 20 : k * 20 + 28], images[i] / 255, out=row[:, k * 20 : k * 20 + 28])
        big = enlarged(row, 4)
        reads = session.read(preprocess.normalize_line(big, big > 0.35))
        right += [r.digit for r in reads] == list(labels[picks])
    assert right >= 40, f"{right} of 50 three-digit lines read exactly"


@pytest.mark.slow
def test_tiny_line_model_train_then_export(mnist_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "LINE_MEMBERS": "2", "LINE_EPOCHS": "2", "LINES": "600", "PEN_DIGITS": "200",
           "VALIDATION_LINES": "100",
           "OUT_DIR": str(tmp_path), "ARTIFACTS_DIR": str(tmp_path), "MNIST_DIR": str(mnist_dir)}  # fmt: skip
    train = run_stage("train.line_model", env)
    assert train.returncode == 0, train.stdout[-2000:] + train.stderr[-2000:]
    report = json.loads((tmp_path / "line_model_training.json").read_text())
    assert [m["seed"] for m in report["members"]] == [report["config"]["seed"], report["config"]["seed"] + 1]
    assert all(m["history"]["loss"][1] < m["history"]["loss"][0] for m in report["members"]), "the members learn"
    export = run_stage("export.line_model", env)
    assert export.returncode == 0, export.stdout[-2000:] + export.stderr[-2000:]
    card = json.loads((tmp_path / "line_model.json").read_text())
    assert card["parity_with_keras"]["reading_disagreements"] == 0
    assert card["parity_with_keras"]["max_abs_probability_diff"] <= 1e-5
    assert card["members"] == 2
    frames = LineModel(tmp_path / "line_model.onnx").frames(
        np.zeros((1, 28, 40), dtype=np.float32)
    )  # checks the contract
    assert frames.shape == (1, 2, 20, contract.LINE_CLASSES)
    from train import line_model as training
    from train import rebuild

    # What `make finetune-line-model` starts from: the members rebuilt from a fresh export read as it.
    members = rebuild.rebuilt_members(tmp_path / "line_model.onnx", training.build_member)
    lines = (np.random.default_rng(4).random((4, 28, 64)) > 0.8).astype(np.float32)
    logits = training.stack_members(members).predict(lines[..., None], verbose=0)
    rebuilt = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    exported = LineModel(tmp_path / "line_model.onnx").frames(lines)
    assert np.abs(rebuilt - exported).max() <= contract.MAX_PROBABILITY_DIFF


def test_amount_marks_are_drawn_where_asked_and_widen_the_lines(mnist_test) -> None:
    """Separators and trailing marks are drawn where asked, beside the digits, and widen the lines."""
    from train import line_model as training

    rng = np.random.default_rng(5)
    for char in training.SEPARATORS + training.TRAILING:
        canvas = np.zeros((88, 200), dtype=np.float32)
        width = training.mark(canvas, char, 50.0, 40.0, rng)
        columns = np.flatnonzero(canvas.max(axis=0) > 0.35)
        assert 0 < width < 1.6 * 40 and columns.size, char  # ".-" is two marks
        assert columns.min() >= 50 - 8 and columns.max() <= 50 + width + 8, f"{char} drawn where it was asked"
    images, labels = mnist_test
    digits = images[:300] / np.float32(255)
    plain, _ = training.make_lines(digits, labels[:300], 60, seed=9)
    marked, _ = training.make_lines(digits, labels[:300], 60, seed=9, marks=1.0)
    ink = lambda lines: np.mean([np.flatnonzero(line.any(axis=0)).size for line in lines])  # noqa: E731
    assert ink(marked) > ink(plain), "the marks widen the lines"


def test_served_line_model_is_the_int8_quantisation_of_the_float_model(mnist_test) -> None:
    """The served file is quantised (int8 weights, QDQ), made from the float file its card names, and reads alike."""
    assert DEFAULT_LINE_MODEL == artifacts.LINE_MODEL_INT8
    graph = onnx.load(DEFAULT_LINE_MODEL).graph
    assert {"QuantizeLinear", "DequantizeLinear"} <= {node.op_type for node in graph.node}
    assert any(w.data_type == TensorProto.INT8 for w in graph.initializer)
    card = json.loads(artifacts.LINE_MODEL_CARD.read_text())
    served, original = LineModel(), LineModel(artifacts.LINE_MODEL)
    assert card["quantization"]["float_model"]["version"] == original.version and card["version"] == served.version
    images, _ = mnist_test
    rng = np.random.default_rng(3)
    same = 0
    for _ in range(40):  # three-digit lines, neighbours overlapping, both models reading every view
        picks = rng.integers(0, len(images), size=3)
        row = np.zeros((28, 68), dtype=np.float32)
        for k, i in enumerate(picks):
            np.maximum(row[:, k * 20 : k * 20 + 28], images[i] / 255, out=row[:, k * 20 : k * 20 + 28])
        line = preprocess.normalize_line(row, row > 0.35)
        same += [r.digit for r in served.read(line)] == [r.digit for r in original.read(line)]
    assert same >= 38, f"{same} of 40 lines read the same"
