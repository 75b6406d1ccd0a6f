"""The queue depths the metrics exporter reads from the broker: Redis and RabbitMQ."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from celery import Celery
from kombu import Connection, Exchange, Queue

from labeller.config import Settings, load_settings
from labeller.errors import BrokerUnavailable
from labeller.pipeline import FrameMessage
from workers import make_publisher
from workers.queues import BrokerQueues
from workers.settings import celery_config


def _settings(broker_url: str, key_prefix: str, providers: tuple[str, ...]) -> Settings:
    return load_settings(
        overrides={
            "broker_url": broker_url,
            "key_prefix": key_prefix,
            "providers": [{"name": p, "model": "m", "api_key_env": None} for p in providers],
        }
    )


def _depths(settings: Settings) -> dict[str, int]:
    app = Celery("queue-depths", set_as_current=False)
    app.conf.update(celery_config(settings))
    try:
        return BrokerQueues(app, [f"vlm.{p.name}" for p in settings.providers]).depths()
    finally:
        app.close()


def _publish(settings: Settings, counts: dict[str, int]) -> None:
    publisher = make_publisher(settings)
    try:
        publisher.publish(
            [FrameMessage("job", i, 0, 1, 0, 1, p) for p, n in counts.items() for i in range(n)]
        )
    finally:
        publisher.close()


def test_redis_queue_lengths_under_the_key_prefix(redis_url: str, key_prefix: str) -> None:
    settings = _settings(redis_url, key_prefix, ("first", "second", "idle"))
    _publish(settings, {"first": 5, "second": 2})

    # `idle` was never published to: its list does not exist, so it holds nothing.
    assert _depths(settings) == {"vlm.first": 5, "vlm.second": 2, "vlm.idle": 0}


def test_an_unreachable_broker_is_broker_unavailable(key_prefix: str) -> None:
    settings = _settings("redis://127.0.0.1:1/0", key_prefix, ("first",))

    with pytest.raises(BrokerUnavailable, match=r"redis://127\.0\.0\.1:1/0"):
        _depths(settings)


@pytest.fixture
def rabbitmq_url() -> Iterator[str]:
    url = os.environ.get("LABELLER_TEST_RABBITMQ_URL")
    if not url:
        pytest.skip("RabbitMQ case: set LABELLER_TEST_RABBITMQ_URL to run it")
    yield url


def test_rabbitmq_message_counts(rabbitmq_url: str, key_prefix: str) -> None:
    token = uuid.uuid4().hex[:8]
    providers = (f"x{token}", f"y{token}")
    settings = _settings(rabbitmq_url, key_prefix, providers)
    _publish(settings, {providers[0]: 3})
    try:
        # The second queue was never declared: a passive declare finds nothing there.
        assert _depths(settings) == {f"vlm.{providers[0]}": 3, f"vlm.{providers[1]}": 0}
    finally:
        with Connection(rabbitmq_url, connect_timeout=5) as connection:
            name = f"vlm.{providers[0]}"
            for entity in (Queue(name, no_declare=True), Exchange(name, no_declare=True)):
                entity.bind(connection.channel()).delete()
