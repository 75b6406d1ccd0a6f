"""The directory a node's worker processes share for their metrics, and its stale files.

In prometheus_client's multiprocess mode each process writes its samples to memory-mapped
files named by type and pid (`counter_1234.db`, `histogram_1234.db`, `gauge_livesum_1234.db`)
in `PROMETHEUS_MULTIPROC_DIR`, and the exporter sums every file at scrape time. `enable` must
run before the process makes any metric.

Files of dead processes: their live gauges (calls in flight) are dropped at once
(`mark_process_dead`), while their counters stay, so a node's totals never go down while any of
its workers runs; the first worker to start on a node where none runs wipes them all (a counter
reset, which Prometheus expects of a restart).

The default directory lives in the shared temp dir, so it must be this user's alone: made
0700, and one left by another user (or writable by others, or a link) is refused rather than
written to or read from.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from labeller.errors import ConfigError

__all__ = [
    "MULTIPROC_ENV",
    "clean_stale",
    "default_directory",
    "enable",
    "forget_dead",
    "pid_alive",
    "private",
    "retire",
]

#: The variable prometheus_client reads (on first import) to write to files.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def default_directory(port: int, key_prefix: str) -> Path:
    """One directory per user, exporter port and key prefix: the workers of a node that share
    all three share the directory; two deployments on one host (another port or prefix) do not
    mix."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", key_prefix)[:40]
    if safe != key_prefix:  # keep prefixes that read the same apart
        safe += "-" + hashlib.sha256(key_prefix.encode()).hexdigest()[:8]
    return Path(tempfile.gettempdir()) / f"labeller-metrics-{os.getuid()}-{port}-{safe}"


def private(directory: Path, uid: int | None = None) -> None:
    """ConfigError unless `directory` is a real directory owned by `uid` (this process's by
    default) that no one else may write to: in a shared temp dir another user could have made
    it first, to feed this node's metrics or read them."""
    uid = os.getuid() if uid is None else uid
    info = directory.lstat()
    fix = f"remove it or set {MULTIPROC_ENV} to a directory of your own"
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"metrics directory {directory}: not a directory (a link?); {fix}")
    if info.st_uid != uid:
        raise ConfigError(
            f"metrics directory {directory}: owned by uid {info.st_uid}, not {uid}; {fix}"
        )
    if info.st_mode & 0o022:
        raise ConfigError(
            f"metrics directory {directory}: writable by other users "
            f"(mode {stat.S_IMODE(info.st_mode):o}); {fix}"
        )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def enable(port: int, key_prefix: str) -> Path:
    """Turn multiprocess mode on for this process and its children; returns the directory.

    Keeps a `PROMETHEUS_MULTIPROC_DIR` the user set (trusted as it is: a volume shared by a
    node's containers may well be group-writable), else uses `default_directory`, which must
    be `private`. ConfigError or OSError when the directory cannot be used.
    """
    chosen = os.environ.get(MULTIPROC_ENV)
    directory = Path(chosen or default_directory(port, key_prefix))
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not chosen:
        private(directory)
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
