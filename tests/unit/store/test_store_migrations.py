"""Migrations 0002-0006 on a database that already holds 0001 data, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect, text

from labeller.store import FrameOutcome, Store, find_exact, find_near, make_engine, upgrade
from tests.support import T0, FakeClock

JOB = "job-from-0001"
FRAME_COLUMNS = {
    "image_hash",
    "phash",
    "phash_b0",
    "phash_b1",
    "phash_b2",
    "phash_b3",
    "cached_from_job",
    "cached_from_frame",
}
JOB_COLUMNS = {"kind", "full_frames", "full_skipped"}
FRAME_INDEXES = {
    "ix_frames_image_hash",
    "ix_frames_job_finished",
    *(f"ix_frames_job_phash_b{band}" for band in range(4)),
}
ATTEMPT_INDEXES = {"ix_attempts_job_started"}


@pytest.fixture
def old_engine(database_url: str) -> Iterator[Engine]:
    """A database at revision 0001 with a job, two frames (one done) and an attempt."""
    engine = make_engine(database_url)
    upgrade(engine, "0001")
    frame = (
        "INSERT INTO frames (job_id, {q}index{q}, t_start_us, t_end_us, i_start, i_end, state, "
        "provider, model, caption, prompt_tokens, completion_tokens, cost_usd, attempts, "
        "updated_at, finished_at) VALUES (:job, :index, 0, 50000, 0, 100, :state, 'openai', "
        ":model, :caption, 0, 0, :cost, :attempts, :t, :finished)"
    ).format(q='"')
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO jobs (id, recording, spec, state, frame_count, simulated, "
                "created_at) VALUES (:id, 'r.h5', '{}', 'running', 2, false, :t)"
            ),
            {"id": JOB, "t": T0},
        )
        for index, state, caption in ((0, "done", "old caption"), (1, "pending", None)):
            conn.execute(
                text(frame),
                {
                    "job": JOB,
                    "index": index,
                    "state": state,
                    "model": "gpt-4o-mini" if caption else None,
                    "caption": caption,
                    "cost": 0.25 if caption else 0.0,
                    "attempts": 1 if caption else 0,
                    "t": T0,
                    "finished": T0 if caption else None,
                },
            )
        conn.execute(
            text(
                "INSERT INTO attempts (job_id, frame_index, number, provider, key_alias, model, "
                "status, latency_ms, prompt_tokens, completion_tokens, cost_usd, worker, "
                "started_at) VALUES (:job, 0, 1, 'openai', 'OPENAI_API_KEY', 'gpt-4o-mini', "
                "'ok', 120.0, 100, 9, 0.25, 'w', :t)"
            ),
            {"job": JOB, "t": T0},
        )
    yield engine
    engine.dispose()


def revision(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())


def columns(engine: Engine, table: str) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns(table)}


def indexes(engine: Engine, table: str) -> set[str]:
    return {str(index["name"]) for index in inspect(engine).get_indexes(table)}


def downgrade(engine: Engine, target: str) -> None:
    """What `labeller.store.upgrade` does, the other way (no CLI command needs it)."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("labeller.store") / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, target)


def test_upgrade_from_0001_keeps_the_data_and_adds_nullable_columns(old_engine: Engine) -> None:
    assert revision(old_engine) == "0001"
    assert not FRAME_COLUMNS & columns(old_engine, "frames")

    upgrade(old_engine)

    assert revision(old_engine) == "0006"
    assert FRAME_COLUMNS | {"thumb"} <= columns(old_engine, "frames")
    assert {"prompt_hash", "paused_reason"} | JOB_COLUMNS <= columns(old_engine, "jobs")
    assert FRAME_INDEXES <= indexes(old_engine, "frames")
    assert ATTEMPT_INDEXES <= indexes(old_engine, "attempts")
    with old_engine.connect() as conn:
        frames = conn.execute(
            text(
                'SELECT "index", state, caption, cost_usd, image_hash, phash, phash_b0, '
                'cached_from_job FROM frames ORDER BY "index"'
            )
        ).all()
        job = conn.execute(
            text("SELECT state, prompt_hash, paused_reason, kind, full_frames FROM jobs")
        ).one()
        attempts = conn.execute(text("SELECT count(*), sum(cost_usd) FROM attempts")).one()
    assert [tuple(frame) for frame in frames] == [
        (0, "done", "old caption", 0.25, None, None, None, None),
        (1, "pending", None, 0.0, None, None, None, None),
    ]
    assert tuple(job) == ("running", None, None, "full", None)  # an old job is a full job
    assert tuple(attempts) == (1, 0.25)


def test_old_rows_work_with_the_new_store(old_engine: Engine) -> None:
    upgrade(old_engine)
    store = Store(old_engine, clock=FakeClock())

    assert find_near(old_engine, JOB, 0, 3) is None  # old frames have no hash: never matched
    assert find_exact(old_engine, "0" * 32, "p", "gpt-4o-mini") is None
    frame = store.claim(JOB, 1, "openai", "w", 30.0, 6)
    assert frame is not None
    assert store.record_image(frame, "w", "a" * 32, -5) is True
    outcome = FrameOutcome("openai", "gpt-4o-mini", "new caption", 100, 9, 0.25)
    assert store.complete(frame, "w", outcome) is True
    assert store.pause_job(JOB, "budget") is True
    assert store.finish_job_if_complete(JOB) == "paused"
    hit = find_near(old_engine, JOB, -5, 0)
    assert hit is not None and (hit.frame_index, hit.caption) == (1, "new caption")


def test_downgrade_to_0001_and_up_again(old_engine: Engine) -> None:
    upgrade(old_engine)

    downgrade(old_engine, "0001")

    assert revision(old_engine) == "0001"
    assert not (FRAME_COLUMNS | {"thumb"}) & columns(old_engine, "frames")
    assert not ({"prompt_hash", "paused_reason"} | JOB_COLUMNS) & columns(old_engine, "jobs")
    assert not FRAME_INDEXES & indexes(old_engine, "frames")
    assert not ATTEMPT_INDEXES & indexes(old_engine, "attempts")
    assert "ix_frames_job_state" in indexes(old_engine, "frames")
    with old_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM frames")).scalar_one() == 2
    upgrade(old_engine)
    assert revision(old_engine) == "0006"
