"""Frame thumbnails that confirm a near-duplicate before its caption is reused.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("frames", recreate="never") as batch:
        batch.add_column(sa.Column("thumb", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("frames", recreate="never") as batch:
        batch.drop_column("thumb")
