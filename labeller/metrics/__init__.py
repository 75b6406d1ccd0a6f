"""Prometheus metrics of the workers, summed over every worker process of a node.

`WorkerMetrics` is the entry point: it turns prometheus_client's multiprocess mode on (a
directory the node's workers share), gives the pipeline its observer and runs the node's
exporter. `METRICS` lists every metric with its labels and meaning.
"""

from __future__ import annotations

from labeller.metrics.definitions import METRICS, Kind, MetricSpec
from labeller.metrics.directory import MULTIPROC_ENV, default_directory
from labeller.metrics.exporter import Exporter, QueueDepths
from labeller.metrics.worker import WorkerMetrics

__all__ = [
    "METRICS",
    "MULTIPROC_ENV",
    "Exporter",
    "Kind",
    "MetricSpec",
    "QueueDepths",
    "WorkerMetrics",
    "default_directory",
]
