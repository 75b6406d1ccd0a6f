"""`labeller report` on the session's finished job, read back in headless Chromium.

The page's charts carry their figures as `data-*` attributes; the test compares them with the
job's database (opened read-only), and the gallery's captions with the frames' captions.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from html import escape
from pathlib import Path

from labeller.report import build_gallery, collect, render_page
from labeller.store import get_job, make_engine
from tests.browser import artifact, browser_page
from tests.integration.conftest import FinishedJob


@contextmanager
def _read_only(job: FinishedJob) -> Iterator[sqlite3.Connection]:
    """The job's SQLite database, opened so nothing can be written to it."""
    path = job.database_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        yield conn


def _done_by_provider(job: FinishedJob) -> dict[str, int]:
    with _read_only(job) as conn:
        rows = conn.execute(
            "SELECT provider, count(*) FROM frames WHERE job_id = ? AND state = 'done' "
            "GROUP BY provider",
            (job.job_id,),
        )
        return {provider: n for provider, n in rows}


def _captions(job: FinishedJob) -> dict[int, str]:
    with _read_only(job) as conn:
        rows = conn.execute(
            "SELECT \"index\", caption FROM frames WHERE job_id = ? AND state = 'done'",
            (job.job_id,),
        )
        return {index: caption for index, caption in rows}


def _rate_limited(job: FinishedJob) -> dict[str, int]:
    with _read_only(job) as conn:
        rows = conn.execute(
            "SELECT provider, count(*) FROM attempts WHERE job_id = ? AND status = 'rate_limited' "
            "GROUP BY provider",
            (job.job_id,),
        )
        return {provider: n for provider, n in rows}


def test_report_shows_plots_and_gallery_from_the_database(
    finished_job: FinishedJob, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    done = _done_by_provider(finished_job)
    captions = _captions(finished_job)
    limited = _rate_limited(finished_job)
    assert set(done) == {"openai", "anthropic"}, "the shared job should use both providers"

    run = finished_job.labeller("report", finished_job.job_id, "-o", str(out))

    assert run.returncode == 0, run.stdout + run.stderr
    assert f"report of job {finished_job.job_id}: {out}" in run.stdout
    html = out.read_text()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)
    requests: list[str] = []
    with browser_page(width=1400) as page:
        page.on("request", lambda request: requests.append(request.url))
        page.goto(out.as_uri())
        page.wait_for_load_state("load")

        progress = page.locator('svg[data-chart="progress"] polyline[data-series="done"]')
        assert int(progress.get_attribute("data-points") or 0) > 10
        assert float(progress.get_attribute("data-final") or -1) == sum(done.values())

        throughput = page.locator('svg[data-chart="throughput"]')
        bucket_s = float(throughput.get_attribute("data-bucket-s") or 0)
        for provider, frames in done.items():
            rates = throughput.locator(f'rect[data-series="{provider}"]').evaluate_all(
                "bars => bars.map(b => Number(b.dataset.value))"
            )
            assert round(sum(rates) * bucket_s) == frames

        for provider, frames in done.items():
            share = page.locator(f'svg[data-chart="share"] rect[data-category="{provider}"]')
            assert float(share.get_attribute("data-value") or -1) == frames
            box = page.locator(f'svg[data-chart="latency"] g.box[data-category="{provider}"]')
            assert float(box.get_attribute("data-value") or 0) > 0
            cost = page.locator(f'svg[data-chart="cost"] rect[data-category="{provider}"]')
            assert float(cost.get_attribute("data-value") or 0) > 0
            limits = page.locator(
                f'svg[data-chart="limits"] rect[data-category="{provider}"][data-series="429s"]'
            )
            assert float(limits.get_attribute("data-value") or -1) == limited.get(provider, 0)

        figures = page.locator("figure.frame")
        shown = figures.evaluate_all(
            """figs => figs.map(f => ({
                frame: Number(f.dataset.frame),
                decoded: f.querySelector('img').complete
                    && f.querySelector('img').naturalWidth > 0,
                caption: f.querySelector('.caption').textContent,
            }))"""
        )
        assert len(shown) == min(12, len(captions))
        assert all(item["decoded"] for item in shown), json.dumps(shown)[:500]
        assert {item["frame"]: item["caption"] for item in shown} == {
            item["frame"]: captions[item["frame"]] for item in shown
        }
        assert page.locator("#failures").inner_text().strip() != ""

        page.screenshot(path=str(artifact("report.png")), full_page=True)

    assert requests and all(url.startswith(("file:", "data:")) for url in requests), requests


def test_report_without_its_recording_keeps_the_captions_and_says_why(
    finished_job: FinishedJob, tmp_path: Path
) -> None:
    database = tmp_path / "copy.db"
    with _read_only(finished_job) as source, closing(sqlite3.connect(database)) as copy:
        source.backup(copy)
    gone = tmp_path / "moved-away.h5"
    with closing(sqlite3.connect(database)) as conn:  # the copy, never the shared job's file
        (spec,) = conn.execute(
            "SELECT spec FROM jobs WHERE id = ?", (finished_job.job_id,)
        ).fetchone()
        conn.execute(
            "UPDATE jobs SET spec = ? WHERE id = ?",
            (json.dumps({**json.loads(spec), "recording": str(gone)}), finished_job.job_id),
        )
        conn.commit()
    engine = make_engine(f"sqlite:///{database}")
    job = get_job(engine, finished_job.job_id)
    assert job is not None

    data = collect(engine, job, time.time())
    gallery = build_gallery(engine, job.id, data.spec, 12)
    html = render_page(data, gallery, version="test")

    assert gallery.note == f"the pseudo-frames cannot be redrawn: {gone}: no such file"
    assert escape(gallery.note) in html
    assert "<img" not in html
    captions = _captions(finished_job)
    assert len(gallery.items) == min(12, len(captions))
    assert all(item.frame.caption == captions[item.frame.index] for item in gallery.items)
    assert html.count('<figure class="frame"') == len(gallery.items)
    assert 'data-chart="share"' in html
    engine.dispose()


def test_report_errors_are_one_line(finished_job: FinishedJob, tmp_path: Path) -> None:
    cases = [
        (("no-such-job", "-o", str(tmp_path / "r.html")), "job no-such-job: no such job"),
        (
            (finished_job.job_id, "-o", str(tmp_path / "missing" / "r.html")),
            f"folder {tmp_path / 'missing'} does not exist",
        ),
    ]
    for args, message in cases:
        run = finished_job.labeller("report", *args)

        assert run.returncode == 2, (args, run.stdout, run.stderr)
        assert run.stderr.startswith("error: ") and message in run.stderr, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert list(tmp_path.iterdir()) == []
