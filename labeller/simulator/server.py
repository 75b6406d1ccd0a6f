"""A real HTTP server that answers like a VLM provider, for integration and chaos tests.

Stdlib `ThreadingHTTPServer` with daemon handler threads: slow answers (simulated latency)
overlap as they would against the real service, and a stuck client never blocks shutdown.
HTTP/1.1 keep-alive is on, so a pooled `httpx.Client` reuses its connections.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast

from labeller.simulator._app import Simulator, key_hash
from labeller.simulator.config import SimulatorConfig

__all__ = ["SimulatorServer"]

logger = logging.getLogger(__name__)

#: Largest request body read, in bytes; the real API refuses far smaller ones too.
_MAX_BODY = 64 * 1024 * 1024
#: How often the background loop checks for stop(), in seconds; bounds how long stop() takes.
_POLL_S = 0.05
_QUERY_KEY = re.compile(r"([?&]key=)[^&\s]*")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    #: listen() backlog. The stdlib's 5 overflowed when a few hundred worker threads connected
    #: at once, and the kernel reset some of those connections (the client's ReadError).
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], simulator: Simulator) -> None:
        self.simulator = simulator
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "labeller-simulator"
    #: Headers and body go out in two writes; with Nagle on, delayed ACKs add ~40 ms each.
    disable_nagle_algorithm = True
    sys_version = ""

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= _MAX_BODY:
            self.close_connection = True
            self.send_error(400 if length < 0 else 413)
            return
        body = self.rfile.read(length) if length > 0 else b""
        simulator = cast(_HTTPServer, self.server).simulator
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = simulator.handle(self.command, self.path, headers, body)
        if reply.drop:
            self.close_connection = True
            return
        payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode("utf-8")
        self.send_response(reply.status)
        if "content-type" not in reply.headers:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        # The request line may carry a Gemini key as `?key=`: never log it.
        safe = [_QUERY_KEY.sub(r"\1***", a) if isinstance(a, str) else a for a in args]
        logger.debug("%s " + format, self.address_string(), *safe)


class SimulatorServer:
    """Serve a SimulatorConfig over HTTP on `host:port` (port 0 picks a free one).

    One port speaks every format at its real path: OpenAI `/v1/chat/completions`, Anthropic
    `/v1/messages`, Gemini `/v1beta/models/{model}:generateContent`, Vertex AI
    `/v1/projects/{p}/locations/{l}/publishers/google/models/{model}:generateContent` with
    tokens from `POST /token`; plus `GET /health`, `GET /stats[?requests=1]`, `POST /stats/reset`.
    `clock` (epoch s) drives the RPM/TPM windows, token expiry and the stats minutes, so tests
    can advance time. Latency and injected hangs end at once when the server stops.
    """

    def __init__(
        self,
        config: SimulatorConfig,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._simulator = Simulator(config, clock=clock)
        self._address = (host, port)
        self._httpd: _HTTPServer | None = None
        #: The thread running serve_forever: ours after start(), the caller's in serve_forever().
        self._thread: threading.Thread | None = None
        self._background = False

    @staticmethod
    def key_hash(key: str) -> str:
        """How /stats names an API key (or, for Vertex AI, a service account's email)."""
        return key_hash(key)

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321; raises RuntimeError before start."""
        if self._httpd is None:
            raise RuntimeError("SimulatorServer is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        """Bind, listen and serve on a daemon thread; returns once connections are accepted."""
        httpd = self._bind()
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": _POLL_S},
            name="simulator-server",
            daemon=True,
        )
        self._background = True
        self._thread.start()
        logger.info("simulator listening on %s", self.url)

    def wait(self) -> None:
        """Block until the server started by `start()` stops; Ctrl-C interrupts the wait."""
        thread = self._thread
        while thread is not None and thread.is_alive():
            thread.join(0.5)

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted or stop() from another thread."""
        httpd = self._bind()
        self._thread, self._background = threading.current_thread(), False
        logger.info("simulator listening on %s", self.url)
        try:
            httpd.serve_forever()
        finally:
            self._simulator.engine.close()
            httpd.server_close()
            self._httpd, self._thread = None, None

    def stop(self) -> None:
        """Stop serving and close the listening socket; a no-op if not serving.

        From the thread inside serve_forever() (e.g. a signal handler) this would deadlock in
        `shutdown`, so that case raises RuntimeError; let KeyboardInterrupt end it instead.
        """
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        if thread is threading.current_thread():
            raise RuntimeError("stop() called from the thread running serve_forever()")
        self._httpd, self._thread = None, None
        self._simulator.engine.close()
        httpd.shutdown()
        if self._background:
            thread.join()
        httpd.server_close()

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _bind(self) -> _HTTPServer:
        if self._httpd is not None:
            raise RuntimeError("SimulatorServer is already bound")
        self._httpd = _HTTPServer(self._address, self._simulator)
        self._simulator.engine.open()
        return self._httpd
