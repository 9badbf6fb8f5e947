"""Train an ensemble of compact CNNs on MNIST and write the Keras model, metrics and plots.

Reads top to bottom: data, augmentation, model, training, one final test evaluation.
Knobs come from the environment so tests can run a tiny training: EPOCHS, MEMBERS, SUBSET, OUT_DIR; CORRECTIONS
names a folder of people's corrections (python -m digits.corrections export DIR) to train on too.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras
import tensorflow as tf
from keras import layers

from datasets import mnist, redraws, reports_missing_data, unipen
from digits import contract, corrections
from train import plots

ROOT = Path(__file__).resolve().parent.parent


# --- Hyper-parameters -------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run; the model card records it with asdict()."""

    seed: int = 20261205  # weights, shuffling and augmentation; the data split has its own fixed seed
    epochs: int = 12
    members: int = 3  # averaged inside one graph: errors of members differ
    subset: int = 0  # 0 = all 55k training images; small values make tests fast
    redraws: int = 20000  # pen-redrawn training digits (datasets/redraws.py): users draw, MNIST was scanned
    unipen: int = 20000  # renders of real pen digits of the UNIPEN training sites ($UNIPEN_DIR), styles added
    unipen_weight: float = 1.0  # their weight in the loss: below 1 leaves MNIST the larger pull
    corrections: str = ""  # a folder exported by digits.corrections: people's "it's a 7", added to training only
    widths: tuple[int, int, int] = (32, 64, 128)  # filters at 28, 12 and 4 px: the digit's parts, then its shape
    validation_size: int = mnist.VALIDATION_SIZE
    batch_size: int = 128
    learning_rate: float = 2e-3
    lr_decay_per_epoch: float = 0.8  # exponential decay: large steps early, fine-tuning late
    dropout: float = 0.4
    bn_momentum: float = 0.9  # moving statistics must keep up with fast early weight changes
    max_rotation_deg: float = 12  # people write slanted; more than ~15 turns 6s into 9s
    max_zoom: float = 0.12
    max_shift_px: float = 2.5
    max_shear: float = 0.15
    selection: str = "per member, the epoch with the best validation accuracy"

    @classmethod
    def from_env(cls) -> TrainConfig:
        """The defaults, overridden by SEED, EPOCHS, MEMBERS, SUBSET, REDRAWS, UNIPEN(_WEIGHT), WIDTHS, CORRECTIONS."""
        knobs = {
            "seed": "SEED",
            "epochs": "EPOCHS",
            "members": "MEMBERS",
            "subset": "SUBSET",
            "redraws": "REDRAWS",
            "unipen": "UNIPEN",
        }
        settings = {name: int(os.environ[var]) for name, var in knobs.items() if var in os.environ}
        if "UNIPEN_WEIGHT" in os.environ:
            settings["unipen_weight"] = float(os.environ["UNIPEN_WEIGHT"])
        if "WIDTHS" in os.environ:  # e.g. WIDTHS=32,96,192
            settings["widths"] = tuple(int(w) for w in os.environ["WIDTHS"].split(","))
        if os.environ.get("CORRECTIONS"):
            settings["corrections"] = os.environ["CORRECTIONS"]
        return cls(**settings)


CONFIG = TrainConfig.from_env()
OUT_DIR = Path(os.environ.get("OUT_DIR", ROOT / "build"))  # Keras model; gitignored
ARTIFACTS_DIR = Path(os.environ.get("ARTIFACTS_DIR", ROOT / "artifacts"))  # metrics and plots


