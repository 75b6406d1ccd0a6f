"""The `labeller` command as a person runs it: a subprocess, its output, its exit code."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import h5py  # type: ignore[import-untyped]
import pytest
from sqlalchemy import create_engine, func, inspect, select

from labeller.local import redis_server_binary
from labeller.recordings import write_sample
from labeller.store import Job

LABELLER = [sys.executable, "-m", "labeller.cli.__main__"]


def labeller(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LABELLER, *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "160", **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _children_of(binary_fragment: str) -> set[int]:
    """PIDs of running processes whose command line contains `binary_fragment`."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if binary_fragment in cmdline:
            pids.add(int(entry.name))
    return pids


def _jobs_in(db: Path, state: str | None = None) -> int:
    """Jobs in the database (in `state`, if given)."""
    if not db.exists():
        return 0
    engine = create_engine(f"sqlite:///{db}")
    try:
        if "jobs" not in inspect(engine).get_table_names():
            return 0
        with engine.connect() as conn:
            query = select(func.count()).select_from(Job)
            if state is not None:
                query = query.where(Job.state == state)
            return int(conn.scalar(query) or 0)
    finally:
        engine.dispose()


def _not_dsec(path: Path) -> Path:
    with h5py.File(path, "w") as f:
        f["events/x"] = [1, 2, 3]
    return path


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda tmp: tmp / "missing.h5", "no such file"),
        (lambda tmp: (tmp / "text.h5").write_text("not hdf5") and tmp / "text.h5", "not an HDF5"),
        (lambda tmp: _not_dsec(tmp / "other.h5"), "events/"),
    ],
    ids=["missing", "not-hdf5", "not-dsec"],
)
def test_run_rejects_bad_recordings_with_one_line(
    tmp_path: Path, make: Callable[[Path], Path], expected: str
) -> None:
    recording = make(tmp_path)
    db = tmp_path / "labeller.db"
    result = labeller(
        "run", str(recording), "--simulate", "--database-url", f"sqlite:///{db}", cwd=tmp_path
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert str(recording.name) in lines[0] and expected in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert _jobs_in(db) == 0


def test_run_without_keys_says_which_variable(tmp_path: Path) -> None:
    recording = tmp_path / "rec.h5"
    write_sample(recording, duration_s=0.2, width=64, height=48, rate_hz=1e4)
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    result = subprocess.run(
        [*LABELLER, "run", str(recording)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "OPENAI_API_KEY" in result.stderr and "--simulate" in result.stderr
    assert _jobs_in(tmp_path / "labeller.db") == 0


def test_feed_without_a_broker_says_which_setting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LABELLER_BROKER_URL"}
    result = subprocess.run(
        [*LABELLER, "feed"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: broker_url: a feeder publishes to the shared broker")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "labeller.db").exists()  # nothing written


def test_local_run_status_export_requeue(tmp_path: Path) -> None:
    """Embedded Redis, simulator and one worker, started and stopped by the command itself."""
    recording = tmp_path / "rec.h5"
    write_sample(recording, duration_s=1.0, width=160, height=120, rate_hz=5e4, seed=2)
    before = _children_of(redis_server_binary())
    run = labeller(
        "run", str(recording), "--simulate", "--workers", "1", "--keep-partial", cwd=tmp_path
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "simulated" in run.stdout
    job_id = run.stdout.strip().splitlines()[-1].removeprefix("job id: ").strip()
    assert _children_of(redis_server_binary()) <= before

    status = labeller("status", job_id, "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    figures = json.loads(status.stdout)
    assert figures["state"] == "done"
    assert figures["counts"] == {"done": 20}
    assert figures["providers"]["openai"]["ok"] == 20

    out = tmp_path / "captions.jsonl"
    exported = labeller("export", job_id, "-o", str(out), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(20))
    assert set(records[0]) == {
        "job_id", "frame", "t_start_us", "t_end_us", "provider", "model", "caption"
    }  # fmt: skip

    requeued = labeller("requeue", job_id, "--failed", cwd=tmp_path)
    assert requeued.returncode == 0, requeued.stderr
    assert "requeued 0 frames" in requeued.stdout

    ended = labeller("cancel", job_id, cwd=tmp_path)
    assert ended.returncode == 2
    assert ended.stderr.strip() == f"error: job {job_id}: already ended (done); nothing to cancel"
    assert json.loads(labeller("status", job_id, "--json", cwd=tmp_path).stdout)["state"] == "done"

    unknown = labeller("status", "nosuchjob", cwd=tmp_path)
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "error: job nosuchjob: no such job in the database"


def test_sigterm_stops_every_service_the_run_started(
    tmp_path: Path, wait_until: Callable[..., None]
) -> None:
    recording = tmp_path / "rec.h5"
    write_sample(recording, duration_s=20.0, width=160, height=120, rate_hz=2e4, seed=4)
    config = tmp_path / "slow.yaml"
    config.write_text(
        json.dumps({"simulator": {"default": {"latency_ms": 2000, "latency_jitter_ms": 0}}})
    )
    redis_before = _children_of(redis_server_binary())
    workers_before = _children_of("workers.app worker")
    process = subprocess.Popen(
        [*LABELLER, "run", str(recording), "--simulate", "--config", str(config)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        db = tmp_path / "labeller.db"
        wait_until(lambda: _jobs_in(db, "running") == 1, 60, "the job, planned")
        wait_until(lambda: bool(_children_of("workers.app worker") - workers_before), 60, "workers")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode != 0
    assert "Traceback" not in stderr
    assert "labeller requeue" in stderr
    assert _children_of(redis_server_binary()) <= redis_before
    # PDEATHSIG and the session's own stop both end the workers; wait for the last to go.
    wait_until(lambda: not (_children_of("workers.app worker") - workers_before), 30, "exit")


def test_unreachable_broker_stops_before_a_job_is_written(tmp_path: Path) -> None:
    recording = tmp_path / "rec.h5"
    write_sample(recording, duration_s=0.2, width=64, height=48, rate_hz=1e4)
    db = tmp_path / "labeller.db"
    result = labeller(
        "run", str(recording), "--simulate", "--workers", "1",
        "--broker-url", "redis://user:hunter2@127.0.0.1:1/0", "--database-url", f"sqlite:///{db}",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: broker redis://127.0.0.1:1/0: ")
    assert "hunter2" not in result.stderr + result.stdout
    assert _jobs_in(db) == 0


def test_read_only_commands_do_not_create_a_database(tmp_path: Path) -> None:
    result = labeller("status", "abc", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: database_url: ")
    assert not (tmp_path / "labeller.db").exists()


def test_sample_refuses_to_overwrite(tmp_path: Path) -> None:
    existing = tmp_path / "rec.h5"
    existing.write_text("precious")
    result = labeller("sample", str(existing), "--duration", "0.1s", cwd=tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"error: {existing}: already exists (pass --overwrite to replace it)"
    )
    assert existing.read_text() == "precious"
