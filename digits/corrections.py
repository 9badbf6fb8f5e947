"""Corrections people send ("that's a 7"), kept in SQLite or PostgreSQL and exported as a training set.

A correction is only what the sender is told is kept: the 28x28 PNG the model saw, the corrected label, the
model's answer and version, and the time. Never the upload, an address or anything else about the person.

    CORRECTIONS_DB=sqlite:///corrections.db python -m digits.corrections export DIR   # -> DIR/corrections.npz
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from PIL import Image

from digits import contract, preprocess

MAX_PNG_BYTES = 2048  # an 8-bit 28x28 PNG is at most ~900 bytes; anything bigger is not the API's
MODEL_VERSION = re.compile(r"^[0-9a-f]{6,64}(\+[0-9a-f]{6,64})?$")  # /predict's "model", or /read's "a+b"
DATASET = "corrections.npz"  # what export writes and training reads, in the folder it is given
ADVISORY_LOCK = 30_2026  # PostgreSQL: replicas starting together migrate one at a time

metadata = sa.MetaData()
schema_version = sa.Table("schema_version", metadata, sa.Column("version", sa.Integer, nullable=False))
corrections = sa.Table(
    "corrections",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("image", sa.LargeBinary, nullable=False),  # the 28x28 PNG, exactly as the API produced it
    sa.Column("label", sa.SmallInteger, nullable=False),  # what the digit really is
    sa.Column("predicted", sa.SmallInteger, nullable=False),  # what the model said
    sa.Column("model", sa.String(140), nullable=False),  # the model's version
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


def _create_corrections(connection: sa.Connection) -> None:
    corrections.create(connection)


# Migration k takes the schema from version k to k + 1; append new ones, never edit old ones.
MIGRATIONS: list[Callable[[sa.Connection], None]] = [_create_corrections]
SCHEMA_VERSION = len(MIGRATIONS)


class InvalidCorrection(ValueError):
    """A correction that is not as documented (the server answers it as bad_request)."""


@dataclass(frozen=True)
class Correction:
    """One correction: the model's 28x28 input as the API's PNG, the right digit, and what the model said."""

    image_png: bytes
    label: int
    predicted: int
    model: str

    def __post_init__(self) -> None:
        for name in ("label", "predicted"):
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value <= 9:  # bool is an int: refused too
                raise InvalidCorrection(f"'{name}' must be a digit from 0 to 9.")
        if not isinstance(self.model, str) or not MODEL_VERSION.match(self.model):
            raise InvalidCorrection("'model' must be the model version the answer came with.")
        image28(self.image_png)  # raises InvalidCorrection


def image28(png: bytes) -> np.ndarray:
    """The uint8 28x28 pixels of a PNG the API produced (preprocess.to_png), byte for byte; else InvalidCorrection."""
    if len(png) > MAX_PNG_BYTES or not png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise InvalidCorrection("'image' must be the 28x28 PNG the API gave as 'input'.")
    try:
        with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
            shape = (image.mode, image.size)
            # Checked before decoding: a small PNG may claim a huge size, and decoding allocates it all.
            pixels = np.asarray(image, dtype=np.uint8) if shape == ("L", (28, 28)) else None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:  # a bomb: refused on opening
        raise InvalidCorrection("'image' is not a readable PNG.") from exc
    if pixels is None:
        raise InvalidCorrection("'image' must be an 8-bit grey 28x28 PNG, as the API gave it.")
    # Re-encoding must give the same bytes: no extra chunks (text could carry anything) and no other encoder.
    if preprocess.to_png(pixels / 255.0) != png:
        raise InvalidCorrection("'image' must be the PNG the API gave, unchanged.")
    return pixels


def without_password(url: str) -> str:
    """A database URL as it may be logged: the password starred out."""
    return sa.make_url(url).render_as_string(hide_password=True) if url else url


def engine_for(url: str) -> sa.Engine:
    """An engine for a sqlite:/// or postgresql:// URL, set up so concurrent writers wait instead of failing."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(parsed, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi_connection, record) -> None:
            dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
            dbapi_connection.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer

        @sa.event.listens_for(engine, "begin")
        def _begin(connection: sa.Connection) -> None:
            # IMMEDIATE takes the write lock up front: two workers' transactions queue instead of deadlocking.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3, pinned in requirements.txt
        return sa.create_engine(parsed, pool_pre_ping=True)  # a restarted database costs no failed request
    raise ValueError(f"CORRECTIONS_DB must be a sqlite:/// or postgresql:// URL, not {parsed.drivername}://")


