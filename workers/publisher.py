"""Publish frame messages on `vlm.<provider>` queues over one producer connection."""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from urllib.parse import urlsplit

import redis
from celery import Celery
from kombu.exceptions import KombuError
from kombu.utils.uuid import uuid

from labeller.config import Settings
from labeller.errors import BrokerUnavailable, ConfigError
from labeller.pipeline import FrameMessage
from workers.settings import celery_config, queue_name

__all__ = ["LABEL_FRAME", "CeleryPublisher", "make_publisher"]

#: The task's registered name, as Flower shows it.
LABEL_FRAME = "label_frame"
#: Messages per pipelined broker round.
PUBLISH_BATCH = 1000
REDIS_SCHEMES = ("redis://", "rediss://")


class CeleryPublisher:
    """`labeller.jobs.Publisher` on a Celery app: ids and numbers in, messages out."""

    def __init__(self, app: Celery, *, owns_app: bool = False) -> None:
        self._app = app
        self._owns_app = owns_app
        self._origin = f"labeller-feeder@{socket.gethostname()}"
        self._marker: redis.Redis | None = None
        prefix = app.conf.broker_transport_options.get("global_keyprefix", "")
        self._marker_key = f"{prefix}broker-marker"

    def close(self) -> None:
        if self._marker is not None:
            self._marker.close()
        if self._owns_app:
            self._app.close()

    def check(self) -> None:
        """Connect once now, so a wrong broker URL stops a command before it writes a job."""
        with _translated(self._app):
            with self._app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=2, interval_start=0, timeout=5)

    def publish(self, messages: Sequence[FrameMessage]) -> None:
        """Celery task messages (protocol 2), PUBLISH_BATCH per pipelined broker round.

        `apply_async` is a round trip per message (celery#1803) and runs Celery's routing and
        signals each time; the feeder publishes thousands a second, so the message is built by
        Celery (`as_task_v2`) and published through kombu's producer batch: on Redis one
        pipeline per batch, on RabbitMQ one channel with publisher confirms.
        """
        if not messages:
            return
        amqp = self._app.amqp
        with _translated(self._app), self._app.producer_or_acquire() as producer:
            # Each queue declared once per call, not per message (kombu copies it each time).
            for name in {queue_name(m.provider) for m in messages}:
                producer.maybe_declare(amqp.queues[name])
            with producer.batch(max_size=PUBLISH_BATCH):
                for message in messages:
                    queue = amqp.queues[queue_name(message.provider)]
                    headers, properties, body, _ = amqp.as_task_v2(
                        uuid(),
                        LABEL_FRAME,
                        kwargs=message.as_kwargs(),
                        # What Flower shows; given, it spares a saferepr of the kwargs.
                        argsrepr="()",
                        kwargsrepr=message.describe(),
                        origin=self._origin,
                    )
                    producer.publish(
                        body,
                        # The default exchange delivers by queue name, on Redis and RabbitMQ
                        # alike; a named one costs kombu's Redis transport a binding lookup
                        # (a round trip) per message, which defeats the pipeline.
                        exchange="",
                        routing_key=queue.name,
                        declare=[],
                        serializer="json",
                        headers=headers,
                        delivery_mode=2,
                        **properties,
                    )
            self._mark_alive()

    def messages_lost(self) -> bool:
        """On Redis: True if the marker key written with every publish is gone (the server
        restarted empty or was flushed, so every queued message went with it)."""
        client = self._marker_client()
        if client is None:
            return False
        with _translated(self._app):
            return bool(client.set(self._marker_key, "1", nx=True))

    def _mark_alive(self) -> None:
        client = self._marker_client()
        if client is not None:
            client.set(self._marker_key, "1")

    def _marker_client(self) -> redis.Redis | None:
        if self._marker is None and str(self._app.conf.broker_url).startswith(REDIS_SCHEMES):
            self._marker = redis.Redis.from_url(str(self._app.conf.broker_url))
        return self._marker


@contextmanager
def _translated(app: Celery) -> Iterator[None]:
    """Broker failures as BrokerUnavailable, naming the broker without its credentials."""
    url = urlsplit(str(app.conf.broker_url))
    where = f"{url.scheme}://{url.hostname or ''}{f':{url.port}' if url.port else ''}{url.path}"
    try:
        yield
    except KeyError as exc:  # kombu's "No such transport"
        raise ConfigError(f"broker_url: unknown transport {url.scheme!r}") from exc
    except (KombuError, OSError, redis.RedisError) as exc:
        raise BrokerUnavailable(f"broker {where}: {exc}") from exc


def make_publisher(settings: Settings) -> CeleryPublisher:
    """A publisher on its own app configured from `settings`: the producer never runs tasks."""
    app = Celery("labeller-producer", set_as_current=False)
    app.conf.update(celery_config(settings))
    return CeleryPublisher(app, owns_app=True)
