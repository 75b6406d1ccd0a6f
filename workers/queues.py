"""How many messages wait on each provider queue, read from the broker (for the metrics).

Redis: LLEN of the queue's list under the key prefix (kombu's passive declare asks EXISTS
without the prefix, so it would report every queue missing). RabbitMQ: a passive declare,
whose reply carries the message count. A queue that does not exist yet holds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis
from celery import Celery

from workers.publisher import _translated
from workers.settings import _AMQP_SCHEMES, _scheme

__all__ = ["BrokerQueues"]

_REDIS_SCHEMES = frozenset({"redis", "rediss"})


class BrokerQueues:
    """Reads the depth of `names` on `app`'s broker; one short connection per reading."""

    def __init__(self, app: Celery, names: Sequence[str]) -> None:
        self._app = app
        self._names = list(names)

    def depths(self) -> dict[str, int]:
        """Messages per queue; BrokerUnavailable if the broker cannot be read. Empty for a
        transport other than Redis or RabbitMQ."""
        scheme = _scheme(str(self._app.conf.broker_url))
        with _translated(self._app):
            if scheme in _REDIS_SCHEMES:
                return self._redis_depths()
            if scheme in _AMQP_SCHEMES:
                return self._amqp_depths()
        return {}

    def _redis_depths(self) -> dict[str, int]:
        url = str(self._app.conf.broker_url).split(";", 1)[0].strip()
        prefix = self._app.conf.broker_transport_options.get("global_keyprefix", "")
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        try:
            with client.pipeline(transaction=False) as pipe:
                for name in self._names:
                    pipe.llen(f"{prefix}{name}")
                lengths = pipe.execute()
        finally:
            client.close()
        return {name: int(n) for name, n in zip(self._names, lengths, strict=True)}

    def _amqp_depths(self) -> dict[str, int]:
        depths: dict[str, int] = {}
        with self._app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, timeout=5)
            for name in self._names:
                # A passive declare of a missing queue closes its channel: one channel each.
                channel: Any = connection.channel()  # an amqp Channel; stubs say StdChannel
                try:
                    depths[name] = int(
                        channel.queue_declare(queue=name, passive=True).message_count
                    )
                except connection.channel_errors:
                    depths[name] = 0
                finally:
                    if channel.is_open:
                        channel.close()
        return depths
