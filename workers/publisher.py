"""Publish frame messages on `vlm.<provider>` queues over one producer connection."""

from __future__ import annotations

from collections.abc import Sequence

from celery import Celery

from labeller.config import Settings
from labeller.pipeline import FrameMessage
from workers.settings import celery_config, queue_name

__all__ = ["LABEL_FRAME", "CeleryPublisher", "make_publisher"]

#: The task's registered name, as Flower shows it.
LABEL_FRAME = "label_frame"


class CeleryPublisher:
    """`labeller.jobs.Publisher` on a Celery app: ids and numbers in, messages out."""

    def __init__(self, app: Celery) -> None:
        self._app = app

    def close(self) -> None:
        self._app.close()

    def publish(self, messages: Sequence[FrameMessage], countdown_s: float | None = None) -> None:
        if not messages:
            return
        with self._app.producer_or_acquire() as producer:
            for message in messages:
                self._app.send_task(
                    LABEL_FRAME,
                    kwargs=message.as_kwargs(),
                    queue=queue_name(message.provider),
                    countdown=countdown_s or None,
                    producer=producer,
                )


def make_publisher(settings: Settings) -> CeleryPublisher:
    """A publisher on its own app configured from `settings`: the producer never runs tasks."""
    app = Celery("labeller-producer", set_as_current=False)
    app.conf.update(celery_config(settings))
    return CeleryPublisher(app)
