"""The app factory: wires configuration, classifier, resources, errors and middleware."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import falcon

from digits.models import Models
from digits.preprocess import PreprocessError
from server import errors, metrics, middleware, resources, uploads
from server.config import Config
from server.corrections import Corrections, RateLimiter

OPENAPI = Path(__file__).resolve().parent / "openapi.json"
log = logging.getLogger("server")


def create_app(config: Config) -> falcon.App:
    """A WSGI app serving config's models; builds the onnxruntime sessions, so call it after forking."""
    models = Models.load(config.model_path, config.line_model_path)
    metrics.serving(models.classifier.version, models.line_model.version)
    settings = {name: str(value) for name, value in dataclasses.asdict(config).items()}
    store = None
    if config.corrections_db:  # SQLAlchemy is loaded only when corrections are kept
        from digits import correction_store

        settings["corrections_db"] = correction_store.without_password(config.corrections_db)  # no secret logged
        store = correction_store.Store(config.corrections_db)  # migrated here
    log.info(
        "serving",
        extra={"classifier": models.classifier.version, "line_model": models.line_model.version}
        | {"settings": settings},
    )
    app = falcon.App(middleware=[middleware.RequestId(), middleware.Observe(), middleware.SecurityHeaders()])
    app.req_options.media_handlers[falcon.MEDIA_MULTIPART].parse_options = uploads.multipart_options()
    app.set_error_serializer(errors.serialize)
    app.add_error_handler(Exception, errors.handle_unexpected)
    app.add_error_handler(PreprocessError, errors.handle_preprocess_error)

    app.add_route("/api/v1/predict", resources.Predict(models, config))
    app.add_route("/api/v1/predict/batch", resources.PredictBatch(models, config))
    app.add_route("/api/v1/read", resources.Read(models, config))
    app.add_route("/api/v1/corrections", Corrections(store, RateLimiter(), config.upload_seconds))
    app.add_route("/api/v1/model", resources.JsonDocument(config.model_card_path))
    app.add_route("/openapi.json", resources.JsonDocument(OPENAPI))
    app.add_route("/healthz", resources.Health(models, corrections_on=store is not None))
    app.add_route("/metrics", metrics.Metrics())
    app.add_route("/", resources.Page(config.web_dir / "index.html"))
    app.add_route("/docs", resources.Page(config.web_dir / "docs.html"))  # the API docs, from /openapi.json
    app.add_static_route("/static", str(config.web_dir.resolve()))
    return app
