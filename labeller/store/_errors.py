"""The one place sqlalchemy.exc is translated into StoreError, keeping the cause."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import SQLAlchemyError

from labeller.errors import StoreError


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Raise StoreError naming `action` for any database failure inside the block."""
    try:
        yield
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        reason = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        raise StoreError(f"database: {action} failed: {reason}") from exc
