"""Limits are global: separate processes on one Redis never grant past a limit together."""

from __future__ import annotations

import multiprocessing
import queue

from tests.support import T0
from tests.unit.routing.routing_support import replica

PROCESSES, THREADS, EACH, RPM = 4, 8, 10, 50


def test_replicas_share_one_limit(redis_url: str, key_prefix: str) -> None:
    """4 spawned processes x 8 threads, clock frozen, rpm=50: exactly 50 grants in all."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(PROCESSES)
    out = context.Queue()
    processes = [
        context.Process(
            target=replica, args=(redis_url, key_prefix, T0, RPM, THREADS, EACH, start, out)
        )
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    try:
        results = [out.get(timeout=180) for _ in processes]
    except queue.Empty:
        results = []
    finally:
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()

    assert len(results) == PROCESSES
    assert not [result for result in results if isinstance(result, str)]
    grants = sum(result[0] for result in results if not isinstance(result, str))
    waits = [wait for result in results if not isinstance(result, str) for wait in result[1]]
    assert grants == RPM
    assert len(waits) == PROCESSES * THREADS * EACH - RPM
    assert set(waits) == {(60.0, "rpm")}
