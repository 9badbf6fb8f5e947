"""The app factory: wires configuration, classifier, resources, errors and middleware."""

from __future__ import annotations

from pathlib import Path

import falcon

from digits.models import Models
from digits.preprocess import PreprocessError
from server import errors, middleware, resources, uploads
from server.config import Config

OPENAPI = Path(__file__).resolve().parent / "openapi.json"


def create_app(config: Config) -> falcon.App:
    """A WSGI app serving config's models; builds the onnxruntime sessions, so call it after forking."""
    models = Models.load(config.model_path, config.line_model_path)
    app = falcon.App(middleware=[middleware.RequestId(), middleware.SecurityHeaders()])
    app.req_options.media_handlers[falcon.MEDIA_MULTIPART].parse_options = uploads.multipart_options()
    app.set_error_serializer(errors.serialize)
    app.add_error_handler(Exception, errors.handle_unexpected)
    app.add_error_handler(PreprocessError, errors.handle_preprocess_error)

    app.add_route("/api/v1/predict", resources.Predict(models, config))
    app.add_route("/api/v1/read", resources.Read(models, config))
    app.add_route("/api/v1/model", resources.JsonDocument(config.model_card_path))
    app.add_route("/openapi.json", resources.JsonDocument(OPENAPI))
    app.add_route("/healthz", resources.Health(models))
    app.add_route("/", resources.Page(config.web_dir / "index.html"))
    app.add_static_route("/static", str(config.web_dir.resolve()))
    return app
