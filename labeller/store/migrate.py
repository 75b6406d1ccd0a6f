"""Alembic migrations, run in-process so `labeller db upgrade` works from an installed wheel."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from labeller.store._errors import translated

__all__ = ["upgrade"]


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema behind `engine` to `revision`; StoreError if the database refuses."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("labeller.store") / "migrations"))
    with translated("migrating the schema"), engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
