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
