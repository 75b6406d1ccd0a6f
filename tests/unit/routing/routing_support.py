"""Helpers of the limiter tests, importable by spawned processes (no pytest needed)."""

from __future__ import annotations

import socket
import threading
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

from labeller.config import RoutingSettings
from labeller.routing import Grant, KeyLimits, Limiter, RedisBackend, RouteLimits, Wait
from tests.support import FakeClock

#: The limiter fixture's routing: 3 failures open the breaker for 30 s; cooldowns from 5 s.
ROUTING = RoutingSettings(breaker_failures=3, breaker_open_s=30.0, cooldown_s=5.0)


def route(
    *keys: KeyLimits,
    rpm: int | None = None,
    tpm: int | None = None,
    max_in_flight: int | None = None,
    provider: str = "openai",
) -> RouteLimits:
    """A route with the given limits; one unlimited key `-` unless keys are given."""
    return RouteLimits(provider, rpm, tpm, max_in_flight, keys or (KeyLimits("-"),))


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def hammer_many(
    limiter: Limiter, limits: RouteLimits, tokens: int, threads: int, each: int
) -> list[Grant | Wait]:
    """`threads` threads released together, each acquiring `each` times; every answer."""
    start = threading.Barrier(threads)
    results: list[list[Grant | Wait]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []

    def work(slot: int) -> None:
        try:
            start.wait(timeout=30)
            for _ in range(each):
                results[slot].append(limiter.acquire(limits, tokens))
        except BaseException as exc:  # reported below, not swallowed
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    if errors:
        raise errors[0]
    if any(worker.is_alive() for worker in workers):
        raise TimeoutError("a hammering thread did not finish")
    return [answer for result in results for answer in result]


def replica(
    redis_url: str,
    prefix: str,
    now: float,
    rpm: int,
    threads: int,
    each: int,
    start: Barrier,
    out: Queue[tuple[int, list[tuple[float, str]]] | str],
) -> None:
    """One worker process: its own client and limiter on a frozen clock, `threads` threads."""
    backend = RedisBackend.from_url(redis_url)
    try:
        limiter = Limiter(backend, prefix, clock=FakeClock(now))
        start.wait(timeout=120)
        answers = hammer_many(limiter, route(rpm=rpm), 0, threads, each)
        grants = sum(isinstance(answer, Grant) for answer in answers)
        waits = [(a.seconds, a.reason) for a in answers if isinstance(a, Wait)]
        out.put((grants, waits))
    except BaseException as exc:  # the parent fails the test with it
        out.put(f"{type(exc).__name__}: {exc}")
    finally:
        backend.close()
