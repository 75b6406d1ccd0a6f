"""Celery settings derived from labeller's, with the reasons each one is set.

Two brokers are supported: Redis (also the default, embedded one) and RabbitMQ (AMQP). With
RabbitMQ the rate limiter still needs Redis: `redis_url` names it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from kombu import Exchange, Queue

from labeller.config import Settings
from labeller.errors import ConfigError

__all__ = ["celery_config", "queue_name"]

#: Redis redelivers an unacknowledged message this long after fetch (celery#7651), in seconds.
#: Provider calls (timeout_s <= 600) and leases stay far below it, so no slow call runs twice.
VISIBILITY_TIMEOUT_S = 3600

#: RabbitMQ closes the channel of a consumer that holds an unacknowledged message longer than
#: its `consumer_timeout` (default 30 min; celery#6760), and every message of that channel is
#: redelivered. With `task_acks_late` a worker holds a message from delivery until its task ends,
#: countdown included: at most a countdown (a few minutes: waits longer than that live in the
#: database, not in the broker) plus one task (limiter waits of `routing.inline_wait_s`, render,
#: one provider call bounded by `timeout_s` <= 600 s), so about 15 min at worst, half this bound.
#: Nothing here sets it; it is the server's (`rabbitmq.conf`), so it is stated for reviewers.
AMQP_CONSUMER_TIMEOUT_S = 1800

_REDIS_SCHEMES = frozenset({"redis", "rediss", "sentinel"})
_AMQP_SCHEMES = frozenset({"amqp", "amqps", "pyamqp"})


def queue_name(provider: str) -> str:
    return f"vlm.{provider}"


def _scheme(broker_url: str) -> str:
    """The first broker's scheme (kombu accepts `url1;url2` for failover)."""
    return urlsplit(broker_url.split(";", 1)[0].strip()).scheme.lower()


def _transport_options(settings: Settings, scheme: str) -> dict[str, Any]:
    if scheme in _REDIS_SCHEMES:
        # Every broker key under our prefix, so jobs and tests can share one Redis.
        return {
            "visibility_timeout": VISIBILITY_TIMEOUT_S,
            "global_keyprefix": f"{settings.key_prefix}:",
        }
    if scheme in _AMQP_SCHEMES:
        # Publisher confirms: a publish returns once RabbitMQ has taken the message, and one it
        # refused raises instead of vanishing, so a frame marked queued has a message. Quorum
        # queues would need this too (celery#9149); our classic queues want it for the same
        # reason. (py-amqp silently ignores unknown options such as `visibility_timeout`.)
        return {"confirm_publish": True}
    # Other kombu transports (SQS has the same option and meaning as Redis).
    return {"visibility_timeout": VISIBILITY_TIMEOUT_S}


def _queue(provider: str, amqp: bool) -> Queue:
    """`vlm.<provider>` with its own direct exchange and routing key, on every transport.

    Without them Celery binds every queue to the default queue's exchange and key, and a
    message published to that exchange lands on every provider's queue (on Redis too).
    """
    name = queue_name(provider)
    if not amqp:
        return Queue(name, Exchange(name, type="direct"), routing_key=name)
    # Classic durable queues (Celery's messages are persistent), not quorum ones: quorum queues
    # replicate over a cluster (nothing gained on one node), need publisher confirms
    # (celery#9149), reject the global QoS Celery asks for unless it spots `x-queue-type`, move
    # countdowns to Celery's delayed-delivery exchanges, and drop a message past their delivery
    # limit, where ours is the attempt count in the database. Naming the type keeps a vhost whose
    # default queue type is quorum from choosing for us.
    return Queue(
        name,
        Exchange(name, type="direct", durable=True),
        routing_key=name,
        durable=True,
        queue_arguments={"x-queue-type": "classic"},
    )


def celery_config(settings: Settings) -> dict[str, Any]:
    if not settings.broker_url:
        raise ConfigError(
            "broker_url: not set; export LABELLER_BROKER_URL (e.g. redis://host:6379/0) for workers"
        )
    scheme = _scheme(settings.broker_url)
    amqp = scheme in _AMQP_SCHEMES
    config: dict[str, Any] = {
        "broker_url": settings.broker_url,
        "broker_transport_options": _transport_options(settings, scheme),
        "broker_connection_retry_on_startup": True,
        "task_queues": [_queue(p.name, amqp) for p in settings.providers],
        "task_default_queue": queue_name(settings.providers[0].name),
        "task_serializer": "json",
        "accept_content": ["json"],
        # At-least-once: a task is acknowledged after it ran; a dead worker's task is redelivered
        # (celery#4426); the database claim makes the second run a no-op.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        # Results live in SQL; result keys have filled Redis (celery#7801).
        "task_ignore_result": True,
        "task_store_errors_even_if_ignored": False,
        # Flower's live view: workers report each task as they receive and run it. No
        # "task-sent" event: it would be a second broker write for every message published.
        "worker_send_task_events": True,
        "task_send_sent_event": False,
        "worker_hijack_root_logger": False,
    }
    if amqp:
        # A channel RabbitMQ closed (a consumer_timeout trip, a PRECONDITION_FAILED) restarts
        # the consumer instead of stopping the worker; its unacked messages were redelivered.
        config["broker_channel_error_retry"] = True
    return config
