"""The feeder: frames that wait in the database (`not_before`) and an index to feed them in order.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("frames", recreate="never") as batch:
        batch.add_column(sa.Column("not_before", sa.Float(), nullable=True))
    op.create_index("ix_frames_feed", "frames", ["job_id", "state", "provider", "index"])


def downgrade() -> None:
    op.drop_index("ix_frames_feed", table_name="frames")
    with op.batch_alter_table("frames", recreate="never") as batch:
        batch.drop_column("not_before")
