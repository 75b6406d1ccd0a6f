"""What the simulator answers, apart from sockets: routing to the three wire formats and the rest.

One process and port serve OpenAI, Anthropic, Gemini and Vertex AI at their real paths, the
OAuth token endpoint Vertex credentials refresh from, and the /health and /stats endpoints.
Raw API keys and tokens never leave the format modules: everything downstream sees a short
sha256 prefix.
"""

from __future__ import annotations

import re
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping

from labeller.simulator import _anthropic, _gemini, _openai
from labeller.simulator._engine import Engine
from labeller.simulator._oauth import TokenStore
from labeller.simulator._wire import Reply, key_hash
from labeller.simulator.config import SimulatorConfig

__all__ = ["Reply", "Simulator", "key_hash"]

_GEMINI = re.compile(r"/(?:v1|v1beta)/models/([^/:]+):generateContent")
_VERTEX = re.compile(
    r"/(?:v1|v1beta1)/projects/[^/]+/locations/([^/]+)/publishers/google/models/([^/:]+)"
    r":generateContent"
)


class Simulator:
    """Answers requests from a SimulatorConfig; safe to call from many handler threads."""

    def __init__(self, config: SimulatorConfig, clock: Callable[[], float] = time.time) -> None:
        self.engine = Engine(config, clock)
        self.tokens = TokenStore(clock)

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Route one request; `headers` has lower-case names. Unknown routes get a 404."""
        split = urllib.parse.urlsplit(target)
        route = urllib.parse.unquote(split.path)
        query = dict(urllib.parse.parse_qsl(split.query))
        gemini, vertex = _GEMINI.fullmatch(route), _VERTEX.fullmatch(route)
        if method == "POST" and route == "/v1/chat/completions":
            reply = _openai.handle(self.engine, headers, body)
            reply.headers["x-request-id"] = f"req_{uuid.uuid4().hex}"
        elif method == "POST" and route == "/v1/messages":
            reply = _anthropic.handle(self.engine, headers, body)
        elif method == "POST" and gemini is not None:
            reply = _gemini.handle_gemini(self.engine, headers, query, gemini[1], body)
        elif method == "POST" and vertex is not None:
            location, model = vertex[1], vertex[2]
            reply = _gemini.handle_vertex(
                self.engine,
                self.tokens,
                headers,
                location,
                model,
                body,
                self.engine.config.vertex_static_tokens,
            )
        elif method == "POST" and route == "/token":
            reply = self.tokens.grant(headers, body)
        elif method == "GET" and route == "/health":
            reply = Reply(200, {"status": "ok"})
        elif method == "GET" and route == "/stats":
            listing = query.get("requests", "") not in ("", "0", "false")
            reply = Reply(200, self.engine.stats.snapshot(with_requests=listing))
        elif method == "POST" and route == "/stats/reset":
            self.engine.stats.reset()
            reply = Reply(200, {"status": "ok"})
        elif route.startswith(("/v1beta/", "/v1beta1/", "/v1/models/", "/v1/projects/")):
            message = f"The requested URL {route} was not found on this server."
            reply = _gemini.error(404, "NOT_FOUND", message)
        else:
            message = f"Invalid URL ({method} {route})"
            reply = Reply(404, _openai.error_body(message, "invalid_request_error"))
        return reply
