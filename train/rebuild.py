"""Keras members rebuilt from an ONNX ensemble that tf2onnx exported: its weights back in the training architecture.

No Keras file of a shipped model is kept; its ONNX file is. tf2onnx folds a batch-norm that follows a 2-D
convolution into the convolution's weights and bias, and leaves one after a 1-D convolution as a scale and
an offset. The rebuilt member takes the folded weights, and each batch-norm becomes a frozen layer doing
exactly what the ONNX graph does there (identity plus bias, or the scale and offset), so it reads as the
ONNX file does; the fine-tuning stages check that, then train each member with `fine_tune`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import onnx
from keras import layers
from onnx import numpy_helper

# tf2onnx keeps Keras' scopes in weight names: ".../member_2_1/conv2d_14_1/..." is member 2's.
MEMBER_SCOPE = re.compile(r"/([A-Za-z_]+)_(\d+)_1/")


def onnx_members(path: Path) -> tuple[str, list[list[tuple[str, list[np.ndarray]]]]]:
    """The members' scope name (as Keras named them) and each member's weighted steps in graph order:
    ("conv", [OIHW kernel, bias or none]), ("scale", [mul, add]), ("dense", [kernel, bias]).
    """
    graph = onnx.load(path).graph
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    kernels = [MEMBER_SCOPE.search(node.input[1]) for node in graph.node if node.op_type == "Conv"]
    if not kernels or not kernels[0]:
        raise ValueError(f"{path}: no convolution named after a Keras member (scope_k)")
    scope = kernels[0].group(1)
    members: dict[int, list] = {}
    for node in graph.node:
        constants = [values[name] for name in node.input if name in values]
        if node.op_type not in ("Conv", "Mul", "MatMul", "Add") or not constants:
            continue  # shapes and reshapes carry constants too, but no weights
        # By its weights' names: an activation may carry another member's name (tf2onnx shares the input's transpose).
        # A folded constant may have no name of its own: then the node's other names.
        named = [name for name in node.input if name in values and f"/{scope}_" in name] or [
            name for name in list(node.input) + list(node.output) if f"/{scope}_" in name
        ]
        if not named:
            continue
        steps = members.setdefault(int(named[0].split(f"/{scope}_")[1].split("_")[0]), [])
        last = steps[-1] if steps else ("", [])
        if node.op_type == "Conv":
            steps.append(("conv", [values[node.input[1]], values.get(node.input[2]) if len(node.input) > 2 else None]))
        elif node.op_type == "Mul":
            steps.append(("scale", [constants[0].reshape(-1)]))
        elif node.op_type == "MatMul":
            steps.append(("dense", [constants[0]]))
        elif node.op_type == "Add" and last[0] in ("scale", "dense") and len(last[1]) == 1:
            last[1].append(constants[0].reshape(-1))
        else:
            raise ValueError(f"{path}: a weighted {node.op_type} node this rebuild does not know ({node.name})")
    return scope, [members[k] for k in sorted(members)]


def load_weights(model: keras.Model, steps: list[tuple[str, list[np.ndarray]]]) -> keras.Model:
    """Set a member's weights from its ONNX steps, in layer order; its batch-norms frozen as what ONNX computes."""
    queue, bias = list(steps), None
    for layer in model.layers:
        if isinstance(layer, (layers.Conv1D, layers.Conv2D)):
            kind, (kernel, bias) = queue.pop(0)
            _expect(kind, "conv", layer)
            if isinstance(layer, layers.Conv1D):  # tf2onnx writes it as a 2-D convolution of height 1: O, I, 1, K
                layer.set_weights([kernel[:, :, 0, :].transpose(2, 1, 0)])
            else:
                layer.set_weights([kernel.transpose(2, 3, 1, 0)])  # ONNX OIHW -> Keras HWIO
        elif isinstance(layer, layers.BatchNormalization):
            if bias is not None:  # folded into the convolution: the identity, plus the folded bias
                scale, offset = np.ones_like(bias), bias
            else:
                kind, (scale, offset) = queue.pop(0)
                _expect(kind, "scale", layer)
            # Inference mode computes scale * (x - 0) / sqrt(var + eps) + offset: var = 1 - eps makes it exact.
            layer.set_weights([scale, offset, np.zeros_like(scale), np.full_like(scale, 1 - layer.epsilon)])
            layer.trainable = False  # frozen, so it stays what the ONNX graph computes
            bias = None
        elif isinstance(layer, layers.Dense):
            kind, weights = queue.pop(0)
            _expect(kind, "dense", layer)
            layer.set_weights(weights)
    if queue:
        raise ValueError(f"{len(queue)} weighted steps of the ONNX member left over after {model.name}")
    return model


def rebuilt_members(path: Path, build: Callable[[str], keras.Model]) -> list[keras.Model]:
    """Every member of the ONNX ensemble at `path`, rebuilt by `build(name)` under its own name, with its weights."""
    scope, members = onnx_members(path)
    return [load_weights(build(f"{scope}_{k}"), steps) for k, steps in enumerate(members)]


def fine_tune(
    model: keras.Model, train, val, config, loss, learning_rate: float, seed: int, metrics: tuple[str, ...] = ()
) -> dict:
    """config.epochs epochs from learning_rate, times config.lr_decay_per_epoch each epoch; the history.

    The last epoch's weights are kept: no selection per member.
    """
    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=list(metrics))
    rate = keras.callbacks.LearningRateScheduler(lambda epoch: learning_rate * config.lr_decay_per_epoch**epoch)
    history = model.fit(train, validation_data=val, epochs=config.epochs, callbacks=[rate], verbose=2)
    return {k: [float(v) for v in vals] for k, vals in history.history.items()}


def _expect(kind: str, wanted: str, layer: layers.Layer) -> None:
    if kind != wanted:
        raise ValueError(f"the ONNX member has a {kind} step where the architecture has {layer.name}")
