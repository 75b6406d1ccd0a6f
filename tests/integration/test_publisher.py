"""The publisher puts each frame's message on its provider's queue and on no other."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
import redis
from kombu import Connection, Exchange, Queue

from labeller.config import Settings, load_settings
from labeller.pipeline import FrameMessage
from workers import make_publisher

MESSAGES = 1200  # more than one pipelined batch


def _messages(providers: tuple[str, str]) -> list[FrameMessage]:
    return [FrameMessage("job", i, i, i + 1, i, i + 1, providers[i % 2]) for i in range(MESSAGES)]


def _settings(broker_url: str, key_prefix: str, providers: tuple[str, str]) -> Settings:
    return load_settings(
        overrides={
            "broker_url": broker_url,
            "key_prefix": key_prefix,
            "providers": [{"name": p, "model": "m", "api_key_env": None} for p in providers],
        }
    )


def test_each_message_lands_on_one_queue_on_redis(redis_url: str, key_prefix: str) -> None:
    providers = ("first", "second")
    publisher = make_publisher(_settings(redis_url, key_prefix, providers))
    try:
        publisher.publish(_messages(providers))
    finally:
        publisher.close()
    client = redis.Redis.from_url(redis_url)
    try:
        lengths = [client.llen(f"{key_prefix}:vlm.{p}") for p in providers]
    finally:
        client.close()
    # Every queue bound to one exchange would double this (a message on every queue).
    assert lengths == [MESSAGES // 2, MESSAGES // 2]


def test_each_message_lands_on_one_queue_on_rabbitmq(key_prefix: str) -> None:
    url = os.environ.get("LABELLER_TEST_RABBITMQ_URL")
    if not url:
        pytest.skip("RabbitMQ case: set LABELLER_TEST_RABBITMQ_URL to run it")
    token = uuid.uuid4().hex[:8]
    providers = (f"x{token}", f"y{token}")
    publisher = make_publisher(_settings(url, key_prefix, providers))
    try:
        publisher.publish(_messages(providers))
    finally:
        publisher.close()
    with Connection(url, connect_timeout=5) as connection:
        try:
            counts = []
            for name in (f"vlm.{p}" for p in providers):
                declared = Queue(name, no_declare=True).bind(connection.channel())
                reply: Any = declared.queue_declare(passive=True)  # amqp's queue_declare_ok_t
                counts.append(int(reply.message_count))
            assert counts == [MESSAGES // 2, MESSAGES // 2]
        finally:
            for name in (f"vlm.{p}" for p in providers):
                for entity in (Queue(name, no_declare=True), Exchange(name, no_declare=True)):
                    try:
                        entity.bind(connection.channel()).delete()
                    except connection.channel_errors:
                        pass
