"""SQLAlchemy 2 models: the database is the source of truth for every job, frame and call.

Times are epoch seconds (float), written from an injected clock so tests control them.
"""

from __future__ import annotations

import enum

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "FEEDABLE_JOB_STATES",
    "OPEN_FRAME_STATES",
    "TERMINAL_FRAME_STATES",
    "Attempt",
    "AttemptStatus",
    "Base",
    "Frame",
    "FrameState",
    "Job",
    "JobKind",
    "JobState",
]


class Base(DeclarativeBase):
    pass


class JobState(enum.StrEnum):
    #: Frames are being captioned.
    running = "running"
    #: Every frame is done (or skipped).
    done = "done"
    #: Every frame ended, some failed.
    failed = "failed"
    #: Spend reached the budget; `labeller resume` continues.
    paused = "paused"
    #: Frames are still being planned; those already written are fed to workers.
    planning = "planning"
    #: Stopped by `labeller cancel`: nothing more is sent or billed.
    cancelled = "cancelled"


class JobKind(enum.StrEnum):
    #: Captions every frame of its recording.
    full = "full"
    #: `labeller run --pilot N`: a sample of frames, each captioned by every provider.
    pilot = "pilot"


#: Jobs whose frames the feeder publishes.
FEEDABLE_JOB_STATES = (JobState.running.value, JobState.planning.value)


class FrameState(enum.StrEnum):
    #: Planned, no message published yet.
    pending = "pending"
    #: A message for `provider` is on the broker.
    queued = "queued"
    #: A worker holds the lease and is calling the provider.
    running = "running"
    #: Captioned; `caption`, tokens and cost are set.
    done = "done"
    #: Out of attempts or refused by the provider; `error` says why.
    failed = "failed"
    #: Fewer events than `binning.min_events`: never sent.
    skipped = "skipped"
    #: Its job was cancelled before it was captioned.
    cancelled = "cancelled"


TERMINAL_FRAME_STATES = (
    FrameState.done.value,
    FrameState.failed.value,
    FrameState.skipped.value,
    FrameState.cancelled.value,
)
#: Frames that still need a worker: the ones `labeller cancel` stops.
OPEN_FRAME_STATES = (
    FrameState.pending.value,
    FrameState.queued.value,
    FrameState.running.value,
)


class AttemptStatus(enum.StrEnum):
    #: 200 with a caption.
    ok = "ok"
    #: 429.
    rate_limited = "rate_limited"
    #: 529/503.
    overloaded = "overloaded"
    #: Other 5xx, connection errors, timeouts, malformed bodies.
    transient = "transient"
    #: 400/413.
    bad_request = "bad_request"
    #: 401/403.
    auth_error = "auth_error"


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    recording: Mapped[str] = mapped_column(Text)
    #: JSON of the job's `JobSpec`: routing, rendering and prompt; never a secret.
    spec: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=JobState.running.value)
    frame_count: Mapped[int] = mapped_column(Integer)
    simulated: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float, default=None)
    #: Digest of the prompt the job captions with: exact cache hits need the same one.
    prompt_hash: Mapped[str | None] = mapped_column(String(32), default=None)
    #: Why the job is `paused` (e.g. the budget it reached); None otherwise.
    paused_reason: Mapped[str | None] = mapped_column(Text, default=None)
    #: A `JobKind`: a full job, or a pilot that samples the recording.
    kind: Mapped[str] = mapped_column(
        String(16), default=JobKind.full.value, server_default=JobKind.full.value
    )
    #: A pilot's population: the frames (and of them, skipped ones) a full job over the same
    #: recording and settings would have, which its figures are extrapolated to; else None.
    full_frames: Mapped[int | None] = mapped_column(Integer, default=None)
    full_skipped: Mapped[int | None] = mapped_column(Integer, default=None)


class Frame(Base):
    __tablename__ = "frames"
    __table_args__ = (
        UniqueConstraint("job_id", "index", name="uq_frames_job_index"),
        Index("ix_frames_job_state", "job_id", "state"),
        Index("ix_frames_image_hash", "image_hash"),
        # The feeder's question: a job's next pending frames for one provider, in order.
        Index("ix_frames_feed", "job_id", "state", "provider", "index"),
        # `status --watch`: frames a job finished recently.
        Index("ix_frames_job_finished", "job_id", "finished_at"),
        *(Index(f"ix_frames_job_phash_b{band}", "job_id", f"phash_b{band}") for band in range(4)),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    t_start_us: Mapped[int] = mapped_column(BigInteger)
    t_end_us: Mapped[int] = mapped_column(BigInteger)
    i_start: Mapped[int] = mapped_column(BigInteger)
    i_end: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), default=FrameState.pending.value)
    #: The provider the frame is routed to now, or that captioned it.
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(128), default=None)
    caption: Mapped[str | None] = mapped_column(Text, default=None)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    #: Provider calls made for this frame so far.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(128), default=None)
    lease_until: Mapped[float | None] = mapped_column(Float, default=None)
    #: A pending frame waiting for a rate-limit slot is not published before this (epoch s).
    not_before: Mapped[float | None] = mapped_column(Float, default=None)
    updated_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float, default=None)
    #: `image_digest` of the rendered, encoded image (with the prompt text folded in when a
    #: template's fields were filled): exact cache lookups across jobs.
    image_hash: Mapped[str | None] = mapped_column(String(32), default=None)
    #: 64-bit perceptual hash in the signed range; its four 16-bit quarters (bits 0-15 in
    #: `phash_b0`, ..., 48-63 in `phash_b3`, each 0..65535) index near-duplicate lookups.
    phash: Mapped[int | None] = mapped_column(BigInteger, default=None)
    phash_b0: Mapped[int | None] = mapped_column(Integer, default=None)
    phash_b1: Mapped[int | None] = mapped_column(Integer, default=None)
    phash_b2: Mapped[int | None] = mapped_column(Integer, default=None)
    phash_b3: Mapped[int | None] = mapped_column(Integer, default=None)
    #: Set on a frame whose caption was copied from a cache hit: the frame it came from.
    #: 32 x 24 grayscale thumbnail confirming a near-duplicate match (`frames.thumbnail`).
    thumb: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    cached_from_job: Mapped[str | None] = mapped_column(String(32), default=None)
    cached_from_frame: Mapped[int | None] = mapped_column(Integer, default=None)
    #: A pilot's frame: the index the full job gives its window (what `{frame}` in a prompt
    #: names); None in a full job, where `index` is that number.
    full_index: Mapped[int | None] = mapped_column(Integer, default=None)


class Attempt(Base):
    """One provider call: which path a frame took is a query, not a guess."""

    __tablename__ = "attempts"
    __table_args__ = (
        Index("ix_attempts_job_frame", "job_id", "frame_index"),
        # `status --watch`: a job's attempts started recently.
        Index("ix_attempts_job_started", "job_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    frame_index: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    provider: Mapped[str] = mapped_column(String(32))
    #: Name of the env var the key came from: identifies the key, reveals nothing.
    key_alias: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    worker: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[float] = mapped_column(Float)
