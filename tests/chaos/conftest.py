"""Fixtures of the chaos tests: a broker of either kind, and provider names of the test's own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from kombu import Connection, Exchange, Queue


@dataclass(frozen=True)
class Broker:
    kind: str
    url: str
    #: Provider names unique to the test: queues are `vlm.<name>` on a shared broker.
    providers: tuple[str, str]


def _delete_queues(url: str, names: tuple[str, ...]) -> None:
    with Connection(url, connect_timeout=5) as connection:
        for name in (f"vlm.{n}" for n in names):
            # One channel per delete: a failed delete closes its channel.
            for entity in (Queue(name, no_declare=True), Exchange(name, no_declare=True)):
                try:
                    entity.bind(connection.channel()).delete()
                except connection.channel_errors:
                    pass


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest, redis_url: str) -> Iterator[Broker]:
    """The test's Redis (keys under the test's prefix), or CI's RabbitMQ where it is set."""
    token = uuid.uuid4().hex[:8]
    names = (f"a{token}", f"b{token}")
    if request.param == "redis":
        yield Broker("redis", redis_url, names)
        return
    url = os.environ.get("LABELLER_TEST_RABBITMQ_URL")
    if not url:
        pytest.skip("RabbitMQ case: set LABELLER_TEST_RABBITMQ_URL to run it")
    try:
        yield Broker("rabbitmq", url, names)
    finally:
        _delete_queues(url, names)


def two_providers(names: tuple[str, str], **extra: object) -> list[dict[str, object]]:
    """Two simulated providers, each the other's fallback. Calls time out after 5 s (the
    simulator answers in a fraction of that), so a lease renewed for a call stays short."""
    first, second = names
    extra = {"timeout_s": 5.0, **extra}
    return [
        {"name": first, "model": "sim-a", "api_key_env": None, "fallback": [second], **extra},
        {"name": second, "model": "sim-b", "api_key_env": None, "fallback": [first], **extra},
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Where both the broker and the database vary, run RabbitMQ with PostgreSQL only.

    Redis runs with both databases and PostgreSQL with both brokers; the fourth combination
    adds nothing the other three do not test and costs a minute of CI.
    """
    kept, dropped = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("broker") == "rabbitmq" and params.get("database_url") == "sqlite":
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
