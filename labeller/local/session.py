"""Everything a command needs to run a job on this machine alone, started and stopped together.

Without a broker URL: an embedded Redis (broker and limiter). With `simulate` and no
`simulator_url` configured: the simulator on a free port. With `workers > 0`: that many Celery
worker processes. All of it stops when the block ends, on success, error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

from labeller.config import Settings
from labeller.local.embedded_redis import EmbeddedRedis
from labeller.local.workers import LocalWorkers
from labeller.simulator import SimulatorConfig, SimulatorServer

__all__ = ["LocalSession"]


class LocalSession:
    """Resolves the broker and simulator URLs for a command and owns what it started."""

    def __init__(
        self,
        settings: Settings,
        *,
        simulate: bool,
        simulator_config: SimulatorConfig | None,
        workers: int,
        config_path: Path | None,
    ) -> None:
        self._settings = settings
        self._simulate = simulate
        self._simulator_config = simulator_config or SimulatorConfig()
        self._workers_count = workers
        self._config_path = config_path
        self._stack = ExitStack()
        self._workdir = Path(tempfile.mkdtemp(prefix="labeller-"))
        self.broker_url = settings.broker_url
        self.simulator_url = settings.simulator_url
        self.workers: LocalWorkers | None = None
        self.failed = False

    @property
    def log_dir(self) -> Path:
        return self._workdir

    def __enter__(self) -> LocalSession:
        try:
            self._start()
        except BaseException:
            self.failed = True
            self._stack.close()
            raise
        return self

    def _start(self) -> None:
        if self.broker_url is None:
            redis = self._stack.enter_context(EmbeddedRedis(self._workdir / "redis"))
            self.broker_url = redis.url
        if self._simulate and self.simulator_url is None:
            server = self._stack.enter_context(SimulatorServer(self._simulator_config))
            self.simulator_url = server.url
        if self._workers_count > 0:
            self.workers = self._stack.enter_context(
                LocalWorkers(
                    self._workers_count,
                    queues=[f"vlm.{p.name}" for p in self._settings.providers],
                    concurrency=self._settings.worker_concurrency,
                    env=self.worker_env(),
                    log_dir=self._workdir / "logs",
                )
            )

    def worker_env(self) -> dict[str, str]:
        """What a worker needs to find the same broker, database, limiter and simulator."""
        env = {
            "LABELLER_DATABASE_URL": _absolute_sqlite(self._settings.database_url),
            "LABELLER_KEY_PREFIX": self._settings.key_prefix,
        }
        if self.broker_url:
            env["LABELLER_BROKER_URL"] = self.broker_url
        if self._settings.redis_url:
            env["LABELLER_REDIS_URL"] = self._settings.redis_url
        if self.simulator_url:
            env["LABELLER_SIMULATOR_URL"] = self.simulator_url
        if self._config_path is not None:
            env["LABELLER_CONFIG"] = str(self._config_path.resolve())
        if (
            self._settings.broker_url is None
            and "metrics_port" not in self._settings.model_fields_set
        ):
            # A run on its own embedded Redis exports no metrics unless asked to (file or
            # LABELLER_METRICS_PORT): no port opened on every interface by a trial run.
            env["LABELLER_METRICS_PORT"] = "0"
        return env

    def alive(self) -> bool:
        return self.workers is None or self.workers.alive()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()
        if exc_type is None and not self.failed:
            shutil.rmtree(self._workdir, ignore_errors=True)


def _absolute_sqlite(url: str) -> str:
    """Workers may start elsewhere: pin a relative SQLite path to this directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str(Path(url[len(prefix) :]).resolve())
    return url
