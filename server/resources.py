"""The API's resources: short handlers over the classifier and the preprocessing module."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import falcon
import numpy as np

from digits import preprocess, segment
from digits.classifier import Classifier
from digits.reader import Reader
from server import deadline, uploads
from server.config import Config


def data_url(image28: np.ndarray) -> str:
    """The 28x28 model input as a PNG data URL."""
    return "data:image/png;base64," + base64.b64encode(preprocess.to_png(image28)).decode("ascii")


def prediction(probabilities: np.ndarray, image28: np.ndarray, model_version: str) -> dict:
    """The predict response body for one image's probabilities."""
    p = probabilities.astype(np.float64)
    p /= p.sum()
    order = np.argsort(-p)
    return {
        "digit": int(order[0]),
        "confidence": float(p[order[0]]),
        "probabilities": [float(v) for v in p],
        "top": [{"digit": int(d), "probability": float(p[d])} for d in order[:3]],
        "input": data_url(image28),
        "model": model_version,
    }


def digit_json(d: segment.Digit) -> dict:
    """One digit of a read number."""
    return {
        "digit": d.digit,
        "confidence": d.confidence,
        "probabilities": d.probabilities,
        "box": list(d.box),
        "input": data_url(d.image28),
    }


class Predict:
    """POST /api/v1/predict: one digit from one image."""

    def __init__(self, classifier: Classifier, config: Config) -> None:
        self.classifier = classifier
        self.config = config

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        limits = self.config.limits
        image28 = preprocess.preprocess(uploads.read_image(req, limits, self.config.upload_seconds), limits)
        probabilities = self.classifier.predict(image28[None])[0]
        resp.media = prediction(probabilities, image28, self.classifier.sha256[:12])


class Read:
    """POST /api/v1/read: every digit of a number, left to right."""

    def __init__(self, classifier: Classifier, reader: Reader, config: Config) -> None:
        self.classifier = classifier
        self.reader = reader
        self.config = config

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        limits, seconds = self.config.limits, self.config.read_seconds
        data = uploads.read_image(req, limits, self.config.upload_seconds)
        try:
            with deadline.time_limit(seconds):  # a page of scribble must not hold the worker until it is killed
                reading = segment.read_number(data, self.classifier.predict, self.reader.line_frames, limits)
        except deadline.Expired:
            raise preprocess.TooComplex(
                f"the image took over {seconds:g} s to read: too much to be one number"
            ) from None
        resp.media = {
            "text": reading.text,
            "digits": [digit_json(d) for d in reading.digits],
            "image": {"width": reading.width, "height": reading.height},
            "model": self.classifier.sha256[:12],
        }


class Health:
    """GET /healthz: 200 once the model is loaded (it is loaded before the app exists)."""

    def __init__(self, classifier: Classifier) -> None:
        self.classifier = classifier

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok", "model": self.classifier.sha256[:12]}

    on_head = on_get


class JsonDocument:
    """A JSON document read once at start-up (the model card, the OpenAPI document)."""

    def __init__(self, path: Path) -> None:
        self.body = json.dumps(json.loads(path.read_text())).encode()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = self.body
        resp.content_type = falcon.MEDIA_JSON


class Page:
    """GET /: the web page."""

    def __init__(self, index: Path) -> None:
        self.body = index.read_bytes()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = self.body
        resp.content_type = falcon.MEDIA_HTML

    on_head = on_get
