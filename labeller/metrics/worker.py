"""A worker process's metrics: the node's shared directory, the exporter, the observer.

Built in the worker's main process before its pool starts and before any task runs, so that
multiprocess mode is on (`enable`) before any metric is made; pool processes forked later
inherit the mode and the directory.
"""

from __future__ import annotations

import os
import threading

from labeller.metrics.directory import enable, retire
from labeller.metrics.exporter import Exporter, QueueDepths
from labeller.metrics.observer import PrometheusObserver
from labeller.pipeline import PipelineObserver

__all__ = ["WorkerMetrics"]


class WorkerMetrics:
    """Multiprocess mode on the directory of `port` and `key_prefix`; `start` serves the node
    on `host:port` if the port is free."""

    def __init__(
        self,
        port: int,
        *,
        key_prefix: str,
        depths: QueueDepths | None = None,
        host: str = "0.0.0.0",
        retry_s: float = 10.0,
    ) -> None:
        self._pid = os.getpid()
        self.directory = enable(port, key_prefix)
        self._exporter = Exporter(port, self.directory, depths=depths, host=host, retry_s=retry_s)
        self._lock = threading.Lock()
        self._observer: tuple[int, PipelineObserver] | None = None

    def start(self) -> None:
        self._exporter.start()

    def observer(self) -> PipelineObserver:
        """This process's observer, made once per process (a forked child makes its own)."""
        with self._lock:
            if self._observer is None or self._observer[0] != os.getpid():
                self._observer = (os.getpid(), PrometheusObserver())
            return self._observer[1]

    def stop(self) -> None:
        """Stop serving (another worker of the node takes over) and drop this process's
        calls-in-flight gauge; its counters stay in the directory."""
        if os.getpid() == self._pid:  # a forked pool process has no exporter of its own
            self._exporter.stop()
        retire(self.directory, os.getpid())
