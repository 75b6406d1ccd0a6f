"""What every command shares: option types, settings, the store, the console."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from labeller.config import Settings, load_settings
from labeller.errors import StoreError, UserError
from labeller.store import Job, Store, get_job, make_engine, sqlite_path, upgrade

__all__ = [
    "ConfigOpt",
    "DatabaseOpt",
    "console",
    "err_console",
    "format_duration",
    "load",
    "open_store",
    "require_job",
]

#: Output to a file or a CI log is not cut at 80 columns.
_WIDTH = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "120"))
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH, soft_wrap=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-C", help="YAML settings file (default: $LABELLER_CONFIG)."),
]
DatabaseOpt = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy URL (default: $LABELLER_DATABASE_URL)."),
]


def load(config: Path | None, **overrides: Any) -> Settings:
    return load_settings(config, overrides)


def open_store(settings: Settings, *, create: bool = True) -> Store:
    """The job store, its schema brought to the current version (idempotent).

    With `create=False` (commands that read a job) a SQLite file that does not exist yet is a
    user error rather than a new empty database.
    """
    path = sqlite_path(settings.database_url)
    if not create and path is not None and not path.exists():
        raise UserError(
            f"database_url: {path} does not exist (run a job first, or pass --database-url/-C)"
        )
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
    except StoreError as exc:
        where = engine.url.render_as_string(hide_password=True)
        raise StoreError(f"{where}: {exc}") from exc
    return Store(engine, time.time)


def format_duration(us: int) -> str:
    """`50 ms`, `2 s`, `250 us`: the unit that reads best."""
    for unit, scale in (("s", 1_000_000), ("ms", 1_000)):
        if us >= scale:
            return f"{us / scale:g} {unit}"
    return f"{us} us"


def require_job(store: Store, job_id: str) -> Job:
    job = get_job(store.engine, job_id)
    if job is None:
        raise UserError(f"job {job_id}: no such job in the database")
    return job
