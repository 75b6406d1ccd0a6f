"""Pilots: a job's kind, the full job a pilot's figures are extrapolated to, and the full job's
index of each sampled window.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", recreate="never") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="full"))
        batch.add_column(sa.Column("full_frames", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("full_skipped", sa.Integer(), nullable=True))
    with op.batch_alter_table("frames", recreate="never") as batch:
        batch.add_column(sa.Column("full_index", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("frames", recreate="never") as batch:
        batch.drop_column("full_index")
    with op.batch_alter_table("jobs", recreate="never") as batch:
        batch.drop_column("full_skipped")
        batch.drop_column("full_frames")
        batch.drop_column("kind")
