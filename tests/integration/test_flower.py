"""`labeller flower` against real jobs: it lists our tasks and our queues, in its API and pages.

Flower runs as a person runs it (`labeller flower`, which execs `celery -A workers.app flower`
with workers/flowerconfig.py). It learns of tasks only from the workers' live events, so it
runs while the job does; the browser test reads its pages mid-job, as the README shows them.
"""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from labeller.recordings import write_sample
from labeller.store import Job, make_engine
from tests.browser import artifact, browser_page

AUTH = ("admin", "flower-test")
OPENAI_KEY = "sk-proj-" + "Fl0w" * 10
ANTHROPIC_KEY = "sk-ant-" + "Fl0w" * 10
LABELLER = [sys.executable, "-m", "labeller.cli.__main__"]

StartFlower = Callable[..., str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def flower_env(redis_url: str, key_prefix: str, tmp_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "LABELLER_BROKER_URL": redis_url,
        "LABELLER_KEY_PREFIX": key_prefix,
        "LABELLER_DATABASE_URL": f"sqlite:///{tmp_path / 'labeller.db'}",
        "OPENAI_API_KEY": OPENAI_KEY,
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "COLUMNS": "160",
    }
    for name in ("LABELLER_CONFIG", "FLOWER_BASIC_AUTH"):
        env.pop(name, None)
    return env


@pytest.fixture
def start_flower(
    flower_env: dict[str, str], tmp_path: Path, wait_until: Callable[..., None]
) -> Iterator[StartFlower]:
    """`labeller flower ARGS` on a free loopback port, with basic auth given by option or by
    FLOWER_BASIC_AUTH; its URL once it answers."""
    processes: list[subprocess.Popen[bytes]] = []
    log_path = tmp_path / "flower.log"

    def start(*args: str, auth_in_env: bool = False) -> str:
        port = _free_port()
        command = [*LABELLER, "flower", "--port", str(port), *args]
        env = dict(flower_env)
        if auth_in_env:
            env["FLOWER_BASIC_AUTH"] = ":".join(AUTH)
        else:
            command += ["--basic-auth", ":".join(AUTH)]
        with log_path.open("wb") as log:
            process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        processes.append(process)
        url = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            try:
                return httpx.get(f"{url}/healthcheck", timeout=1).status_code == 200
            except httpx.HTTPError:
                return process.poll() is not None

        wait_until(answers, 60, "Flower to answer")
        assert process.poll() is None, log_path.read_text()
        # `labeller flower` has become Flower: the password went by environment, not argv.
        command_line = Path(f"/proc/{process.pid}/cmdline").read_bytes().decode()
        assert "flower" in command_line and "--max_tasks=" in command_line
        assert AUTH[1] not in command_line
        return url

    try:
        yield start
    finally:
        for process in processes:
            process.terminate()
            process.wait(30)


# --- the pages, in headless Chromium, on a job that is still running -------------------------

#: Tasks Flower keeps: fewer than the job has run when the pages are read.
HISTORY = 15
#: 10 ms windows over 1.2 s. At 400 ms a call and two calls at a time the job needs ~24 s, so
#: it is still running (and its queues hold messages) when the pages are shot, a few seconds
#: in; it is stopped then, not waited for.
FRAMES = 120
PROVIDERS = ("openai", "anthropic")


def _slow_job_config(tmp_path: Path) -> Path:
    slow = {"latency_ms": 400, "latency_jitter_ms": 50}
    config = {
        "binning": {"window": "10ms", "keep_partial": True},
        "worker_concurrency": 2,
        "providers": [
            {"name": "openai", "kind": "openai", "model": "gpt-4o-mini", "weight": 0.5},
            {"name": "anthropic", "kind": "anthropic", "model": "claude-haiku-4-5", "weight": 0.5},
        ],
        "simulator": {"seed": 4, "models": {"gpt-4o-mini": slow, "claude-haiku-4-5": slow}},
    }
    path = tmp_path / "labeller.yaml"
    path.write_text(json.dumps(config))
    return path


def _queue_counts(page_rows: list[list[str]]) -> dict[str, int]:
    """Queue name to message count, from the broker table's cells (blank cells fail here)."""
    return {row[0]: int(row[1].replace(",", "")) for row in page_rows}


def test_flower_pages_show_a_running_job(
    tmp_path: Path,
    start_flower: StartFlower,
    flower_env: dict[str, str],
    redis_url: str,
    key_prefix: str,
    wait_until: Callable[..., None],
) -> None:
    config = _slow_job_config(tmp_path)
    recording = tmp_path / "rec.h5"
    write_sample(recording, duration_s=FRAMES / 100, width=160, height=120, rate_hz=5e4, seed=8)
    with (tmp_path / "run.log").open("wb") as log:
        run = subprocess.Popen(
            [*LABELLER, "run", str(recording), "--simulate", "--workers", "1", "-C", str(config)],
            env=flower_env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    engine = make_engine(flower_env["LABELLER_DATABASE_URL"])
    broker = redis.Redis.from_url(redis_url)
    try:
        # Started while the job starts (it may miss its first tasks: what it counts is its own).
        # Flower lists the queues of its settings until it has asked a worker: the job's here.
        flower = start_flower("--max-tasks", str(HISTORY), "-C", str(config), auth_in_env=True)
        assert httpx.get(f"{flower}/tasks", timeout=10).status_code == 401

        def received() -> int:
            """Tasks Flower has heard of, from its own /metrics (not bounded by --max-tasks)."""
            text = httpx.get(f"{flower}/metrics", timeout=10).text
            return int(
                sum(
                    sample.value
                    for family in text_string_to_metric_families(text)
                    for sample in family.samples
                    if sample.name == "flower_events_total"
                    and sample.labels.get("type") == "task-received"
                    and sample.labels.get("task") == "label_frame"
                )
            )

        wait_until(
            lambda: received() > HISTORY + 3 or run.poll() is not None,
            60,
            lambda: f"Flower to hear of tasks; {(tmp_path / 'run.log').read_text()}",
        )
        assert run.poll() is None, (tmp_path / "run.log").read_text()
        with engine.connect() as conn:
            job_id = conn.scalar(select(Job.id))
        queued = sum(int(broker.llen(f"{key_prefix}:vlm.{p}")) for p in PROVIDERS)
        assert queued > 0  # the job is mid-way: the page below has real counts to show

        # Bounded history: Flower has heard of more tasks than it was told to keep.
        kept = httpx.get(f"{flower}/api/tasks", auth=AUTH, timeout=10).json()
        assert 0 < len(kept) <= HISTORY < received()
        api_pages = {
            page: httpx.get(f"{flower}{page}", auth=AUTH, timeout=10).text
            for page in ("/api/tasks", "/api/workers", "/broker")
        }

        with browser_page(credentials=AUTH, width=1600) as page:
            page.goto(f"{flower}/broker")
            page.wait_for_selector("#queue-table tbody tr td")
            rows = [
                [cell.inner_text().strip() for cell in row.locator("td").all()]
                for row in page.locator("#queue-table tbody tr").all()
            ]
            counts = _queue_counts(rows)
            page.screenshot(path=str(artifact("flower-broker.png")), full_page=True)

            page.goto(f"{flower}/tasks")
            # The table is filled by script from /tasks/datatable: wait for a task's link.
            page.wait_for_selector("#tasks-table tbody tr td a[href*='/task/']")
            header = page.locator("#tasks-table thead th").all_inner_texts()
            table = [
                [cell.inner_text().strip() for cell in row.locator("td").all()]
                for row in page.locator("#tasks-table tbody tr").all()
            ]
            # Cells wider than their column are cut with an ellipsis: count the cut kwargs.
            clipped = page.locator("#tasks-table tbody td:nth-child(2)").evaluate_all(
                "cells => cells.filter(c => c.scrollWidth > c.clientWidth).length"
            )
            page.screenshot(path=str(artifact("flower-tasks.png")), full_page=True)
            shown = page.content()
            # Flower's search reads the kwargs the workers sent: one provider's frames.
            page.fill("input[type=search]", "kwargs:provider=anthropic")
            page.wait_for_function(
                """() => {
                    const cells = [...document.querySelectorAll(
                        '#tasks-table tbody td:nth-child(2)')];
                    return cells.length > 0
                        && cells.every(c => c.textContent.endsWith('→ anthropic'));
                }""",
                timeout=15_000,
            )
        still_running = run.poll() is None
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(60)
        broker.close()
        engine.dispose()

    assert set(counts) == {f"vlm.{p}" for p in PROVIDERS}, rows
    assert 0 < sum(counts.values()) <= FRAMES
    assert still_running, "the job ended before its pages were read: no live view to check"

    assert [h.strip().lower() for h in header[:3]] == ["name", "kwargs", "state"], header
    assert 0 < len(table) <= HISTORY
    for name, kwargs, state, *_ in table:
        # `label_frame   job=3f2a9c1d0b7e, frame=7 → openai   SUCCESS …`
        assert name == "label_frame"
        found = re.fullmatch(r"job=(\w+), frame=(\d+) → (\w+)", kwargs)
        assert found, kwargs
        assert found[1] == job_id and int(found[2]) < FRAMES and found[3] in PROVIDERS
        assert state in {"RECEIVED", "STARTED", "SUCCESS"}
    assert clipped == 0
    assert OPENAI_KEY not in shown and ANTHROPIC_KEY not in shown
    # The API gives the arguments the workers sent, as their repr: ids and numbers.
    assert {t["name"] for t in kept.values()} == {"label_frame"}
    for task in kept.values():
        kwargs = ast.literal_eval(str(task["kwargs"]))
        assert kwargs["job"] == job_id and kwargs["provider"] in PROVIDERS
        assert 0 <= kwargs["frame"] < FRAMES
    for text in api_pages.values():
        assert OPENAI_KEY not in text and ANTHROPIC_KEY not in text
