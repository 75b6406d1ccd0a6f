"""Caption cache and budget pause: frame hashes, cache provenance, job prompt hash and pause.

Every new column is nullable, so existing rows need no backfill and PostgreSQL adds them
without rewriting the table; SQLite goes through `batch_alter_table`, which for added columns
and indexes is a plain ALTER TABLE; `recreate="never"` keeps it so (see `downgrade`).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BANDS = tuple(f"phash_b{band}" for band in range(4))


def upgrade() -> None:
    with op.batch_alter_table("frames", recreate="never") as batch:
        batch.add_column(sa.Column("image_hash", sa.String(32), nullable=True))
        batch.add_column(sa.Column("phash", sa.BigInteger(), nullable=True))
        for band in _BANDS:
            batch.add_column(sa.Column(band, sa.Integer(), nullable=True))
        batch.add_column(sa.Column("cached_from_job", sa.String(32), nullable=True))
        batch.add_column(sa.Column("cached_from_frame", sa.Integer(), nullable=True))
        batch.create_index("ix_frames_image_hash", ["image_hash"])
        for band in _BANDS:
            batch.create_index(f"ix_frames_job_{band}", ["job_id", band])
    with op.batch_alter_table("jobs", recreate="never") as batch:
        batch.add_column(sa.Column("prompt_hash", sa.String(32), nullable=True))
        batch.add_column(sa.Column("paused_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    # Never let SQLite batch mode recreate a table here: it copies the table and drops the old
    # one, and with `PRAGMA foreign_keys=ON` dropping `jobs` cascades to every frame and attempt.
    # SQLite >= 3.35 drops the columns in place; an older one fails instead of losing data.
    with op.batch_alter_table("jobs", recreate="never") as batch:
        batch.drop_column("paused_reason")
        batch.drop_column("prompt_hash")
    with op.batch_alter_table("frames", recreate="never") as batch:
        for band in reversed(_BANDS):
            batch.drop_index(f"ix_frames_job_{band}")
        batch.drop_index("ix_frames_image_hash")
        for column in (
            "cached_from_frame",
            "cached_from_job",
            *reversed(_BANDS),
            "phash",
            "image_hash",
        ):
            batch.drop_column(column)
