"""The directory a node's worker processes share for their metrics, and its stale files.

In prometheus_client's multiprocess mode each process writes its samples to memory-mapped
files named by type and pid (`counter_1234.db`, `histogram_1234.db`, `gauge_livesum_1234.db`)
in `PROMETHEUS_MULTIPROC_DIR`, and the exporter sums every file at scrape time. `enable` must
run before the process makes any metric.

Files of dead processes: their live gauges (calls in flight) are dropped at once
(`mark_process_dead`), while their counters stay, so a node's totals never go down while any of
its workers runs; the first worker to start on a node where none runs wipes them all (a counter
reset, which Prometheus expects of a restart).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "MULTIPROC_ENV",
    "clean_stale",
    "default_directory",
    "enable",
    "forget_dead",
    "pid_alive",
    "retire",
]

#: The variable prometheus_client reads (on first import) to write to files.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def default_directory(port: int) -> Path:
    """One directory per user and exporter port: the workers of a node that share the port
    share the directory, and two deployments on different ports do not mix."""
    return Path(tempfile.gettempdir()) / f"labeller-metrics-{os.getuid()}-{port}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def enable(port: int) -> Path:
    """Turn multiprocess mode on for this process and its children; returns the directory.

    Keeps a `PROMETHEUS_MULTIPROC_DIR` the user set, else uses `default_directory(port)`.
    """
    directory = Path(os.environ.get(MULTIPROC_ENV) or default_directory(port))
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(directory)
    _store_in_files()
    clean_stale(directory, os.getpid())
    return directory


def _store_in_files() -> None:
    """Make prometheus_client choose its storage again, now that the variable is set.

    It chooses once, when first imported, and a `celery` command imports it before any code
    of ours runs (Flower's command plugin, which every `celery` command loads, imports it).
    No metric of ours exists yet; any made from now on writes to the directory.
    """
    from prometheus_client import values

    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def _pids(directory: Path) -> set[int]:
    pids = set()
    for path in directory.glob("*.db"):
        tail = path.stem.rpartition("_")[2]
        if tail.isdigit():
            pids.add(int(tail))
    return pids


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Workers of one node starting together clean up one at a time."""
    with (directory / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def clean_stale(directory: Path, own_pid: int, alive: Callable[[int], bool] = pid_alive) -> None:
    """Drop what dead processes left in `directory` (see the module's docstring).

    Files under `own_pid` are a dead predecessor's that had the same pid: this process has
    written none yet.
    """
    with _locked(directory):
        pids = _pids(directory)
        dead = {pid for pid in pids if pid == own_pid or not alive(pid)}
        if pids - dead:
            for pid in dead:
                _mark_dead(pid, directory)
            return
        for path in directory.glob("*.db"):
            if path.stem.rpartition("_")[2].isdigit():
                path.unlink(missing_ok=True)


def forget_dead(directory: Path, alive: Callable[[int], bool] = pid_alive) -> None:
    """Drop the live gauges of processes that died without saying so (killed, crashed)."""
    for pid in _pids(directory):
        if not alive(pid):
            _mark_dead(pid, directory)


def retire(directory: Path, pid: int) -> None:
    """A process that is exiting cleanly: its live gauges go now, its counters stay."""
    _mark_dead(pid, directory)


def _mark_dead(pid: int, directory: Path) -> None:
    """Remove `pid`'s live gauge files (prometheus_client's own way); imported here, late,
    since importing prometheus_client before `enable` would fix it in single-process mode."""
    from prometheus_client.multiprocess import mark_process_dead

    mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
