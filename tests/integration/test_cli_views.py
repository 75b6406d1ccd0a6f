"""The terminal views as a person runs them: `labeller jobs`, `labeller show` (with the
pseudo-frame it redraws) and `labeller status --watch` following a real running job.

`jobs` and `show` read the session's finished job (never changing its database) and are
checked against its rows. `--watch` follows a job of its own: created with no worker up, so the
view must draw it still running, then real workers finish it and the view must end by itself.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from PIL import Image
from sqlalchemy import Connection, Engine, create_engine, func, select, update

from labeller.cli._frame_view import write_pseudo_frame
from labeller.config import JobSpec, load_settings
from labeller.frames import image_digest
from labeller.jobs import create_job
from labeller.local import LocalWorkers
from labeller.recordings import open_recording, write_sample
from labeller.simulator import SimulatorConfig, SimulatorServer
from labeller.store import (
    Attempt,
    AttemptStatus,
    Frame,
    Job,
    Store,
    frame_detail,
    make_engine,
    upgrade,
)
from tests.integration.conftest import LABELLER, FinishedJob

WaitUntil = Callable[..., None]


@pytest.fixture
def job_db(finished_job: FinishedJob) -> Iterator[Engine]:
    """The finished job's database, for reading only."""
    engine = create_engine(finished_job.database_url)
    yield engine
    engine.dispose()


def _utc(epoch_s: float | None, shape: str) -> str:
    assert epoch_s is not None
    return datetime.fromtimestamp(epoch_s, UTC).strftime(shape)


def state_counts(conn: Connection, job_id: str) -> dict[str, int]:
    """The job's frames by state, counted here from the table."""
    rows = conn.execute(
        select(Frame.state, func.count()).where(Frame.job_id == job_id).group_by(Frame.state)
    )
    return {state: int(n) for state, n in rows}


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


def test_jobs_lists_the_job_with_its_progress_and_spend(
    finished_job: FinishedJob, job_db: Engine
) -> None:
    with job_db.connect() as conn:
        counts = state_counts(conn, finished_job.job_id)
        spend = conn.scalar(
            select(func.sum(Attempt.cost_usd)).where(Attempt.job_id == finished_job.job_id)
        )
        frames = conn.scalar(select(Job.frame_count).where(Job.id == finished_job.job_id))
        created = conn.scalar(select(Job.created_at).where(Job.id == finished_job.job_id))
    listed = finished_job.labeller("jobs", "--json")
    assert listed.returncode == 0, listed.stderr
    [entry] = [j for j in json.loads(listed.stdout) if j["job_id"] == finished_job.job_id]
    assert entry["counts"] == counts
    assert entry["frames"] == frames
    assert entry["cost_usd"] == pytest.approx(spend, abs=1e-6)
    assert entry["recording"] == str(finished_job.recording)
    assert entry["simulated"] is True

    table = finished_job.labeller("jobs", "--state", "done", "--limit", "5")
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if finished_job.job_id in line)
    assert f"{counts.get('done', 0)}/{frames}" in row
    assert entry["state"] == "done" and "done" in row and "rec.h5" in row
    assert f"{spend:.4f}*" in row  # simulated, explained under the table
    # Times are UTC, as in the report: the header says so.
    assert "created UTC" in table.stdout
    assert _utc(created, "%Y-%m-%d %H:%M") in row
    assert "* simulated" in table.stdout

    other = finished_job.labeller("jobs", "--state", "paused", "--json")
    assert other.returncode == 0, other.stderr
    assert json.loads(other.stdout) == []


def _frame_with_fallback(engine: Engine, job_id: str) -> int:
    """A frame whose first call was a 429 and which another call then captioned."""
    with engine.connect() as conn:
        limited = select(Attempt.frame_index).where(
            Attempt.job_id == job_id, Attempt.status == AttemptStatus.rate_limited.value
        )
        index = conn.scalar(
            select(Frame.index)
            .where(Frame.job_id == job_id, Frame.state == "done", Frame.index.in_(limited))
            .order_by(Frame.index)
        )
    assert index is not None, "the finished job's simulator sheds calls with 429s"
    return int(index)


