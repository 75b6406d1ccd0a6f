"""Engines and sessions. SQLite gets WAL and a busy timeout so many worker threads can write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from labeller.errors import ConfigError

__all__ = ["make_engine", "make_session_factory", "normalise_url", "sqlite_path"]

#: How long a SQLite writer waits for the lock before failing, in seconds.
SQLITE_BUSY_TIMEOUT_S = 60.0


def normalise_url(url: str) -> str:
    """Pick psycopg 3 for plain `postgresql://` URLs (SQLAlchemy's default is psycopg2)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"database_url: not a database URL: {url!r}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL; None for other databases and in-memory SQLite."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for `url`; dispose it in the process that made it (after a fork, make anew)."""
    url = normalise_url(url)
    try:
        make_url(url).get_dialect()
    except NoSuchModuleError:
        scheme = url.split(":", 1)[0]
        raise ConfigError(
            f"database_url: unsupported database {scheme!r} (use sqlite:/// or postgresql://)"
        ) from None
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