def migrate(engine: sa.Engine) -> int:
    """Bring the schema up to SCHEMA_VERSION, one migration at a time even with many processes; the version."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
        schema_version.create(connection, checkfirst=True)
        found = connection.execute(sa.select(schema_version.c.version)).scalar()
        if found is None:
            connection.execute(schema_version.insert().values(version=0))
            found = 0
        if found > SCHEMA_VERSION:
            raise RuntimeError(
                f"the corrections database is at schema {found}, newer than this code ({SCHEMA_VERSION})"
            )
        for step in MIGRATIONS[found:]:
            step(connection)
        connection.execute(schema_version.update().values(version=SCHEMA_VERSION))
    return SCHEMA_VERSION


class Store:
    """The corrections database: migrated when opened, then appended to."""

    def __init__(self, url: str) -> None:
        self.engine = engine_for(url)
        migrate(self.engine)

    def add(self, correction: Correction, now: datetime | None = None) -> None:
        """Keep one correction, stamped with the time (UTC)."""
        with self.engine.begin() as connection:
            connection.execute(
                corrections.insert().values(
                    image=correction.image_png,
                    label=correction.label,
                    predicted=correction.predicted,
                    model=correction.model,
                    created_at=now or datetime.now(UTC),
                )
            )

    def count(self) -> int:
        """How many corrections are kept."""
        with self.engine.connect() as connection:
            return connection.execute(sa.select(sa.func.count()).select_from(corrections)).scalar_one()

    def export(self, folder: Path) -> int:
        """Write every correction to folder/corrections.npz (images uint8 [N,28,28], labels, ...); how many."""
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(corrections).order_by(corrections.c.id)).all()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / DATASET
        images = np.stack([image28(row.image) for row in rows]) if rows else np.zeros((0, 28, 28), np.uint8)
        np.savez_compressed(
            path,
            images=images,
            labels=np.array([row.label for row in rows], dtype=np.uint8),
            predicted=np.array([row.predicted for row in rows], dtype=np.uint8),
            models=np.array([row.model for row in rows], dtype=str),
            created_at=np.array([row.created_at.isoformat() for row in rows], dtype=str),
        )
        return len(rows)

    def close(self) -> None:
        """Close the database connections."""
        self.engine.dispose()


def load_dataset(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """An exported folder's images as model input ([N,28,28] float32 in [0, 1]) and their labels (uint8)."""
    with np.load(Path(folder) / DATASET) as data:
        images, labels = data["images"], data["labels"]
    if images.shape[1:] != (28, 28) or len(images) != len(labels) or (labels > 9).any():
        raise ValueError(f"{folder / DATASET} is not an export of corrections")
    return contract.as_model_input(images)[..., 0], labels


def main(argv: list[str] | None = None) -> int:
    """`export DIR`: the corrections of the database CORRECTIONS_DB names, as DIR/corrections.npz."""
    parser = argparse.ArgumentParser(prog="python -m digits.corrections", description=main.__doc__)
    parser.add_argument("command", choices=["export"])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    url = os.environ.get("CORRECTIONS_DB")
    if not url:
        parser.error("set CORRECTIONS_DB to the database's URL, e.g. sqlite:///corrections.db")
    store = Store(url)
    try:
        count = store.export(args.folder)
        print(f"wrote {count} corrections to {args.folder / DATASET}")
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
