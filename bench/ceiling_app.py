"""Bench-only: what this machine's gunicorn serves when the work per request is cut to a minimum.

Run under the service's own gunicorn settings: `gunicorn -c server/gunicorn.conf.py bench.ceiling_app:app`.
POST /noop reads the body and answers; POST /decode also decodes the PNG and shrinks it to 28x28 (no
ink analysis); POST /decode-forward also runs the shipped model. They bound what any preprocessing could reach.
"""

from __future__ import annotations

import io

import falcon
import numpy as np
from PIL import Image

from digits import preprocess
from digits.classifier import Classifier


class Noop:
    """Read the body, answer a constant: gunicorn, Falcon and the client alone."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.bounded_stream.read()
        resp.media = {"digit": 0}


def decoded_28(req: falcon.Request) -> np.ndarray:
    """The image decoded as the service decodes it (big JPEGs small), made grey and shrunk to 28x28: no analysis."""
    image = Image.open(io.BytesIO(req.bounded_stream.read()))
    if image.format == "JPEG":
        preprocess.decode_small(image)
    channel = image.getchannel("A") if image.mode == "RGBA" else image.convert("L")  # a canvas's ink is its alpha
    return np.asarray(channel.resize((28, 28), Image.Resampling.BOX))  # the cheapest anti-aliased shrink


class Decode:
    """Decode and shrink only; the answer is a placeholder."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"digit": int(decoded_28(req).argmax() % 10)}


class DecodeForward:
    """Decode, shrink and run the shipped model: everything but the ink analysis."""

    def __init__(self) -> None:
        self.classifier = Classifier()

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        probabilities = self.classifier.predict(decoded_28(req)[None])[0]
        resp.media = {"digit": int(probabilities.argmax())}


class Health:
    """Ready as soon as the app is imported (the bench waits for it)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}


def create_ceiling_app() -> falcon.App:
    """The minimal routes and /healthz."""
    app = falcon.App()
    app.add_route("/noop", Noop())
    app.add_route("/decode", Decode())
    app.add_route("/decode-forward", DecodeForward())
    app.add_route("/healthz", Health())
    return app


app = create_ceiling_app()
