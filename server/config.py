"""Service configuration, read once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from digits import preprocess
from server import uploads

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Config:
    """Everything create_app() needs; tests build their own."""

    model_path: Path = ROOT / "artifacts" / "model.onnx"
    model_card_path: Path = ROOT / "artifacts" / "model.json"
    reader_path: Path = ROOT / "artifacts" / "reader.onnx"
    web_dir: Path = ROOT / "web"
    limits: preprocess.Limits = field(default_factory=preprocess.Limits)
    upload_seconds: float = uploads.DEFAULT_UPLOAD_SECONDS
    read_seconds: float = 10.0  # one number reads in well under 1 s; gunicorn kills a worker at 30 s

    @classmethod
    def from_env(cls) -> Config:
        """The defaults, overridden by MODEL_PATH, MODEL_CARD_PATH, READER_PATH, WEB_DIR, MAX_UPLOAD_BYTES,
        MAX_IMAGE_PIXELS, UPLOAD_SECONDS and READ_SECONDS."""
        defaults = cls()
        return cls(
            model_path=Path(os.environ.get("MODEL_PATH", defaults.model_path)),
            model_card_path=Path(os.environ.get("MODEL_CARD_PATH", defaults.model_card_path)),
            reader_path=Path(os.environ.get("READER_PATH", defaults.reader_path)),
            web_dir=Path(os.environ.get("WEB_DIR", defaults.web_dir)),
            limits=preprocess.Limits(
                max_bytes=int(os.environ.get("MAX_UPLOAD_BYTES", defaults.limits.max_bytes)),
                max_pixels=int(os.environ.get("MAX_IMAGE_PIXELS", defaults.limits.max_pixels)),
            ),
            upload_seconds=float(os.environ.get("UPLOAD_SECONDS", defaults.upload_seconds)),
            read_seconds=float(os.environ.get("READ_SECONDS", defaults.read_seconds)),
        )
