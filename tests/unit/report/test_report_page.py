"""The report of a job that has barely begun still renders, saying what is missing."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import insert

from labeller.report import build_gallery, collect, render_page
from labeller.store import Frame, get_job, make_engine, upgrade
from tests.unit.report.conftest import AddJob


def test_a_job_without_a_finished_frame_renders(tmp_path: Path, add_job: AddJob) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'labeller.db'}")
    upgrade(engine)
    now = time.time()
    add_job(engine, {"openai": "gpt-4o-mini"}, frame_count=3, created_at=now - 5)
    with engine.begin() as conn:
        conn.execute(
            insert(Frame),
            [
                {
                    "job_id": "j1",
                    "index": i,
                    "t_start_us": i * 50_000,
                    "t_end_us": (i + 1) * 50_000,
                    "i_start": 0,
                    "i_end": 0,
                    "provider": "openai",
                    "updated_at": now,
                }
                for i in range(3)
            ],
        )
    job = get_job(engine, "j1")
    assert job is not None

    data = collect(engine, job, now)
    html = render_page(data, build_gallery(engine, "j1", data.spec, 12), version="test")

    assert data.summary.done == 0 and data.timeline.first_done_s is None
    assert "no frame has been captioned yet" in html
    assert "no successful call yet" in html
    assert '<span class="id">j1</span>' in html and 'data-state="running"' in html
    engine.dispose()
