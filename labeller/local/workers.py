"""Real Celery worker processes on this machine, for `labeller run` without a broker."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from labeller.local._children import Service, spawn, stop

__all__ = ["LocalWorkers", "worker_command"]

#: How long a worker gets to finish its in-flight calls on shutdown, in seconds.
SHUTDOWN_GRACE_S = 20.0


def worker_command(
    queues: Sequence[str], *, concurrency: int, name: str, loglevel: str = "INFO"
) -> list[str]:
    """The `celery worker` command line for the threads pool (see README: why threads)."""
    return [
        sys.executable, "-m", "celery", "-A", "workers.app", "worker",
        "--pool", "threads",
        "--concurrency", str(concurrency),
        "--queues", ",".join(queues),
        "--hostname", f"{name}@%h",
        "--loglevel", loglevel,
        "--without-mingle", "--without-gossip",
    ]  # fmt: skip


class LocalWorkers(Service):
    """`count` worker processes sharing `env`; logs land in `log_dir/worker-N.log`."""

    def __init__(
        self,
        count: int,
        *,
        queues: Sequence[str],
        concurrency: int,
        env: Mapping[str, str],
        log_dir: Path,
    ) -> None:
        self._count = count
        self._queues = list(queues)
        self._concurrency = concurrency
        self._env = {**os.environ, **env}
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for n in range(self._count):
            command = worker_command(
                self._queues, concurrency=self._concurrency, name=f"labeller{n + 1}-{os.getpid()}"
            )
            self.processes.append(
                spawn(command, env=self._env, log=self.log_dir / f"worker-{n + 1}.log")
            )

    def alive(self) -> bool:
        """True while at least one worker is running."""
        return any(p.poll() is None for p in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            stop(process, grace_s=SHUTDOWN_GRACE_S)
        self.processes.clear()
