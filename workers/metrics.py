"""The worker's metrics, wired to Celery's signals: on at `worker_init`, served from
`worker_ready`, off at shutdown.

`worker_init` fires in the worker's main process before its pool starts and before any task
runs: early enough to turn prometheus_client's multiprocess mode on (see labeller.metrics).
The exporter starts at `worker_ready`, once Celery has set up logging, so its line shows.
"""

from __future__ import annotations

import logging

from celery import Celery

from labeller.config import load_settings
from labeller.errors import LabellerError
from labeller.metrics import WorkerMetrics
from labeller.pipeline import NullObserver, PipelineObserver
from workers.queues import BrokerQueues
from workers.settings import queue_name

__all__ = ["pipeline_observer", "serve_metrics", "start_metrics", "stop_metrics"]

log = logging.getLogger(__name__)

_metrics: WorkerMetrics | None = None


def start_metrics(app: Celery) -> None:
    """Record this worker's metrics (unless `metrics_port` is off)."""
    global _metrics
    settings = load_settings()
    if not settings.metrics_port or _metrics is not None:
        return
    queues = BrokerQueues(app, [queue_name(p.name) for p in settings.providers])
    try:
        _metrics = WorkerMetrics(
            settings.metrics_port,
            key_prefix=settings.key_prefix,
            depths=queues.depths,
            host=settings.metrics_host,
        )
    except (OSError, LabellerError) as exc:  # no usable directory: the worker works, uncounted
        log.warning("metrics off: %s", exc)


def serve_metrics() -> None:
    """Serve the node's metrics, unless another worker of the node already does."""
    if _metrics is not None:
        _metrics.start()


def pipeline_observer() -> PipelineObserver:
    """What the pipeline of this process reports to: the metrics, or nothing when they are off."""
    return _metrics.observer() if _metrics is not None else NullObserver()


def stop_metrics() -> None:
    global _metrics
    if _metrics is not None:
        _metrics.stop()
        _metrics = None
