"""The node's exporter: one process serves, the others stand by and take over; what it serves."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client import values
from prometheus_client.parser import text_string_to_metric_families

from labeller.errors import BrokerUnavailable
from labeller.metrics.exporter import Exporter


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    response.raise_for_status()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def test_first_exporter_serves_the_next_stands_by_and_takes_over(
    tmp_path: Path, wait_until: Callable[..., None]
) -> None:
    port = _free_port()
    first = Exporter(port, tmp_path, host="127.0.0.1", retry_s=0.05)
    second = Exporter(port, tmp_path, host="127.0.0.1", retry_s=0.05)
    try:
        first.start()
        second.start()
        assert first.serving and not second.serving
        assert _samples(port) == {}

        first.stop()
        wait_until(lambda: second.serving, 10, "the standby exporter to take the port")
        assert _samples(port) == {}
    finally:
        first.stop()
        second.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)


def test_queue_depths_are_read_per_scrape_and_left_out_when_the_broker_is_away(
    tmp_path: Path,
) -> None:
    readings = [{"vlm.openai": 7, "vlm.local": 0}]

    def depths() -> dict[str, int]:
        if not readings:
            raise BrokerUnavailable("broker redis://127.0.0.1:1/0: connection refused")
        return readings.pop()

    port = _free_port()
    exporter = Exporter(port, tmp_path, depths=depths, host="127.0.0.1")
    try:
        assert exporter.serve()
        assert _samples(port) == {
            ("labeller_queue_depth", (("queue", "vlm.local"),)): 0.0,
            ("labeller_queue_depth", (("queue", "vlm.openai"),)): 7.0,
        }
        assert _samples(port) == {}
    finally:
        exporter.stop()


def test_every_process_is_summed_and_a_dead_ones_calls_in_flight_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files written as two worker processes would: this one (alive) and one that died."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    for pid, attempts, in_flight in ((os.getpid(), 3, 1), (dead.pid, 2, 4)):
        value_class = values.MultiProcessValue(  # type: ignore[no-untyped-call]
            process_identifier=lambda pid=pid: pid
        )
        counter = value_class(
            "counter", "labeller_attempts", "labeller_attempts_total",
            ("provider", "status"), ("openai", "ok"), "calls",
        )  # fmt: skip
        counter.inc(attempts)
        gauge = value_class(
            "gauge", "labeller_calls_in_flight", "labeller_calls_in_flight", ("provider",),
            ("openai",), "in flight", multiprocess_mode="livesum",
        )  # fmt: skip
        gauge.set(in_flight)
        value_class.close_all_files()

    port = _free_port()
    exporter = Exporter(port, tmp_path, host="127.0.0.1")
    try:
        assert exporter.serve()
        assert _samples(port) == {
            ("labeller_attempts_total", (("provider", "openai"), ("status", "ok"))): 5.0,
            ("labeller_calls_in_flight", (("provider", "openai"),)): 1.0,
        }
    finally:
        exporter.stop()