def test_show_prints_every_attempt_and_the_image_captioned(
    finished_job: FinishedJob, job_db: Engine, tmp_path: Path
) -> None:
    job_id = finished_job.job_id
    index = _frame_with_fallback(job_db, job_id)
    with job_db.connect() as conn:
        frame = conn.execute(
            select(Frame).where(Frame.job_id == job_id, Frame.index == index)
        ).one()
        rows = conn.execute(
            select(Attempt)
            .where(Attempt.job_id == job_id, Attempt.frame_index == index)
            .order_by(Attempt.started_at, Attempt.number, Attempt.id)
        ).all()
    assert len(rows) >= 2

    shown = finished_job.labeller("show", job_id, str(index), "--json")
    assert shown.returncode == 0, shown.stderr
    path = json.loads(shown.stdout)
    assert (path["frame"], path["state"], path["caption"]) == (index, "done", frame.caption)
    assert (path["t_start_us"], path["t_end_us"]) == (frame.t_start_us, frame.t_end_us)
    assert (path["provider"], path["model"]) == (frame.provider, frame.model)
    fields = ("provider", "key_alias", "model", "status", "http_status", "prompt_tokens",
              "completion_tokens", "cost_usd", "error", "worker", "started_at")  # fmt: skip
    assert [{f: a[f] for f in fields} for a in path["attempts"]] == [
        {f: getattr(r, f) for f in fields} for r in rows
    ]
    assert [a["latency_ms"] for a in path["attempts"]] == [
        pytest.approx(r.latency_ms, abs=1e-3) for r in rows
    ]

    out = tmp_path / "frame.png"
    text = finished_job.labeller("show", job_id, str(index), "--image", str(out))
    assert text.returncode == 0, text.stderr
    assert f"job {job_id} frame {index} of " in text.stdout
    assert f"done by {frame.provider}" in text.stdout
    table = text.stdout.split("in order", 1)[1]
    lines = [line for line in table.splitlines() if re.match(r"^\s+\d+\s+\d+\.\ds\s", line)]
    assert len(lines) == len(rows)
    for line, row in zip(lines, rows, strict=True):
        assert row.provider in line and row.status in line and str(row.key_alias) in line
        assert f"{row.prompt_tokens:,}/{row.completion_tokens:,}" in line
        assert f"{row.cost_usd:.6f}" in line
    # Errors are listed under the table by call number, whole (here: the 429's message).
    flat = " ".join(text.stdout.split())
    for n, row in enumerate(rows, 1):
        if row.error:
            assert f"#{n} {' '.join(row.error.split())}" in flat
    for secret in (finished_job.env["OPENAI_API_KEY"], finished_job.env["ANTHROPIC_API_KEY"]):
        assert secret not in text.stdout + shown.stdout

    # --image: the pseudo-frame redrawn from the recording, as the worker rendered it.
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.size == (320, 240)  # the sample's sensor; no max_side configured
    # The worker hashed the PNG it sent: the file holds the very same bytes.
    assert frame.image_hash is not None and image_digest(out.read_bytes()) == frame.image_hash
    assert f"wrote {out} (320x240): the image that was captioned" in flat
    assert f"finished {_utc(frame.finished_at, '%Y-%m-%d %H:%M:%S')} UTC" in flat


def test_show_errors_are_one_line(
    finished_job: FinishedJob, job_db: Engine, tmp_path: Path
) -> None:
    job_id = finished_job.job_id
    with job_db.connect() as conn:
        frames = int(conn.scalar(select(Job.frame_count).where(Job.id == job_id)) or 0)
    assert _one_line_error(finished_job.labeller("show", "nosuchjob", "0")) == (
        "error: job nosuchjob: no such job in the database"
    )
    assert _one_line_error(finished_job.labeller("show", job_id, str(frames))) == (
        f"error: frame {frames}: job {job_id} has frames 0 to {frames - 1}"
    )
    image = tmp_path / "f.png"

    # A copy of the database whose job's recording has since moved away.
    copy = tmp_path / "moved.db"
    shutil.copy(finished_job.workdir / "labeller.db", copy)
    gone = tmp_path / "elsewhere" / "rec.h5"
    moved = create_engine(f"sqlite:///{copy}")
    with moved.begin() as conn:
        spec = JobSpec.model_validate_json(
            conn.scalar(select(Job.spec).where(Job.id == job_id)) or ""
        )
        conn.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(recording=str(gone), spec=spec.model_copy(update={"recording": str(gone)})
                    .model_dump_json())
        )  # fmt: skip
    moved.dispose()
    url = ["--database-url", f"sqlite:///{copy}"]
    assert _one_line_error(
        finished_job.labeller("show", job_id, "0", "--image", str(image), *url)
    ) == (f"error: job {job_id}'s recording {gone} is gone; pass --recording NEW_PATH if it moved")
    assert not image.exists()
    found = finished_job.labeller(
        "show", job_id, "0", "--image", str(image), "--recording", str(finished_job.recording), *url
    )
    assert found.returncode == 0, found.stderr
    assert "the image that was captioned" in found.stdout


