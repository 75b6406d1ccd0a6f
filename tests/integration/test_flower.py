"""`celery -A workers.app flower` against a real job: it lists our tasks and our queues."""

from __future__ import annotations

import ast
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from labeller.recordings import write_sample

AUTH = ("admin", "flower-test")
OPENAI_KEY = "sk-proj-" + "Fl0w" * 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def flower_env(redis_url: str, key_prefix: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "LABELLER_BROKER_URL": redis_url,
        "LABELLER_KEY_PREFIX": key_prefix,
        "LABELLER_DATABASE_URL": f"sqlite:///{tmp_path / 'labeller.db'}",
        "OPENAI_API_KEY": OPENAI_KEY,
        "COLUMNS": "160",
    }


@pytest.fixture
def flower(
    flower_env: dict[str, str], tmp_path: Path, wait_until: Callable[..., None]
) -> Iterator[str]:
    port = _free_port()
    log = (tmp_path / "flower.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers.app", "flower", f"--port={port}",
         "--address=127.0.0.1", f"--basic-auth={AUTH[0]}:{AUTH[1]}"],
        env=flower_env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(f"{url}/healthcheck", timeout=1).status_code == 200
        except httpx.HTTPError:
            return process.poll() is not None

    try:
        wait_until(answers, 60, "Flower to answer")
        assert process.poll() is None, (tmp_path / "flower.log").read_text()
        yield url
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def test_flower_shows_label_frame_tasks_and_provider_queues(
    tmp_path: Path, flower: str, flower_env: dict[str, str], wait_until: Callable[..., None]
) -> None:
    recording = tmp_path / "rec.h5"
    write_sample(recording, duration_s=0.5, width=160, height=120, rate_hz=5e4, seed=8)
    run = subprocess.run(
        [sys.executable, "-m", "labeller.cli.__main__", "run", str(recording), "--simulate",
         "--workers", "1", "--keep-partial"],
        env=flower_env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    job_id = run.stdout.strip().splitlines()[-1].removeprefix("job id: ").strip()

    def tasks() -> dict[str, dict[str, object]]:
        response = httpx.get(f"{flower}/api/tasks", auth=AUTH, timeout=10)
        response.raise_for_status()
        return dict(response.json())

    wait_until(
        lambda: sum(t.get("state") == "SUCCESS" for t in tasks().values()) == 10,
        60,
        "Flower to see all ten tasks succeed",
    )
    listed = list(tasks().values())
    assert {t["name"] for t in listed} == {"label_frame"}
    # Flower shows arguments as their repr: ids and numbers, readable at a glance.
    kwargs = [ast.literal_eval(str(t["kwargs"])) for t in listed]
    assert {k["job"] for k in kwargs} == {job_id}
    assert sorted(k["frame"] for k in kwargs) == list(range(10))
    # The provider, hence the queue, each frame went to (no task-sent events are published,
    # so Flower learns of a task when a worker receives it).
    assert {k["provider"] for k in kwargs} == {"openai"}

    broker_page = httpx.get(f"{flower}/broker", auth=AUTH, timeout=10).text
    assert "vlm.openai" in broker_page
    assert httpx.get(f"{flower}/api/tasks", timeout=10).status_code == 401
    for page in ("/api/tasks", "/api/workers", "/broker", "/tasks"):
        assert OPENAI_KEY not in httpx.get(f"{flower}{page}", auth=AUTH, timeout=10).text
