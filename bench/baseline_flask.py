"""The seed-style baseline, for comparison only: Flask calling Keras model.predict per request.

Run as `python -m bench.baseline_flask PORT`. It gets the same preprocessing as the service, so the
comparison measures the serving stack (Flask + TensorFlow vs Falcon + gunicorn + onnxruntime).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras
from flask import Flask, jsonify, request

from digits import preprocess

MODEL = Path(os.environ.get("KERAS_MODEL", Path(__file__).resolve().parent.parent / "build" / "model.keras"))


def keras_model() -> tuple[keras.Model, str]:
    """The trained Keras model if `make train` made one, else the same architecture with random weights.

    Random weights time the same: a fresh clone benchmarks without the 47-minute training.
    """
    if MODEL.is_file():
        return keras.models.load_model(MODEL), f"trained ({MODEL.name})"
    from train import classifier  # the architecture is defined once, in training

    members = [classifier.build_member(f"member_{i}") for i in range(classifier.CONFIG.members)]
    return classifier.build_ensemble(members), "the training architecture, random weights"


def create_baseline() -> Flask:
    """A Flask app that answers like /api/v1/predict, via model.predict."""
    app = Flask(__name__)
    model, _ = keras_model()

    @app.post("/api/v1/predict")
    def predict():
        try:
            image28 = preprocess.preprocess(request.get_data())
        except preprocess.PreprocessError as exc:
            return jsonify(code=exc.code, message=str(exc)), 400
        probabilities = model.predict(image28[None, ..., None], verbose=0)[0]
        return jsonify(digit=int(probabilities.argmax()), probabilities=probabilities.tolist())

    @app.get("/healthz")
    def health():
        return jsonify(status="ok")

    return app


if __name__ == "__main__":
    create_baseline().run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
