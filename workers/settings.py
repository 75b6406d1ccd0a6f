"""Celery settings derived from labeller's, with the reasons each one is set."""

from __future__ import annotations

from typing import Any

from kombu import Queue

from labeller.config import Settings
from labeller.errors import ConfigError

__all__ = ["celery_config", "queue_name"]

#: Redis redelivers an unacknowledged message this long after fetch (celery#7651), in seconds.
#: Provider calls (timeout_s <= 600) and leases stay far below it, so no slow call runs twice.
VISIBILITY_TIMEOUT_S = 3600


def queue_name(provider: str) -> str:
    return f"vlm.{provider}"


def celery_config(settings: Settings) -> dict[str, Any]:
    if not settings.broker_url:
        raise ConfigError(
            "broker_url: not set; export LABELLER_BROKER_URL (e.g. redis://host:6379/0) for workers"
        )
    transport: dict[str, Any] = {"visibility_timeout": VISIBILITY_TIMEOUT_S}
    if settings.broker_url.startswith(("redis", "rediss")):
        # Every broker key under our prefix, so jobs and tests can share one Redis.
        transport["global_keyprefix"] = f"{settings.key_prefix}:"
    return {
        "broker_url": settings.broker_url,
        "broker_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        "task_queues": [Queue(queue_name(p.name)) for p in settings.providers],
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
        # Flower's live view.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "worker_hijack_root_logger": False,
    }
