"""The corrections database: SQLAlchemy Core on SQLite or PostgreSQL, its versioned schema, and its export.

Imported only where corrections are kept (CORRECTIONS_DB set, or the export command): SQLAlchemy costs a
worker some 25 MB it need not carry otherwise.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from digits.corrections import DATASET, Correction, image28

ADVISORY_LOCK = 30_2026  # PostgreSQL: replicas starting together migrate one at a time
SQLITE_WAIT_SECONDS = 30  # how long a SQLite writer waits for another's lock before failing

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


def without_password(url: str) -> str:
    """A database URL as it may be logged: the password starred out."""
    return sa.make_url(url).render_as_string(hide_password=True) if url else url


def engine_for(url: str) -> sa.Engine:
    """An engine for a sqlite:/// or postgresql:// URL, set up so concurrent writers wait instead of failing."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(parsed, connect_args={"timeout": SQLITE_WAIT_SECONDS})

        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi_connection, record) -> None:
            dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
            write_ahead_log(dbapi_connection)

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


def write_ahead_log(connection: sqlite3.Connection) -> None:
    """Put a SQLite database in WAL mode (readers do not block the writer), waiting out another process doing so."""
    # Two processes opening a new database at once: one's switch to WAL can fail "database is locked" at
    # once, without SQLite's busy timeout (measured: 3 of 300 simultaneous opens), so wait here instead.
    waited_until = time.monotonic() + SQLITE_WAIT_SECONDS
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > waited_until:
                raise
            time.sleep(0.01)


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
