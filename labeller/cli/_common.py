"""What every command shares: option types, settings, the store, the console."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from labeller.config import Settings, load_settings
from labeller.errors import UserError
from labeller.store import Job, Store, get_job, make_engine, upgrade

__all__ = [
    "ConfigOpt",
    "DatabaseOpt",
    "console",
    "err_console",
    "load",
    "open_store",
    "require_job",
]

console = Console()
err_console = Console(stderr=True)

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


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    """The job store, its schema brought to the current version (idempotent)."""
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    return Store(engine, time.time)


def require_job(store: Store, job_id: str) -> Job:
    job = get_job(store.engine, job_id)
    if job is None:
        raise UserError(f"job {job_id}: no such job in the database")
    return job
