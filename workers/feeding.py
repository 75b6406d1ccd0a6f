"""The feeder thread every worker runs, so jobs are fed for as long as any worker is up.

Each worker's main process starts one when it is ready and stops it on shutdown; a lease in the
limiter's Redis lets one of them act at a time (`labeller.jobs.leader`), on whichever node.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import Celery

from labeller.config import Settings, load_settings
from labeller.jobs import Feeder, Leadership, run_feeder
from labeller.routing import RedisBackend
from labeller.store import Store, make_engine
from workers.publisher import CeleryPublisher

__all__ = ["FeederThread", "leadership_for"]

log = logging.getLogger(__name__)


def leadership_for(settings: Settings) -> tuple[Leadership, RedisBackend] | None:
    """The shared feeder lease in the limiter's Redis, and its backend (close it); None
    without one (then every feeder acts, which the database's conditional writes keep correct).
    """
    url = settings.limiter_redis_url()
    if url is None:
        return None
    backend = RedisBackend.from_url(url)
    ttl_s = max(5.0, 5 * settings.feeder.interval_s)
    return Leadership(backend, f"{settings.key_prefix}:feeder:leader", ttl_s), backend


class FeederThread:
    """A daemon thread running `run_feeder` over this process's own engine and publisher."""

    def __init__(self, app: Celery, settings: Settings) -> None:
        self._settings = settings
        self._store = Store(make_engine(settings.database_url), time.time)
        self._publisher = CeleryPublisher(app)
        lease = leadership_for(settings)
        self._backend = lease[1] if lease else None
        self._stop = threading.Event()
        feeder = Feeder(self._store, self._publisher, settings.feeder)
        self._thread = threading.Thread(
            target=run_feeder,
            args=(feeder, lease[0] if lease else None, self._stop, settings.feeder.interval_s),
            name="labeller-feeder",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        if self._backend is not None:
            self._backend.close()
        self._publisher.close()
        self._store.engine.dispose()


_feeder: FeederThread | None = None


def start_feeder(app: Celery, **_: Any) -> None:
    global _feeder
    settings = load_settings()
    if not settings.feeder.enabled or _feeder is not None:
        return
    _feeder = FeederThread(app, settings)
    _feeder.start()
    log.info("feeder started (one of the workers' feeders acts at a time)")


def stop_feeder(**_: Any) -> None:
    global _feeder
    if _feeder is not None:
        _feeder.stop()
        _feeder = None
