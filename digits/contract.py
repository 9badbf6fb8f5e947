"""The model contract: the one definition of what goes into and comes out of the model."""

from __future__ import annotations

import numpy as np

INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"
IMAGE_SIZE = 28
NUM_CLASSES = 10
INPUT_DTYPE = np.float32
# [N, 28, 28, 1], white digit on black, values in [0, 1]; N is dynamic.
INPUT_SHAPE = (None, IMAGE_SIZE, IMAGE_SIZE, 1)
OUTPUT_SHAPE = (None, NUM_CLASSES)
# The same weights in Keras and onnxruntime: float32 kernels differ by ~1e-7, so more is a wrong conversion.
MAX_PROBABILITY_DIFF = 1e-5


def as_model_input(images: np.ndarray) -> np.ndarray:
    """Turn uint8 [N,28,28] or float [N,28,28(,1)] images into the model's input tensor."""
    x = np.asarray(images)
    if x.dtype == np.uint8:
        x = x.astype(INPUT_DTYPE) / 255.0
    x = x.astype(INPUT_DTYPE, copy=False)
    if x.ndim == 3:
        x = x[..., None]
    if x.shape[1:] != INPUT_SHAPE[1:]:
        raise ValueError(f"expected images of shape [N, 28, 28(, 1)], got {list(x.shape)}")
    return x


# The number reader: a line of digits in, per-column-stripe class scores out (read with CTC).
LINE_INPUT_NAME = "line"
LINE_OUTPUT_NAME = "frames"
LINE_STRIDE = 2  # input columns per output frame; line widths are multiples of it
# [N, 28, W, 1], white on black in [0, 1], the digits 20 px high; N and W are dynamic.
LINE_INPUT_SHAPE = (None, IMAGE_SIZE, None, 1)
BLANK = 0  # frame class for "no new digit here"; class k + 1 is digit k
LINE_CLASSES = NUM_CLASSES + 1
# [N, R, W / LINE_STRIDE, 11]: each of R independently trained readers' frames, softmax over the classes.
LINE_OUTPUT_SHAPE = (None, None, None, LINE_CLASSES)


def as_line_input(lines: np.ndarray) -> np.ndarray:
    """Turn float [N,28,W(,1)] lines into the reader's input tensor."""
    x = np.asarray(lines, dtype=INPUT_DTYPE)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[1] != IMAGE_SIZE or x.shape[2] % LINE_STRIDE or x.shape[3] != 1:
        raise ValueError(f"expected lines of shape [N, 28, {LINE_STRIDE}k(, 1)], got {list(x.shape)}")
    return x


def check_session(session) -> None:
    """Raise ValueError unless an onnxruntime session's graph matches the contract."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    problems = []
    if [i.name for i in inputs] != [INPUT_NAME]:
        problems.append(f"inputs are {[i.name for i in inputs]}, expected [{INPUT_NAME!r}]")
    elif inputs[0].type != "tensor(float)" or len(inputs[0].shape) != 4 or list(inputs[0].shape[1:]) != [28, 28, 1]:
        problems.append(f"input is {inputs[0].type} {inputs[0].shape}, expected float [N, 28, 28, 1]")
    elif isinstance(inputs[0].shape[0], int):
        problems.append(f"input batch dimension is fixed at {inputs[0].shape[0]}, expected dynamic")
    if [o.name for o in outputs] != [OUTPUT_NAME]:
        problems.append(f"outputs are {[o.name for o in outputs]}, expected [{OUTPUT_NAME!r}]")
    elif outputs[0].type != "tensor(float)" or len(outputs[0].shape) != 2 or outputs[0].shape[1] != NUM_CLASSES:
        problems.append(f"output is {outputs[0].type} {outputs[0].shape}, expected float [N, 10]")
    if problems:
        raise ValueError("model breaks the contract: " + "; ".join(problems))


def check_line_session(session) -> None:
    """Raise ValueError unless an onnxruntime session's graph matches the number reader's contract."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    names = ([i.name for i in inputs], [o.name for o in outputs])
    if names != ([LINE_INPUT_NAME], [LINE_OUTPUT_NAME]):
        raise ValueError(f"reader breaks the contract: inputs, outputs are {names}")
    shape_in, shape_out = inputs[0].shape, outputs[0].shape
    if inputs[0].type != "tensor(float)" or len(shape_in) != 4 or shape_in[1] != IMAGE_SIZE or shape_in[3] != 1:
        raise ValueError(f"reader input is {inputs[0].type} {shape_in}, expected float [N, 28, W, 1]")
    if isinstance(shape_in[2], int) or len(shape_out) != 4 or shape_out[3] != LINE_CLASSES:
        expected = f"[N, R, W/{LINE_STRIDE}, 11], W dynamic"
        raise ValueError(f"reader output is {shape_out} for input {shape_in}, expected {expected}")
    # The frame width is not in the graph's declared shapes: a line of 8 frames must answer 8 frames.
    probe = np.zeros((1, IMAGE_SIZE, 8 * LINE_STRIDE, 1), dtype=INPUT_DTYPE)
    frames = session.run([LINE_OUTPUT_NAME], {LINE_INPUT_NAME: probe})[0]
    if frames.ndim != 4 or frames.shape[0] != 1 or frames.shape[1] < 1 or frames.shape[2:] != (8, LINE_CLASSES):
        expected = "[1, R, 8, 11]"
        raise ValueError(f"reader answers {list(frames.shape)} for a line {probe.shape[2]} wide, expected {expected}")