def test_show_refuses_an_impossible_frame_and_a_bad_image_path_at_once(
    finished_job: FinishedJob, job_db: Engine, tmp_path: Path
) -> None:
    job_id = finished_job.job_id
    with job_db.connect() as conn:
        frames = int(conn.scalar(select(Job.frame_count).where(Job.id == job_id)) or 0)
    # Past SQLite's 64-bit integers: once an OverflowError's traceback.
    huge = "99999999999999999999"
    assert _one_line_error(finished_job.labeller("show", job_id, huge)) == (
        f"error: frame {huge}: job {job_id} has frames 0 to {frames - 1}"
    )
    # A folder that is not there is named before the frame is rendered; nothing is written.
    missing = tmp_path / "missing" / "f.png"
    assert _one_line_error(finished_job.labeller("show", job_id, "0", "--image", str(missing))) == (
        f"error: {missing}: folder {missing.parent} does not exist"
    )
    assert list(tmp_path.iterdir()) == []


def test_show_image_confirms_the_digest_of_a_templated_prompt(tmp_path: Path) -> None:
    """The worker folds each frame's filled prompt into the stored key: `show --image`
    rebuilds the same prompt from the recording and the frame, and finds the same key."""
    recording = tmp_path / "rec.h5"
    write_sample(recording, duration_s=0.3, width=160, height=120, rate_hz=1e5, seed=4)
    config = tmp_path / "labeller.yaml"
    settings = {
        "database_url": f"sqlite:///{tmp_path / 'labeller.db'}",
        "prompt": "Frame {frame} of {recording} at {t_start_s:.2f} s: what moves?",
        "binning": {"window": "100ms"},
        "providers": [{"name": "openai", "kind": "openai", "model": "gpt-4o-mini"}],
        "simulator": {"seed": 1, "models": {"gpt-4o-mini": {"latency_ms": 5}}},
    }
    config.write_text(yaml.safe_dump(settings, sort_keys=False))
    env = {**os.environ, "LABELLER_CONFIG": str(config), "OPENAI_API_KEY": "sk-test-" + "0" * 24}
    for name in ("LABELLER_BROKER_URL", "LABELLER_DATABASE_URL", "LABELLER_KEY_PREFIX"):
        env.pop(name, None)
    ran = subprocess.run(
        [*LABELLER, "run", str(recording), "--simulate", "--workers", "1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    job_id = ran.stdout.strip().splitlines()[-1].removeprefix("job id: ").strip()

    engine = create_engine(f"sqlite:///{tmp_path / 'labeller.db'}")
    try:
        with engine.connect() as conn:
            spec = JobSpec.model_validate_json(
                conn.scalar(select(Job.spec).where(Job.id == job_id)) or ""
            )
        frame = frame_detail(engine, job_id, 1)
    finally:
        engine.dispose()
    assert frame is not None and frame.frame.image_hash is not None
    out = tmp_path / "frame.png"

    written = write_pseudo_frame(job_id, spec, frame.frame, out, None)

    # The stored key is not the image's digest alone (the filled prompt is folded in), and
    # the image written is the one captioned.
    assert frame.frame.image_hash != image_digest(out.read_bytes())
    assert written.matches is True


# --- status --watch ---------------------------------------------------------------------------


def test_status_watch_of_an_ended_job_reads_once_without_its_gone_redis(
    finished_job: FinishedJob, job_db: Engine
) -> None:
    """The finished job ran on an embedded Redis that stopped with it: the limiter's figures
    are missing and said to be, the database's are all there, and the watch ends at once."""
    watched = finished_job.labeller("status", finished_job.job_id, "--watch", "--json")
    assert watched.returncode == 0, watched.stderr
    [line] = watched.stdout.splitlines()  # one reading: the job had already ended
    reading = json.loads(line)
    with job_db.connect() as conn:
        counts = state_counts(conn, finished_job.job_id)
    assert reading["state"] == "done" and reading["counts"] == counts
    assert set(reading["providers"]) == {"openai", "anthropic"}
    assert all(p["limiter"] is None for p in reading["providers"].values())
    assert reading["limiter_note"].startswith("limits: — no shared Redis known")


OPENAI_KEY = "sk-proj-" + "Wv7" * 14


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    config = SimulatorConfig.model_validate(
        {"seed": 5, "models": {"gpt-4o-mini": {"latency_ms": 60, "latency_jitter_ms": 20}}}
    )
    with SimulatorServer(config) as server:
        yield server


class Terminal:
    """A command run on a pseudo-terminal, as in a person's terminal; output read as it comes."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        master, slave = pty.openpty()
        self.process = subprocess.Popen(
            args, env=env, cwd=cwd, stdin=slave, stdout=slave, stderr=slave, close_fds=True
        )
        os.close(slave)
        self._master = master
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # EIO: the command exited and closed its end
                return
            if not chunk:
                return
            self._chunks.append(chunk)

    @property
    def text(self) -> str:
        """Everything printed so far, without the terminal's control sequences."""
        raw = b"".join(self._chunks).decode(errors="replace")
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(30)
        self._reader.join(10)
        os.close(self._master)


def _watch_config(path: Path, tmp_path: Path) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "database_url": f"sqlite:///{tmp_path / 'labeller.db'}",
                "binning": {"window": "50ms", "keep_partial": True},
                "cache": {"exact": False, "near_duplicate_bits": None},
                "providers": [{"name": "openai", "model": "gpt-4o-mini", "rpm": 600}],
            }
        )
    )
    return path


