"""Indexes for `status --watch`: a job's recent attempts and recently finished frames.

`provider_activity` counts attempts with `started_at >= since` and `recently_finished` frames
with `finished_at >= since`, each for one job, every refresh; with only a `job_id` index both
read every row of the job, which grows with a long job.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_attempts_job_started", "attempts", ["job_id", "started_at"])
    op.create_index("ix_frames_job_finished", "frames", ["job_id", "finished_at"])


def downgrade() -> None:
    op.drop_index("ix_frames_job_finished", table_name="frames")
    op.drop_index("ix_attempts_job_started", table_name="attempts")
