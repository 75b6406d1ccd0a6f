"""The node's metrics directory: which stale files of dead worker processes go, and when."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from prometheus_client import values

from labeller.errors import ConfigError
from labeller.metrics import MULTIPROC_ENV, default_directory
from labeller.metrics.directory import clean_stale, enable, pid_alive, private

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

    assert enable(9464, "labeller") == mine

    assert mine.is_dir() and os.environ[MULTIPROC_ENV] == str(mine)
    assert values.ValueClass is not values.MutexValue


def test_the_default_directory_is_one_per_user_port_and_key_prefix() -> None:
    one = default_directory(9464, "labeller")
    assert one.name == f"labeller-metrics-{os.getuid()}-9464-labeller"
    assert one != default_directory(9465, "labeller")
    assert one != default_directory(9464, "labeller-staging")
    # A prefix that is no safe file name is made one, and two such stay apart.
    odd, other = default_directory(9464, "a/b:c"), default_directory(9464, "a:b/c")
    assert odd.parent == one.parent and "/" not in odd.name and odd != other


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared temp dir, here a fresh one; with the storage restored after the test."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    monkeypatch.setattr(values, "ValueClass", values.ValueClass)
    return tmp_path


def test_enable_makes_the_default_directory_private(temp_dir: Path) -> None:
    directory = enable(9464, "labeller")

    assert directory == default_directory(9464, "labeller") and directory.parent == temp_dir
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert os.environ[MULTIPROC_ENV] == str(directory)


def test_enable_refuses_a_default_directory_others_may_write(temp_dir: Path) -> None:
    directory = default_directory(9464, "labeller")
    directory.mkdir()
    directory.chmod(0o777)

    with pytest.raises(ConfigError, match="writable by other users"):
        enable(9464, "labeller")
    assert MULTIPROC_ENV not in os.environ


def test_enable_refuses_a_link_in_place_of_the_default_directory(temp_dir: Path) -> None:
    elsewhere = temp_dir / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    default_directory(9464, "labeller").symlink_to(elsewhere)

    with pytest.raises(ConfigError, match="not a directory"):
        enable(9464, "labeller")


def test_a_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o700)
    private(mine)  # this process's own: fine

    # Seen by another user, the same directory is someone else's.
    with pytest.raises(ConfigError, match=f"owned by uid {os.getuid()}, not {os.getuid() + 1}"):
        private(mine, uid=os.getuid() + 1)


def test_pid_alive() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()

    assert pid_alive(os.getpid())
    assert not pid_alive(child.pid)