def test_status_watch_draws_a_running_job_and_ends_with_it(
    tmp_path: Path,
    redis_url: str,
    key_prefix: str,
    simulator: SimulatorServer,
    wait_until: WaitUntil,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {
        "LABELLER_BROKER_URL": redis_url,
        "LABELLER_KEY_PREFIX": key_prefix,
        "LABELLER_CONFIG": str(_watch_config(tmp_path / "labeller.yaml", tmp_path)),
        "LABELLER_SIMULATOR_URL": simulator.url,
        "OPENAI_API_KEY": OPENAI_KEY,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LABELLER_DATABASE_URL", raising=False)
    monkeypatch.delenv("LABELLER_REDIS_URL", raising=False)
    settings = load_settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    recording = tmp_path / "rec.h5"
    write_sample(recording, duration_s=0.6, width=160, height=120, rate_hz=5e4, seed=6)
    with open_recording(recording, settings.recording) as opened:
        job_id = create_job(Store(engine, time.time), settings, opened, simulated=True)
    with engine.connect() as conn:
        frames = int(conn.scalar(select(Job.frame_count).where(Job.id == job_id)) or 0)
    assert frames > 0 and settings.key_prefix == key_prefix
    terminal_env = {**os.environ, "COLUMNS": "100", "LINES": "40", "TERM": "xterm-256color"}
    watch = [*LABELLER, "status", job_id, "--watch", "--interval", "0.3"]

    # No worker is up: the view shows the job waiting, limits read from the shared Redis.
    idle = Terminal(watch, terminal_env, tmp_path)
    try:
        waiting = f"0/{frames} frames"
        wait_until(lambda: waiting in idle.text, 60, lambda: f"the live view: {idle.text!r}")
        assert "running" in idle.text and "0/600" in idle.text
        idle.process.send_signal(signal.SIGINT)  # Ctrl-C stops the watching, not the job
        idle.process.wait(30)
    finally:
        idle.close()
    assert idle.process.returncode == 130
    assert f"stopped watching; job {job_id} carries on" in idle.text
    assert "Traceback" not in idle.text

    watching = Terminal(watch, terminal_env, tmp_path)
    try:
        wait_until(lambda: waiting in watching.text, 60, "the second view")
        with LocalWorkers(1, queues=["vlm.openai"], concurrency=4, env=env, log_dir=tmp_path):
            wait_until(
                lambda: watching.process.poll() is not None,
                120,
                lambda: f"the view to end with the job: {watching.text[-3000:]!r}",
            )
    finally:
        watching.close()
    output = watching.text
    assert watching.process.returncode == 0, output
    assert "Traceback" not in output
    with engine.connect() as conn:
        state = conn.scalar(select(Job.state).where(Job.id == job_id))
        calls = conn.scalar(select(func.count()).where(Attempt.job_id == job_id))
    engine.dispose()
    assert state == "done"
    # The last view: every frame, the calls the limiter counted in its RPM window, the end.
    last = output.rsplit(f"job {job_id}  rec.h5", 1)[1]
    assert f"{frames}/{frames} frames 100%" in last
    assert re.search(rf"openai\s+0\s+0\s+{calls}/600\s", last), last
    assert "closed" in last
    assert output.rstrip().endswith(f"job {job_id} done")
    assert OPENAI_KEY not in output
