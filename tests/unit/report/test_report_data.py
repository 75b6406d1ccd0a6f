"""The report's figures from a small job written row by row, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from labeller.report import build_gallery, collect, render_page
from labeller.store import Attempt, FailureGroup, Frame, get_job, make_engine, upgrade
from tests.unit.report.conftest import AddJob

T0 = 1_700_000_000.0
PROVIDERS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}


def _attempt(frame: int, provider: str, status: str, latency_ms: float, at: float) -> Any:
    return {
        "job_id": "j1",
        "frame_index": frame,
        "number": 1,
        "provider": provider,
        "key_alias": "KEY",
        "model": "m",
        "status": status,
        "http_status": 200 if status == "ok" else 429,
        "latency_ms": latency_ms,
        "cost_usd": 0.01 if status == "ok" else 0.0,
        "error": None,
        "worker": "w",
        "started_at": T0 + at,
    }


@pytest.fixture
def engine(database_url: str, add_job: AddJob) -> Iterator[Engine]:
    """Four frames: 0 done by openai; 1 done by anthropic after openai's 429 (a fallback);
    2 failed on anthropic; 3 still pending."""
    engine = make_engine(database_url)
    upgrade(engine)
    frames = [
        ("done", "openai", 2.0, None, "a cat"),
        ("done", "anthropic", 3.0, None, "a dog"),
        ("failed", "anthropic", 4.0, "boom", None),
        ("pending", "openai", None, None, None),
    ]
    add_job(engine, PROVIDERS, frame_count=4, created_at=T0)
    with engine.begin() as conn:
        conn.execute(
            insert(Frame),
            [
                {
                    "job_id": "j1",
                    "index": i,
                    "t_start_us": 10_000_000 + i * 50_000,
                    "t_end_us": 10_000_000 + (i + 1) * 50_000,
                    "i_start": 0,
                    "i_end": 0,
                    "state": state,
                    "provider": provider,
                    "caption": caption,
                    "error": error,
                    "updated_at": T0,
                    "finished_at": None if at is None else T0 + at,
                }
                for i, (state, provider, at, error, caption) in enumerate(frames)
            ],
        )
        conn.execute(
            insert(Attempt),
            [
                _attempt(0, "openai", "ok", 100.0, 1.9),
                _attempt(1, "openai", "rate_limited", 5.0, 1.0),
                _attempt(1, "anthropic", "ok", 300.0, 2.7),
                _attempt(2, "anthropic", "transient", 50.0, 3.9),
            ],
        )
    yield engine
    engine.dispose()


def test_figures_match_the_rows(engine: Engine) -> None:
    job = get_job(engine, "j1")
    assert job is not None

    data = collect(engine, job, T0 + 5.0)

    by_name = {p.name: p for p in data.providers}
    openai, anthropic = by_name["openai"], by_name["anthropic"]
    assert (openai.frames_done, openai.calls, openai.rate_limited, openai.fallbacks) == (1, 2, 1, 1)
    assert (anthropic.frames_done, anthropic.calls, anthropic.other_errors) == (1, 2, 1)
    assert anthropic.fallbacks == 0
    assert openai.latency is not None and openai.latency.p50 == 100.0
    assert anthropic.latency is not None and anthropic.latency.count == 1
    assert openai.cost_usd == pytest.approx(0.01)
    assert data.failures == [FailureGroup("boom", 1, (2,))]
    assert data.duration_s == 5.0
    assert data.timeline.first_done_s == 2.0
    assert data.timeline.done_curve[-1] == (5.0, 2.0)
    assert data.timeline.failed_curve[-1] == (5.0, 1.0)
    bucket = data.timeline.bucket_s
    assert sum(data.timeline.rate_by_provider["openai"]) * bucket == pytest.approx(1.0)


def test_the_page_shows_failures_and_captions_without_the_recording(engine: Engine) -> None:
    job = get_job(engine, "j1")
    assert job is not None
    data = collect(engine, job, T0 + 5.0)

    gallery = build_gallery(engine, "j1", data.spec, 12)
    html = render_page(data, gallery, version="test")

    assert [item.frame.index for item in gallery.items] == [0, 1]
    assert gallery.note is not None and "gone.h5: no such file" in gallery.note
    assert gallery.origin_us == 10_000_000
    assert "boom" in html and "a cat" in html and "a dog" in html
    assert "0.050–0.100 s" in html
