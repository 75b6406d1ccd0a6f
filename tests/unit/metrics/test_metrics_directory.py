"""The node's metrics directory: which stale files of dead worker processes go, and when."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import values

from labeller.metrics import MULTIPROC_ENV, default_directory
from labeller.metrics.directory import clean_stale, enable, pid_alive

ALIVE, DEAD, OWN = 101, 202, 303


def _touch(directory: Path, *names: str) -> None:
    for name in names:
        (directory / name).write_bytes(b"")


def _files(directory: Path) -> set[str]:
    return {p.name for p in directory.glob("*.db")}


def test_while_a_worker_lives_dead_ones_lose_only_their_live_gauges(tmp_path: Path) -> None:
    _touch(
        tmp_path,
        f"counter_{ALIVE}.db", f"gauge_livesum_{ALIVE}.db",
        f"counter_{DEAD}.db", f"histogram_{DEAD}.db", f"gauge_livesum_{DEAD}.db",
        f"counter_{OWN}.db", f"gauge_livesum_{OWN}.db",
    )  # fmt: skip

    clean_stale(tmp_path, OWN, alive=lambda pid: pid == ALIVE)

    # Counters stay, so the node's totals do not drop while it runs; calls in flight do.
    assert _files(tmp_path) == {
        f"counter_{ALIVE}.db", f"gauge_livesum_{ALIVE}.db",
        f"counter_{DEAD}.db", f"histogram_{DEAD}.db",
        f"counter_{OWN}.db",
    }  # fmt: skip


def test_the_first_worker_of_a_node_starts_from_zero(tmp_path: Path) -> None:
    _touch(tmp_path, f"counter_{DEAD}.db", f"histogram_{DEAD}.db", f"gauge_livesum_{OWN}.db")

    clean_stale(tmp_path, OWN, alive=lambda pid: False)

    assert _files(tmp_path) == set()


def test_enable_keeps_the_users_directory_and_stores_in_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = tmp_path / "mine"
    monkeypatch.setenv(MULTIPROC_ENV, str(mine))
    # This process imported prometheus_client long before (as `celery` commands do): the
    # storage it chose then is restored after the test.
    monkeypatch.setattr(values, "ValueClass", values.ValueClass)

    assert enable(9464) == mine

    assert mine.is_dir() and os.environ[MULTIPROC_ENV] == str(mine)
    assert values.ValueClass is not values.MutexValue


def test_the_default_directory_is_one_per_user_and_port() -> None:
    assert default_directory(9464) != default_directory(9465)
    assert str(os.getuid()) in default_directory(9464).name


def test_pid_alive() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()

    assert pid_alive(os.getpid())
    assert not pid_alive(child.pid)
