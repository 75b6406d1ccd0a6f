"""Publish frame messages on `vlm.<provider>` queues over one producer connection."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from urllib.parse import urlsplit

from celery import Celery
from kombu.exceptions import KombuError

from labeller.config import Settings
from labeller.errors import BrokerUnavailable, ConfigError
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

    def check(self) -> None:
        """Connect once now, so a wrong broker URL stops a command before it writes a job."""
        with _translated(self._app):
            with self._app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=2, interval_start=0, timeout=5)

    def publish(self, messages: Sequence[FrameMessage], countdown_s: float | None = None) -> None:
        if not messages:
            return
        with _translated(self._app), self._app.producer_or_acquire() as producer:
            for message in messages:
                self._app.send_task(
                    LABEL_FRAME,
                    kwargs=message.as_kwargs(),
                    queue=queue_name(message.provider),
                    countdown=countdown_s or None,
                    producer=producer,
                )


@contextmanager
def _translated(app: Celery) -> Iterator[None]:
    """Broker failures as BrokerUnavailable, naming the broker without its credentials."""
    url = urlsplit(str(app.conf.broker_url))
    where = f"{url.scheme}://{url.hostname or ''}{f':{url.port}' if url.port else ''}{url.path}"
    try:
        yield
    except KeyError as exc:  # kombu's "No such transport"
        raise ConfigError(f"broker_url: unknown transport {url.scheme!r}") from exc
    except (KombuError, OSError) as exc:
        raise BrokerUnavailable(f"broker {where}: {exc}") from exc


def make_publisher(settings: Settings) -> CeleryPublisher:
    """A publisher on its own app configured from `settings`: the producer never runs tasks."""
    app = Celery("labeller-producer", set_as_current=False)
    app.conf.update(celery_config(settings))
    return CeleryPublisher(app)