def split_train_validation(images: np.ndarray, labels: np.ndarray) -> tuple:
    """The fixed train/validation split; CONFIG.subset shrinks both for quick runs."""
    train_idx, val_idx = mnist.train_validation_indices(len(images))
    if CONFIG.subset:
        train_idx, val_idx = train_idx[: CONFIG.subset], val_idx[: max(CONFIG.subset // 5, 100)]
    return (images[train_idx], labels[train_idx]), (images[val_idx], labels[val_idx])


def random_affine(images: tf.Tensor) -> tf.Tensor:
    """Rotate, zoom, shear and shift a batch; the same ops users' handwriting varies in."""
    n = tf.shape(images)[0]
    angle = tf.random.uniform([n], -1.0, 1.0) * CONFIG.max_rotation_deg * math.pi / 180
    scale = 1.0 + tf.random.uniform([n], -CONFIG.max_zoom, CONFIG.max_zoom)
    shear = tf.random.uniform([n], -CONFIG.max_shear, CONFIG.max_shear)
    tx = tf.random.uniform([n], -CONFIG.max_shift_px, CONFIG.max_shift_px)
    ty = tf.random.uniform([n], -CONFIG.max_shift_px, CONFIG.max_shift_px)
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    # Output pixel (x, y) samples input (a0 x + a1 y + a2, b0 x + b1 y + b2), about the centre c.
    a0, a1 = cos, sin + shear
    b0, b1 = -sin, cos
    c = (contract.IMAGE_SIZE - 1) / 2
    a2 = c - a0 * c - a1 * c - tx
    b2 = c - b0 * c - b1 * c - ty
    zeros = tf.zeros([n])
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=[contract.IMAGE_SIZE, contract.IMAGE_SIZE],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def make_dataset(
    images: np.ndarray, labels: np.ndarray, training: bool, weights: np.ndarray | None = None
) -> tf.data.Dataset:
    """Batched tf.data pipeline; augmentation runs here, never inside the exported model."""
    weights = np.ones(len(labels), np.float32) if weights is None else weights.astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((contract.as_model_input(images), labels.astype(np.int32), weights))
    if training:
        ds = ds.shuffle(len(images), seed=CONFIG.seed, reshuffle_each_iteration=True)
    ds = ds.batch(CONFIG.batch_size)
    if training:
        ds = ds.map(lambda x, y, w: (random_affine(x), y, w), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def conv_bn(x: tf.Tensor, filters: int, kernel: int | tuple, strides: int = 1, padding: str = "valid") -> tf.Tensor:
    """Convolution, batch-norm, ReLU: bias is redundant before batch-norm."""
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False)(x)
    x = layers.BatchNormalization(momentum=CONFIG.bn_momentum)(x)
    return layers.ReLU()(x)


def build_member(name: str) -> keras.Model:
    """One compact CNN (~330k parameters, ~15M multiply-adds at default widths): two convolutions per scale."""
    small, medium, whole = CONFIG.widths
    inputs = keras.Input(shape=contract.INPUT_SHAPE[1:], name=contract.INPUT_NAME)
    x = conv_bn(inputs, small, 3)  # 26x26
    x = conv_bn(x, small, 3)  # 24x24
    x = conv_bn(x, small, 5, strides=2, padding="same")  # 12x12: a learned downsampling, not a fixed pool
    x = layers.Dropout(CONFIG.dropout / 2)(x)
    x = conv_bn(x, medium, 3)  # 10x10
    x = conv_bn(x, medium, 3)  # 8x8
    x = conv_bn(x, medium, 5, strides=2, padding="same")  # 4x4
    x = layers.Dropout(CONFIG.dropout / 2)(x)
    x = conv_bn(x, whole, 4)  # 1x1: sees the whole digit
    x = layers.Flatten()(x)
    x = layers.Dropout(CONFIG.dropout)(x)
    outputs = layers.Dense(contract.NUM_CLASSES, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=name)


def build_ensemble(members: list[keras.Model]) -> keras.Model:
    """Average the members' probabilities inside one model with the contract's names."""
    inputs = keras.Input(shape=contract.INPUT_SHAPE[1:], name=contract.INPUT_NAME)
    outputs = [m(inputs) for m in members]
    if len(outputs) == 1:
        averaged = layers.Identity(name=contract.OUTPUT_NAME)(outputs[0])
    else:
        averaged = layers.Average(name=contract.OUTPUT_NAME)(outputs)
    return keras.Model(inputs, averaged, name="mnist_ensemble")


def train_member(index: int, train_ds: tf.data.Dataset, val_ds: tf.data.Dataset) -> tuple[keras.Model, dict]:
    """Train one member; keep the weights of its best validation epoch."""
    keras.utils.set_random_seed(CONFIG.seed + index)
    model = build_member(f"member_{index}")
    model.compile(
        optimizer=keras.optimizers.Adam(CONFIG.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    callbacks = [
        keras.callbacks.LearningRateScheduler(lambda epoch: CONFIG.learning_rate * CONFIG.lr_decay_per_epoch**epoch),
        # patience=CONFIG.epochs never stops early; it only restores the best validation epoch.
        keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=CONFIG.epochs, restore_best_weights=True),
    ]
    print(f"\nMember {index + 1}/{CONFIG.members}: {model.count_params():,} parameters", flush=True)
    history = model.fit(train_ds, validation_data=val_ds, epochs=CONFIG.epochs, callbacks=callbacks, verbose=1)
    return model, {k: [float(v) for v in vals] for k, vals in history.history.items()}


def evaluate(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy, per-class accuracy and confusion matrix of a model on a labelled set."""
    probs = model.predict(contract.as_model_input(images), batch_size=1000, verbose=0)
    predicted = probs.argmax(axis=1)
    confusion = np.zeros((contract.NUM_CLASSES, contract.NUM_CLASSES), dtype=int)
    np.add.at(confusion, (labels, predicted), 1)
    per_class = confusion.diagonal() / confusion.sum(axis=1)
    return {
        "accuracy": float((predicted == labels).mean()),
        "errors": int((predicted != labels).sum()),
        "per_class_accuracy": {str(d): float(a) for d, a in enumerate(per_class)},
        "confusion_matrix": confusion.tolist(),
    }


def training_set(
    x_train: np.ndarray, y_train: np.ndarray, samples: list, corrected: tuple | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    """MNIST's training split plus the pen redraws, the UNIPEN renders and corrections: images, labels, weights."""
    weights = None  # every training image counts the same, unless the renders are weighted
    count = min(CONFIG.redraws, CONFIG.subset // 4) if CONFIG.subset else CONFIG.redraws
    if count:
        print(f"redrawing {count} training digits with a pen, through the service's preprocessing")
        drawn, drawn_labels = redraws.redraws(x_train, y_train, count, CONFIG.seed)
        x_train = np.concatenate([contract.as_model_input(x_train)[..., 0], drawn])
        y_train = np.concatenate([y_train, drawn_labels])
    if CONFIG.unipen:
        sites = ", ".join(sorted({sample.site for sample in samples}))
        print(f"rendering {CONFIG.unipen} real pen digits of the UNIPEN sites {sites}")
        real, real_labels = unipen.training_digits(samples, CONFIG.unipen, CONFIG.seed)
        weights = np.concatenate([np.ones(len(y_train)), np.full(len(real_labels), CONFIG.unipen_weight)])
        x_train = np.concatenate([contract.as_model_input(x_train)[..., 0], real])
        y_train = np.concatenate([y_train, real_labels])
    if corrected is not None:  # training only: validation and test stay MNIST, so choices still rest on them
        print(f"adding {len(corrected[1])} corrections from {CONFIG.corrections}")
        x_train = np.concatenate([contract.as_model_input(x_train)[..., 0], corrected[0]])
        y_train = np.concatenate([y_train, corrected[1]])
        if weights is not None:
            weights = np.concatenate([weights, np.ones(len(corrected[1]))])
    return x_train, y_train, weights, count


@reports_missing_data
def main() -> int:
    """Train, evaluate once on the test set, write model, metrics and plots."""
    started = time.time()
    samples = unipen.load("digits", unipen.TRAIN_SITES) if CONFIG.unipen else []  # fails early if missing
    corrected = corrections.load_dataset(Path(CONFIG.corrections)) if CONFIG.corrections else None  # early too
    train_images, train_labels = mnist.load_split("train")
    test_images, test_labels = mnist.load_split("test")
    (x_train, y_train), (x_val, y_val) = split_train_validation(train_images, train_labels)
    print(f"train {len(x_train)}, validation {len(x_val)}, test {len(test_images)} (test used once, at the end)")
    x_train, y_train, weights, count = training_set(x_train, y_train, samples, corrected)
    train_ds = make_dataset(x_train, y_train, training=True, weights=weights)
    val_ds = make_dataset(x_val, y_val, training=False)

    members, histories = [], []
    for i in range(CONFIG.members):
        model, history = train_member(i, train_ds, val_ds)
        members.append(model)
        histories.append(history)
    ensemble = build_ensemble(members)
    training_seconds = time.time() - started

    validation = evaluate(ensemble, x_val, y_val)
    test = evaluate(ensemble, test_images, test_labels)
    member_test_accuracy = [evaluate(m, test_images, test_labels)["accuracy"] for m in members]
    # The test score goes to training.json and the model card, not the screen: choices are made on validation.
    print(f"validation accuracy {validation['accuracy']:.4%}")

    report = {
        "config": {
            **asdict(CONFIG),
            "redraws_used": count,
            "corrections_used": 0 if corrected is None else len(corrected[1]),
        },
        "parameters": int(ensemble.count_params()),
        "parameters_per_member": int(members[0].count_params()),
        "training_seconds": round(training_seconds, 1),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "validation": validation,
        "test": test,
        "member_test_accuracy": member_test_accuracy,
        "history": histories,
    }
    write_outputs(ensemble, report)
    return 0


def write_outputs(ensemble: keras.Model, report: dict) -> None:
    """The Keras ensemble and its report in OUT_DIR, the training curves and test confusions in ARTIFACTS_DIR."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    ensemble.save(OUT_DIR / "model.keras")
    (OUT_DIR / "training.json").write_text(json.dumps(report, indent=1))
    plots.training_curves(report["history"], ARTIFACTS_DIR / "training_curves.png")
    plots.confusion_matrix(np.array(report["test"]["confusion_matrix"]), ARTIFACTS_DIR / "confusion_matrix.png")
    print(f"wrote {OUT_DIR / 'model.keras'}, {OUT_DIR / 'training.json'} and plots in {ARTIFACTS_DIR}")


if __name__ == "__main__":
    sys.exit(main())
