"""One HTTP exporter per node: the sum of every worker process's metric files, plus queue depths.

Every worker process starts one; the first to bind the port serves and the others stand by,
trying the port again every `retry_s`, so when the serving worker stops another takes over.
"""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from labeller.errors import LabellerError
from labeller.metrics.definitions import QUEUE_DEPTH
from labeller.metrics.directory import forget_dead

__all__ = ["Exporter", "QueueDepths"]

log = logging.getLogger(__name__)

#: Messages waiting per queue name; raises a LabellerError when the broker cannot be read.
QueueDepths = Callable[[], Mapping[str, int]]


class _NodeCollector(Collector):
    """Every process's files, summed; live gauges of processes that died are dropped first."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._files = MultiProcessCollector(None, path=str(directory))  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        forget_dead(self._directory)
        metrics: Iterable[Metric] = self._files.collect()  # type: ignore[no-untyped-call]
        return metrics


class _QueueDepthCollector(Collector):
    """`labeller_queue_depth`, read from the broker at scrape time."""

    def __init__(self, depths: QueueDepths) -> None:
        self._depths = depths

    def describe(self) -> Iterable[Metric]:
        # Given, the registry does not call `collect` (a broker round trip) on registration.
        return [GaugeMetricFamily(QUEUE_DEPTH.name, QUEUE_DEPTH.help, labels=QUEUE_DEPTH.labels)]

    def collect(self) -> Iterable[Metric]:
        try:
            depths = self._depths()
        except LabellerError as exc:
            log.warning("metrics: queue depths not read: %s", exc)
            return []
        gauge = GaugeMetricFamily(QUEUE_DEPTH.name, QUEUE_DEPTH.help, labels=QUEUE_DEPTH.labels)
        for queue, depth in sorted(depths.items()):
            gauge.add_metric([queue], depth)
        return [gauge]


class Exporter:
    """Serves `directory`'s metrics on `host:port` once it holds the port."""

    def __init__(
        self,
        port: int,
        directory: Path,
        *,
        depths: QueueDepths | None = None,
        host: str = "0.0.0.0",
        retry_s: float = 10.0,
    ) -> None:
        self.port = port
        self._host = host
        self._retry_s = retry_s
        self._registry = CollectorRegistry()
        self._registry.register(_NodeCollector(directory))
        if depths is not None:
            self._registry.register(_QueueDepthCollector(depths))
        self._lock = threading.Lock()
        self._server: tuple[WSGIServer, threading.Thread] | None = None
        self._stop = threading.Event()
        self._standby: threading.Thread | None = None

    @property
    def serving(self) -> bool:
        return self._server is not None

    def serve(self) -> bool:
        """Bind the port and serve now; False if it is taken (or cannot be bound at all)."""
        with self._lock:
            if self._server is not None:
                return True
            if self._stop.is_set():
                return False
            try:
                self._server = start_http_server(self.port, self._host, self._registry)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    log.warning("metrics: cannot serve on port %s: %s", self.port, exc)
                    self._stop.set()
                return False
        log.info(
            "metrics: serving this node's workers on http://%s:%s/metrics", self._host, self.port
        )
        return True

    def start(self) -> None:
        """Serve, or stand by until the port frees up (another worker of this node serves)."""
        if self.serve() or self._stop.is_set():
            return
        log.info("metrics: port %s taken (another worker serves this node); standing by", self.port)
        self._standby = threading.Thread(target=self._wait_for_port, name="labeller-metrics")
        self._standby.daemon = True
        self._standby.start()

    def _wait_for_port(self) -> None:
        while not self._stop.wait(self._retry_s):
            if self.serve():
                return

    def stop(self) -> None:
        self._stop.set()
        if self._standby is not None:
            self._standby.join(timeout=self._retry_s + 5)
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            httpd, thread = server
            httpd.shutdown()
            httpd.server_close()
            thread.join(timeout=5)
