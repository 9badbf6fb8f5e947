"""The API's resources: HTTP in, bytes to digits.pipeline, readings out as JSON."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import falcon
import numpy as np

from digits import pipeline, preprocess
from digits.models import Models
from server import deadline, errors, uploads
from server.config import Config

DATA_URL = "data:image/png;base64,"


def data_url(image28: np.ndarray) -> str:
    """The 28x28 model input as a PNG data URL."""
    return DATA_URL + base64.b64encode(preprocess.to_png(image28)).decode("ascii")


class _Reading:
    """A resource that reads images with the models, under the configured limits."""

    def __init__(self, models: Models, config: Config) -> None:
        self.models = models
        self.config = config


class Predict(_Reading):
    """POST /api/v1/predict: one digit from one image."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        data = uploads.read_image(req, self.config.limits, self.config.upload_seconds)
        reading = req.context.reading = pipeline.read_digit(data, self.models, self.config.limits)
        resp.media = _digit_answer(reading) | {"input": data_url(reading.image28), "model": reading.model}


class PredictBatch(_Reading):
    """POST /api/v1/predict/batch: the digit in each of up to uploads.MAX_BATCH_IMAGES images, in order."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        images = uploads.read_images(req, self.config.limits, self.config.upload_seconds)
        with _time_limit(self.config.read_seconds, "The batch", "send fewer or smaller images"):
            batch = req.context.reading = pipeline.read_digits(images, self.models, self.config.limits)
        resp.media = {
            "results": [_batch_result(r) for r in batch.readings],
            "model": self.models.classifier.version,
        }


def _batch_result(reading: pipeline.DigitReading | preprocess.PreprocessError) -> dict:
    """One image's part of a batch answer: its digit, or its error as the single-image endpoint words it."""
    if isinstance(reading, preprocess.PreprocessError):
        return {"error": errors.preprocess_error_body(reading)}
    return _digit_answer(reading)


def _digit_answer(reading: pipeline.DigitReading) -> dict:
    """A digit's answer: the digit, its confidence, all ten probabilities, the likeliest few."""
    return {
        "digit": reading.digit,
        "confidence": reading.confidence,
        "probabilities": reading.probabilities,
        "top": [{"digit": d, "probability": p} for d, p in reading.top],
    }


@contextlib.contextmanager
def _time_limit(seconds: float, what: str, advice: str) -> Iterator[None]:
    """Stop a reading after `seconds` with 422 too_complex: scribble must not hold the worker until it is killed."""
    try:
        with deadline.time_limit(seconds):
            yield
    except deadline.Expired:
        message = f"{what} took over {seconds:g} s to read: {advice}."
        raise errors.ApiError("too_complex", message, limit_seconds=seconds) from None


class Read(_Reading):
    """POST /api/v1/read: every digit of a number, left to right."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        data = uploads.read_image(req, self.config.limits, self.config.upload_seconds)
        with _time_limit(self.config.read_seconds, "The image", "too much to be one number"):
            reading = req.context.reading = pipeline.read_number(data, self.models, self.config.limits)
        resp.media = {
            "text": reading.text,
            "digits": [
                {
                    "digit": d.digit,
                    "confidence": d.confidence,
                    "probabilities": d.probabilities,
                    "box": list(d.box),
                    "input": data_url(d.image28),
                }
                for d in reading.digits
            ],
            "skipped": [{"box": list(box)} for box in reading.skipped],
            "image": {"width": reading.width, "height": reading.height},
            "model": reading.model,
        }


class Health:
    """GET /healthz: 200 once the model is loaded (it is loaded before the app exists); says if corrections are on."""

    def __init__(self, models: Models, corrections_on: bool = False) -> None:
        self.models = models
        self.corrections_on = corrections_on

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {
            "status": "ok",
            "model": self.models.classifier.version,
            "line_model": self.models.line_model.version,
            "corrections": self.corrections_on,  # the page offers "that's wrong" only when they are kept
        }

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
