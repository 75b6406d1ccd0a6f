"""Running a job on one machine: embedded Redis, the simulator and local worker processes."""

from __future__ import annotations

from labeller.local.embedded_redis import EmbeddedRedis, redis_server_binary
from labeller.local.session import LocalSession
from labeller.local.workers import LocalWorkers, worker_command

__all__ = [
    "EmbeddedRedis",
    "LocalSession",
    "LocalWorkers",
    "redis_server_binary",
    "worker_command",
]
