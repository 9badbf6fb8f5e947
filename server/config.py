"""The server's settings: one frozen Config, read once from the environment by the app and by gunicorn."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digits import artifacts, preprocess
from server import uploads

ROOT = Path(__file__).resolve().parent.parent


def _setting(variable: str, default: Any, meaning: str) -> Any:
    """A Config field that the environment variable `variable` overrides."""
    return field(default=default, metadata={"variable": variable, "meaning": meaning})


@dataclass(frozen=True)
class Config:
    """Everything the server and gunicorn need; tests build their own."""

    host: str = _setting("HOST", "127.0.0.1", "address to listen on")
    port: int = _setting("PORT", 8000, "port to listen on")
    workers: int = _setting("WORKERS", 2, "worker processes: one per core")
    worker_timeout: int = _setting("TIMEOUT", 45, "seconds before gunicorn kills a silent worker")
    max_requests: int = _setting("MAX_REQUESTS", 20000, "requests a worker serves before it is recycled")
    access_log: str = _setting("ACCESS_LOG", "-", "where JSON access lines go: - is stderr, a file path, empty is off")
    log_level: str = _setting("LOG_LEVEL", "info", "level of the JSON logs on stderr (debug, info, warning, error)")
    metrics_dir: str = _setting(
        "METRICS_DIR", "", "the workers' Prometheus sample files (tmpfs); empty: a new one in /dev/shm, removed at exit"
    )
    model_path: Path = _setting("MODEL_PATH", artifacts.CLASSIFIER_INT8, "the digit classifier (ONNX)")
    model_card_path: Path = _setting("MODEL_CARD_PATH", artifacts.CLASSIFIER_CARD, "its model card")
    line_model_path: Path = _setting("LINE_MODEL_PATH", artifacts.LINE_MODEL_INT8, "the CTC line model (ONNX)")
    web_dir: Path = _setting("WEB_DIR", ROOT / "web", "the page's files")
    max_upload_bytes: int = _setting("MAX_UPLOAD_BYTES", preprocess.DEFAULT_MAX_BYTES, "largest upload, in bytes")
    max_image_pixels: int = _setting("MAX_IMAGE_PIXELS", preprocess.DEFAULT_MAX_PIXELS, "largest image, in pixels")
    head_seconds: float = _setting("HEAD_SECONDS", 10.0, "time for a request's headers (else 408)")
    upload_seconds: float = _setting("UPLOAD_SECONDS", uploads.DEFAULT_UPLOAD_SECONDS, "time for the body (else 408)")
    read_seconds: float = _setting("READ_SECONDS", 10.0, "time to read one number, or one batch (else 422 too_complex)")
    corrections_db: str = _setting(
        "CORRECTIONS_DB", "", "where corrections are kept: sqlite:///file or postgresql://...; empty: corrections off"
    )

    def __post_init__(self) -> None:
        # One request's head, upload and reading run with no heartbeat to gunicorn: together they
        # must end before it kills the worker, or a slow client costs a worker instead of a 408.
        budget = self.head_seconds + self.upload_seconds + self.read_seconds
        if budget >= self.worker_timeout:
            raise ValueError(
                f"HEAD_SECONDS + UPLOAD_SECONDS + READ_SECONDS ({budget:g} s) must be under TIMEOUT "
                f"({self.worker_timeout:g} s)"
            )

    @property
    def limits(self) -> preprocess.Limits:
        """The input limits the preprocessing enforces."""
        return preprocess.Limits(max_bytes=self.max_upload_bytes, max_pixels=self.max_image_pixels)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Config:
        """The defaults, each overridden by its environment variable where that is set."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in dataclasses.fields(cls):
            variable = f.metadata["variable"]
            if variable in environ:
                values[f.name] = type(f.default)(environ[variable])  # str, int, float or Path
        return cls(**values)


def settings() -> list[tuple[str, Any, str]]:
    """Every environment variable the server reads: (name, default, meaning), in Config's order."""
    return [(f.metadata["variable"], f.default, f.metadata["meaning"]) for f in dataclasses.fields(Config)]
