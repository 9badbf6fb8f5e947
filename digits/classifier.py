"""The shipped ONNX model behind a typed predict(), run by onnxruntime on the CPU."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from digits import artifacts, contract

DEFAULT_MODEL = artifacts.CLASSIFIER_INT8  # what the service runs; artifacts.CLASSIFIER is its float original


class Classifier:
    """An onnxruntime session for a model that honours the contract."""

    def __init__(self, path: Path = DEFAULT_MODEL, threads: int = 1) -> None:
        options = ort.SessionOptions()
        # One thread per worker: gunicorn runs one worker per core, so more threads only contend.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        model_bytes = Path(path).read_bytes()
        self.sha256 = hashlib.sha256(model_bytes).hexdigest()
        self.version = self.sha256[:12]  # what responses and the model card call the model
        self.session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        contract.check_session(self.session)
        self.busy_seconds = 0.0  # time spent in the model so far: readings report their share

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Probabilities [N, 10] for model input [N, 28, 28, 1] (or uint8 [N, 28, 28])."""
        x = contract.as_model_input(images)
        start = time.perf_counter()
        try:
            return self.session.run([contract.OUTPUT_NAME], {contract.INPUT_NAME: x})[0]
        finally:
            self.busy_seconds += time.perf_counter() - start

    def predict_batched(self, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """predict() over a large set in slices, to bound memory."""
        return np.concatenate([self.predict(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])
