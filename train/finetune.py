"""Fine-tune the shipped classifier on real pen digits and their styles, MNIST and the pen redraws rehearsed.

Starts from the float ONNX ensemble that ships (FROM, by default artifacts/model.onnx), every member
rebuilt with the training architecture (train.rebuild) and checked to read as that file. Each member then
trains FT_EPOCHS epochs on train.classifier's training set (UNIPEN renders included: 20,000 by
default, as in training) at a small, halving learning rate. Writes build/model.keras and build/training.json as
train.classifier does, so `make export` takes it from there. Knobs: FT_EPOCHS, FT_LEARNING_RATE, FT_SITES, FT_PIECES_OF,
FROM, UNIPEN, SUBSET, MEMBERS (the first N members only, for tests), OUT_DIR.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np

from datasets import mnist, reports_missing_data, unipen
from digits import artifacts, contract
from digits.classifier import Classifier
from train import classifier as base
from train import rebuild
from train.classifier import CONFIG, ROOT


@dataclass(frozen=True)
class FineTuneConfig:
    """The settings a fine-tuning adds to train.classifier's; the model card records both."""

    start: str = str(artifacts.ARTIFACTS / "model.onnx")  # the float ensemble, not its INT8 quantisation
    epochs: int = 4  # a 4th epoch at an eighth of the rate: MNIST validation 24 -> 21 errors in one run, styles kept
    learning_rate: float = 3e-4  # about twice where the original training ended: the styles need to move weights
    lr_decay_per_epoch: float = 0.5
    sites: tuple[str, ...] = unipen.TRAIN_SITES  # FT_SITES=...,gmd,tos: a last refit on the validation sites too
    # Numbers written from those sites' digits, cut apart as /read cuts them: a digit among neighbours, leaning
    # with its number, with a neighbour's stroke in its box, is what /read's classifier reads.
    pieces_of: int = 6_000

    @classmethod
    def from_env(cls) -> FineTuneConfig:
        """The defaults, overridden by FROM, FT_EPOCHS, FT_LEARNING_RATE, FT_SITES (comma-separated), FT_PIECES_OF."""
        settings: dict = {}
        if "FROM" in os.environ:
            settings["start"] = os.environ["FROM"]
        if "FT_EPOCHS" in os.environ:
            settings["epochs"] = int(os.environ["FT_EPOCHS"])
        if "FT_LEARNING_RATE" in os.environ:
            settings["learning_rate"] = float(os.environ["FT_LEARNING_RATE"])
        if "FT_SITES" in os.environ:
            settings["sites"] = tuple(os.environ["FT_SITES"].split(","))
        if "FT_PIECES_OF" in os.environ:
            settings["pieces_of"] = int(os.environ["FT_PIECES_OF"])
        return cls(**settings)


FINE_TUNE = FineTuneConfig.from_env()


def check_parity(rebuilt: keras.Model, start: Path, images: np.ndarray) -> float:
    """The rebuilt ensemble reads as the ONNX file it came from (max |dp|), or ValueError."""
    x = contract.as_model_input(images)
    diff = float(np.abs(rebuilt.predict(x, batch_size=1000, verbose=0) - Classifier(start).predict_batched(x)).max())
    if diff > contract.MAX_PROBABILITY_DIFF:
        raise ValueError(f"the members rebuilt from {start} differ from it: max |dp| = {diff:.2e}")
    return diff


def with_pieces(x_train: np.ndarray, y_train: np.ndarray, weights: np.ndarray | None, samples: list) -> tuple:
    """The training set and the pieces of FINE_TUNE.pieces_of numbers written from the samples, weighted as one."""
    if not FINE_TUNE.pieces_of:
        return x_train, y_train, weights
    print(f"cutting {FINE_TUNE.pieces_of} numbers written from the sites' digits into pieces, as /read cuts them")
    pieces, labels = unipen.written_pieces(samples, FINE_TUNE.pieces_of, CONFIG.seed + 30_000)
    if weights is not None:
        weights = np.concatenate([weights, np.ones(len(labels))])
    return np.concatenate([x_train, pieces]), np.concatenate([y_train, labels]), weights


def fine_tune_member(model: keras.Model, index: int, train_ds, val_ds) -> dict:
    """FINE_TUNE's epochs at its halving rate, from a seed the members were not first trained with; the history."""
    print(f"\nFine-tuning member {index + 1}", flush=True)
    loss, seed = "sparse_categorical_crossentropy", CONFIG.seed + 100 + index
    return rebuild.fine_tune(model, train_ds, val_ds, FINE_TUNE, loss, FINE_TUNE.learning_rate, seed, ("accuracy",))


@reports_missing_data
def main() -> int:
    """Fine-tune every member of FROM, score validation and test once, write the Keras ensemble and its report."""
    started = time.time()
    start = Path(FINE_TUNE.start)
    if why := unipen.refusal(FINE_TUNE.sites):
        print(f"fine-tuning refused: {why}", file=sys.stderr)
        return 2
    samples = unipen.load("digits", FINE_TUNE.sites)  # fails early if missing
    train_images, train_labels = mnist.load_split("train")
    test_images, test_labels = mnist.load_split("test")
    (x_train, y_train), (x_val, y_val) = base.split_train_validation(train_images, train_labels)
    x_train, y_train, weights, count = base.training_set(x_train, y_train, samples, None)
    x_train, y_train, weights = with_pieces(x_train, y_train, weights, samples)
    train_ds = base.make_dataset(x_train, y_train, training=True, weights=weights)
    val_ds = base.make_dataset(x_val, y_val, training=False)

    members = rebuild.rebuilt_members(start, base.build_member)
    try:
        parity = check_parity(base.build_ensemble(members), start, x_val[:1000])
    except ValueError as exc:
        print(f"fine-tuning refused: {exc}", file=sys.stderr)
        return 1
    members = members[: CONFIG.members]
    before = base.evaluate(base.build_ensemble(members), x_val, y_val)
    histories = [fine_tune_member(m, i, train_ds, val_ds) for i, m in enumerate(members)]
    ensemble = base.build_ensemble(members)
    validation = base.evaluate(ensemble, x_val, y_val)
    test = base.evaluate(ensemble, test_images, test_labels)
    print(f"validation errors {before['errors']} -> {validation['errors']}")  # test: in training.json only

    lineage = {**asdict(FINE_TUNE), "from_version": Classifier(start).version, "rebuilt_max_abs_diff": parity}
    if start.resolve().is_relative_to(ROOT):  # the card names the repository's file, not this machine's path
        lineage["start"] = str(start.resolve().relative_to(ROOT))
    lineage["validation_before"] = {"accuracy": before["accuracy"], "errors": before["errors"]}
    report = {
        "config": {**asdict(CONFIG), "redraws_used": count, "corrections_used": 0},
        "fine_tuned": lineage,
        "parameters": int(ensemble.count_params()),
        "parameters_per_member": int(members[0].count_params()),
        "training_seconds": round(time.time() - started, 1),
        "machine": {"cpus": os.cpu_count()},
        "validation": validation,
        "test": test,
        "member_test_accuracy": [base.evaluate(m, test_images, test_labels)["accuracy"] for m in members],
        "history": histories,
    }
    base.write_outputs(ensemble, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
