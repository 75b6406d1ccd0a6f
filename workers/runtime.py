"""One composition root per worker process: built after fork on first use, closed on shutdown."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

from celery import Celery

from labeller.config import load_settings
from labeller.errors import ConfigError
from labeller.pipeline import Pipeline
from labeller.routing import Limiter, RedisBackend
from labeller.store import Store, make_engine
from workers.metrics import pipeline_observer

__all__ = ["Runtime", "close_runtime", "get_runtime"]


@dataclass
class Runtime:
    pid: int
    pipeline: Pipeline
    store: Store
    backend: RedisBackend

    def close(self) -> None:
        self.pipeline.close()
        self.backend.close()
        self.store.engine.dispose()


_lock = threading.Lock()
_runtime: Runtime | None = None


def _build(app: Celery) -> Runtime:
    settings = load_settings()
    redis_url = settings.limiter_redis_url()
    if redis_url is None:
        raise ConfigError("redis_url: the rate limiter needs Redis; set LABELLER_REDIS_URL")
    store = Store(make_engine(settings.database_url), time.time)
    backend = RedisBackend.from_url(redis_url)
    limiter = Limiter(
        backend,
        settings.key_prefix,
        routing=settings.routing,
        edge_guard_s=settings.routing.edge_guard_s,
    )
    pipeline = Pipeline(
        store, limiter, simulator_url=settings.simulator_url, observer=pipeline_observer()
    )
    return Runtime(os.getpid(), pipeline, store, backend)


def get_runtime(app: Celery) -> Runtime:
    """This process's runtime; a forked child builds its own (engines do not survive a fork)."""
    global _runtime
    with _lock:
        if _runtime is None or _runtime.pid != os.getpid():
            _runtime = _build(app)
        return _runtime


def close_runtime() -> None:
    global _runtime
    with _lock:
        if _runtime is not None and _runtime.pid == os.getpid():
            _runtime.close()
        _runtime = None
