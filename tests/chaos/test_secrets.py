"""Secrets audit: after a whole job with real-looking keys, no key is anywhere it could leak to.

Two providers on the simulator, one with two keys, both answering some 429s, so error paths
(exception texts, Attempt rows, log lines) run too; a third provider on a stub that refuses its
key with a 401 whose message echoes the key (as a careless server might), so the AuthError path
runs; one worker logs at DEBUG. Flower watches the job. Afterwards every key, raw, in fragments
and in each base64 alignment, is searched for in every Redis key and value (broker message
bodies decoded) seen during and after the job and every command Redis ran (MONITOR), every
database row, every log line (workers' and Flower's), and every Flower page and API answer.
The search is shown not to be vacuous: the simulator and the stub saw each key.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import json
import re
import secrets
import socket
import string
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import redis
from sqlalchemy import Engine, inspect, select, text

from labeller.jobs import create_job
from labeller.local._children import spawn
from labeller.local.workers import worker_command
from labeller.recordings import open_recording, write_sample
from labeller.store import Attempt, AttemptStatus
from tests.chaos.harness import Cluster, WaitUntil, cluster

FRAMES = 120
#: Environment variables holding the keys: two of one provider, one each of the others.
OPENAI_ENV_1, OPENAI_ENV_2 = "LEAKTEST_OPENAI_KEY_1", "LEAKTEST_OPENAI_KEY_2"
ANTHROPIC_ENV = "LEAKTEST_ANTHROPIC_KEY"
REFUSED_ENV = "LEAKTEST_REFUSED_KEY"
_ALPHABET = string.ascii_letters + string.digits


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def _make_keys() -> dict[str, str]:
    """Fresh real-looking keys, by env var (built from pieces: none is in this file)."""
    return {
        OPENAI_ENV_1: "sk-proj-" + _random(48),
        OPENAI_ENV_2: "sk-proj-" + _random(48),
        ANTHROPIC_ENV: "sk-ant-api03-" + _random(80) + "AA",
        REFUSED_ENV: "sk-proj-" + _random(48),
    }


def _key_hash(secret: str) -> str:
    """How the simulator names a key in /stats: 12 hex digits of its sha256."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def _base64_forms(piece: str) -> list[str]:
    """What `piece` looks like inside base64 text at each of the three byte alignments
    (standard and URL-safe alphabets), without the characters its neighbours decide."""
    forms: list[str] = []
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + piece.encode()).decode()
        core = encoded[(pad * 4 + 2) // 3 + 1 : -4]
        forms.extend({core, core.replace("+", "-").replace("/", "_")})
    return forms


def _needles(secret: str) -> list[tuple[str, str]]:
    """(what, string) pairs to search for: the key, 16-character pieces of its random part (a
    truncated or partly masked key still shows), and each of those in base64."""
    body = secret.rsplit("-", 1)[-1]
    pieces = [secret] + [body[i : i + 16] for i in range(0, len(body) - 15, 16)]
    needles: list[tuple[str, str]] = []
    for n, piece in enumerate(pieces):
        what = "key" if n == 0 else f"piece {n}"
        needles.append((f"{what} raw", piece))
        needles.extend((f"{what} base64", form) for form in _base64_forms(piece))
    return needles


# --- what there is to search --------------------------------------------------------------------

_BASE64 = re.compile(r"^[A-Za-z0-9+/=_-]{8,}$")


def _json_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_strings(item)


def _decoded(value: str) -> str | None:
    """`value` base64-decoded to UTF-8 text (standard or URL-safe), or None if it is not."""
    if not _BASE64.match(value):
        return None
    decode = base64.urlsafe_b64decode if ("-" in value or "_" in value) else base64.b64decode
    try:
        return decode(value + "=" * (-len(value) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None


def _expand(value: str, depth: int = 0) -> list[str]:
    """`value`, then the text of every base64 string inside it when it is JSON (kombu's
    messages: `{"body": "<base64>", ...}`; the unacked hash: `[message, exchange, key]`)."""
    found = [value]
    if depth >= 3:
        return found
    try:
        candidates = list(_json_strings(json.loads(value)))
    except ValueError:
        candidates = [value]
    for item in candidates:
        inner = _decoded(item)
        if inner is not None:
            found.extend(_expand(inner, depth + 1))
    return found


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _redis_snapshot(client: redis.Redis) -> tuple[list[tuple[str, str]], list[str]]:
    """(where, text) for every key of the database and every value it holds, expanded; and,
    apart, the decoded message bodies alone (to show the search can see inside them)."""
    texts: list[tuple[str, str]] = []
    bodies: list[str] = []
    for key in client.scan_iter(count=1000):
        name = _text(key)
        where = f"redis key {name!r}"
        texts.append((f"{where} (its name)", name))
        kind = _text(client.type(key))
        values: list[bytes | str] = []
        try:
            if kind == "string":
                values = [v for v in [client.get(key)] if v is not None]
            elif kind == "list":
                values = list(client.lrange(key, 0, -1))
            elif kind == "hash":
                for field, item in client.hgetall(key).items():
                    values.extend((field, item))
            elif kind == "set":
                values = list(client.smembers(key))
            elif kind == "zset":
                values = [_text(member) for member in client.zrange(key, 0, -1)]
            elif kind == "stream":
                for _, entry in client.xrange(key) or []:
                    for field, item in (entry or {}).items():
                        values.extend((field, item))
        except redis.ResponseError:  # the key changed type or vanished between TYPE and read
            continue
        for value in values:
            expanded = _expand(_text(value))
            texts.append((f"{where} ({kind})", expanded[0]))
            texts.extend((f"{where} ({kind}, base64 inside decoded)", t) for t in expanded[1:])
            bodies.extend(expanded[1:])
    return texts, bodies


def _find(secrets_by_env: dict[str, str], places: list[tuple[str, str]]) -> list[str]:
    """Every (key, needle, place) found, with context; each distinct text searched once."""
    first: dict[str, str] = {}
    for where, haystack in places:
        first.setdefault(haystack, where)
    texts = list(first)
    joined = "\0".join(texts)
    starts: list[int] = []
    offset = 0
    for haystack in texts:
        starts.append(offset)
        offset += len(haystack) + 1
    leaks: list[str] = []
    for env, secret in secrets_by_env.items():
        for what, needle in _needles(secret):
            at = joined.find(needle)
            while at >= 0:
                n = bisect.bisect_right(starts, at) - 1
                haystack, local = texts[n], at - starts[n]
                context = haystack[max(0, local - 80) : local + len(needle) + 80]
                leaks.append(f"{env} ({what}) in {first[haystack]}: ...{context}...")
                at = joined.find(needle, at + 1)
    return leaks


def _rows(engine: Engine) -> list[tuple[str, str]]:
    """(table, every value of one row) for every row of every table."""
    found: list[tuple[str, str]] = []
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                found.append((table, "\n".join(str(value) for value in row)))
    return found


class RedisMonitor:
    """Every command the Redis server runs while it is open (MONITOR): pub/sub events and
    messages taken off a queue before any snapshot could see them included."""

    def __init__(self, url: str) -> None:
        # No socket timeout: a quiet moment must not end the recording.
        self._client = redis.Redis.from_url(url, socket_timeout=None)
        self.commands: list[str] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            with self._client.monitor() as monitor:  # type: ignore[no-untyped-call]
                self._ready.set()
                for command in monitor.listen():
                    self.commands.append(str(command["command"]))
                    if self._stop.is_set():
                        return
        except redis.RedisError as exc:  # reported by the test: the recording has a gap
            self.error = exc

    def __enter__(self) -> RedisMonitor:
        self._thread.start()
        assert self._ready.wait(10), "MONITOR did not start"
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._client.ping()  # one more command wakes the listener so it sees the stop flag
        self._thread.join(10)
        self._client.close()


# --- a provider that refuses its key -------------------------------------------------------------


@contextmanager
def refusing_provider() -> Iterator[tuple[str, list[str]]]:
    """(base URL, keys it was shown) of a server that answers every OpenAI-format call 401,
    echoing the presented key in full in its message (as a careless server might)."""
    seen: list[str] = []

    class Refuser(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            key = self.headers.get("authorization", "").partition(" ")[2]
            seen.append(key)
            error = {
                "message": f"Incorrect API key provided: {key}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
            body = json.dumps({"error": error}).encode()
            self.send_response(401)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuser)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


# --- Flower ----------------------------------------------------------------------------------


#: Flower 2 serves its API only to an authenticated user.
_AUTH = ("admin", "flower-" + uuid.uuid4().hex[:12])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def flower(c: Cluster, wait_until: WaitUntil) -> Iterator[str]:
    """`celery -A workers.app flower` with the workers' environment (keys included), its log
    beside theirs."""
    port = _free_port()
    log = (c.logs / "flower.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers.app",
         f"--broker={c.env['LABELLER_BROKER_URL']}", "flower", f"--port={port}",
         "--address=127.0.0.1", f"--basic-auth={_AUTH[0]}:{_AUTH[1]}"],
        env=c.env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(f"{url}/healthcheck", timeout=1).status_code == 200
        except httpx.HTTPError:
            return process.poll() is not None

    try:
        wait_until(answers, 60, "Flower to answer")
        assert process.poll() is None, (c.logs / "flower.log").read_text()
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _flower_tasks(url: str) -> dict[str, dict[str, Any]]:
    response = httpx.get(f"{url}/api/tasks", auth=_AUTH, timeout=30)
    response.raise_for_status()
    return dict(response.json())


def _flower_pages(url: str, tasks: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Every Flower page and API answer that shows tasks, workers or queues, by path."""
    workers = httpx.get(f"{url}/api/workers?refresh=1", auth=_AUTH, timeout=30)
    workers.raise_for_status()
    names = sorted(workers.json())
    assert names, "Flower sees no worker"
    # Several tasks of each state (and each provider's queue), not only the first few.
    ids: list[str] = []
    for state in sorted({str(t.get("state")) for t in tasks.values()}):
        ids += [i for i, t in tasks.items() if t.get("state") == state][:4]
    for queue in sorted({str(t.get("routing_key")) for t in tasks.values()}):
        ids += [i for i, t in tasks.items() if t.get("routing_key") == queue][:3]
    ids = list(dict.fromkeys(ids))
    paths = [
        "/api/workers",
        "/api/workers?refresh=1&status=1",
        "/api/tasks",
        "/api/tasks?limit=100000",
        "/api/task/types",
        "/api/queues/length",
        "/dashboard?json=1",  # Flower 1's dashboard; Flower 2 answers 404 (searched anyway)
        "/workers?json=1",  # what replaced it
        "/metrics",
        "/",
        "/workers",
        "/tasks",
        "/tasks/datatable?draw=1&start=0&length=100000&order[0][column]=0&columns[0][data]=name",
        "/broker",
        *(f"/api/task/info/{i}" for i in ids),
        *(f"/task/{i}" for i in ids),
        *(f"/worker/{n}" for n in names),
    ]
    pages = {"/api/workers?refresh=1": workers.text}
    for path in paths:
        response = httpx.get(f"{url}{path}", auth=_AUTH, timeout=30)
        if path != "/dashboard?json=1":
            assert response.status_code == 200, f"{path}: {response.status_code}"
        pages[path] = response.text
    assert any(f"/api/task/info/{i}" in pages for i in ids)
    return pages


# --- the test ------------------------------------------------------------------------------------


def test_no_key_leaks_anywhere_after_a_job(
    tmp_path: Path, database_url: str, key_prefix: str, redis_url: str, wait_until: WaitUntil
) -> None:
    keys = _make_keys()
    token = uuid.uuid4().hex[:6]
    oa, an, refused = f"oa{token}", f"an{token}", f"no{token}"
    simulator = {
        "seed": 11,
        "models": {
            "sim-oa": {"latency_ms": 40, "latency_jitter_ms": 20, "rate_limit_rate": 0.2},
            "sim-an": {"latency_ms": 40, "latency_jitter_ms": 20, "rate_limit_rate": 0.2},
        },
    }
    began = time.monotonic()
    with (
        refusing_provider() as (refusing_url, refused_seen),
        cluster(
            tmp_path,
            broker_url=redis_url,
            redis_url=redis_url,
            database_url=database_url,
            key_prefix=key_prefix,
            simulator=simulator,
            # Not a recovery test: a lease longer than any limiter wait, so no frame goes out
            # twice (the harness's 4 s lease can expire while a worker waits for a slot).
            settings={"lease_s": 60.0},
            providers=[
                {
                    "name": oa,
                    "model": "sim-oa",
                    "keys": [{"env": OPENAI_ENV_1}, {"env": OPENAI_ENV_2}],
                    "fallback": [an],
                },
                {
                    "name": an,
                    "kind": "anthropic",
                    "model": "sim-an",
                    "api_key_env": ANTHROPIC_ENV,
                    "fallback": [oa],
                },
                {
                    "name": refused,
                    "model": "sim-no",
                    "base_url": refusing_url,
                    "api_key_env": REFUSED_ENV,
                    "weight": 0.5,
                    "fallback": [oa, an],
                },
            ],
            secrets=keys,
        ) as c,
        RedisMonitor(redis_url) as monitor,
    ):
        c.start_worker("w1", concurrency=6)
        # One worker with the root logger at DEBUG (`--loglevel` configures the root logger:
        # workers leave `worker_hijack_root_logger` off): httpx, httpcore, kombu, celery.
        queues = [f"vlm.{p.name}" for p in c.settings.providers]
        command = worker_command(queues, concurrency=6, name=f"debug-{token}", loglevel="DEBUG")
        c.workers["debug"] = spawn(command, env=c.env, log=c.logs / "debug.log")

        with flower(c, wait_until) as flower_url:
            # A real run, not a dry one: the job's own endpoints and keys, never a fallback
            # key. The harness points every provider at the simulator's OpenAI path; the
            # Anthropic route's base is the simulator's root (the client adds /v1/messages).
            settings = c.settings.model_copy(
                update={
                    "providers": [
                        p.model_copy(update={"base_url": c.simulator.url})
                        if p.kind == "anthropic"
                        else p
                        for p in c.settings.providers
                    ]
                }
            )
            recording = tmp_path / "rec.h5"
            write_sample(
                recording, duration_s=FRAMES / 100, width=240, height=180, rate_hz=1e5, seed=4
            )
            with open_recording(recording, settings.recording) as opened:
                job = create_job(c.store, settings, opened, simulated=False)
            assert c.frame_count(job) == FRAMES

            # Snapshots of the whole Redis database while messages are queued and in flight.
            client = redis.Redis.from_url(redis_url)
            snapshots: list[list[tuple[str, str]]] = []
            bodies: list[str] = []
            deadline = time.monotonic() + 240
            while not c.ended(job):
                assert time.monotonic() < deadline, "timed out waiting for every frame to end"
                texts, decoded = _redis_snapshot(client)
                snapshots.append(texts)
                bodies.extend(decoded)
                time.sleep(0.3)
            wait_until(lambda: c.job_state(job) == "done", 30, "the feeder to finish the job")
            job_s = time.monotonic() - began
            c.audit(job).assert_clean()

            def flower_saw_every_task() -> bool:
                tasks = _flower_tasks(flower_url)
                return sum(bool(t.get("state") == "SUCCESS") for t in tasks.values()) >= FRAMES

            wait_until(flower_saw_every_task, 60, "Flower to see every task succeed")
            tasks = _flower_tasks(flower_url)
            pages = _flower_pages(flower_url, tasks)
            texts, decoded = _redis_snapshot(client)
            snapshots.append(texts)
            bodies.extend(decoded)
            client.close()

        stats = httpx.get(f"{c.simulator.url}/stats?requests=1", timeout=30)
        stats.raise_for_status()
        c.stop_workers(grace_s=30.0)  # their shutdown lines are searched too
        rows = _rows(c.engine)
        with c.engine.connect() as conn:
            attempts = conn.execute(
                select(Attempt.provider, Attempt.key_alias, Attempt.status)
            ).all()
        logs = {p.name: p.read_text(errors="replace") for p in sorted(c.logs.glob("*.log"))}

    # --- the search is not vacuous ------------------------------------------------------------
    used = stats.json()["keys"]
    for env in (OPENAI_ENV_1, OPENAI_ENV_2, ANTHROPIC_ENV):
        assert _key_hash(keys[env]) in used, f"the simulator never saw {env}'s key"
    assert set(refused_seen) == {keys[REFUSED_ENV]}
    statuses = {(provider, alias, status) for provider, alias, status in attempts}
    assert (oa, OPENAI_ENV_1, AttemptStatus.ok.value) in statuses
    assert (oa, OPENAI_ENV_2, AttemptStatus.ok.value) in statuses
    assert (an, ANTHROPIC_ENV, AttemptStatus.ok.value) in statuses
    assert any(s == AttemptStatus.rate_limited.value for _, _, s in statuses), "no 429 ran"
    assert (refused, REFUSED_ENV, AttemptStatus.auth_error.value) in statuses
    assert any(f"key {REFUSED_ENV} was refused" in log for log in logs.values())
    assert "DEBUG/" in logs["debug.log"], "the DEBUG worker logged nothing at DEBUG"
    assert {"w1.log", "debug.log", "flower.log"} <= set(logs)
    # The Redis search sees inside message bodies: frame kwargs travel base64-encoded.
    assert any(f'"job": "{job}"' in body for body in bodies), "no message body was decoded"
    assert sum(str(t.get("name")) == "label_frame" for t in tasks.values()) >= FRAMES
    assert monitor.commands, "MONITOR recorded nothing"
    assert monitor.error is None, f"MONITOR stopped early: {monitor.error!r}"
    # The needles find a key where one is: raw, in JSON, and base64-encoded in a message.
    for secret in keys.values():
        for sample in (
            json.dumps({"error": f"bad key {secret[:40]}"}),
            base64.b64encode(json.dumps([{"authorization": secret}]).encode()).decode(),
        ):
            assert any(needle in sample for _, needle in _needles(secret))

    # --- and finds nothing ---------------------------------------------------------------------
    places: list[tuple[str, str]] = []
    places += [(f"snapshot {n}: {w}", t) for n, texts in enumerate(snapshots) for w, t in texts]
    places += [(f"redis command {n}", command) for n, command in enumerate(monitor.commands)]
    places += [(f"database table {table}", row) for table, row in rows]
    places += [
        (f"log {name} line {n + 1}", line)
        for name, log in logs.items()
        for n, line in enumerate(log.splitlines())
    ]
    places += [(f"Flower {path}", page) for path, page in pages.items()]
    places += [("simulator /stats", stats.text)]
    t0 = time.monotonic()
    leaks = _find(keys, places)
    print(
        f"\nsecrets audit: job {job_s:.1f} s; search {time.monotonic() - t0:.1f} s over "
        f"{len(places)} places ({sum(len(h) for _, h in places) / 1e6:.1f} MB), "
        f"{len(snapshots)} Redis snapshots, {len(monitor.commands)} Redis commands, "
        f"{len(rows)} rows, {len(pages)} Flower pages, {sum(map(len, logs.values()))} log chars"
    )
    assert leaks == [], f"{len(leaks)} key leaks:\n" + "\n".join(leaks[:60])
