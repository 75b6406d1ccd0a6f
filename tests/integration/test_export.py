"""`labeller export` in every format, read back with each format's own reader and compared with
the database row for row: captions, time windows, providers, and the audit trail of calls.

The finished job (429s and fallbacks) is read through a read-only engine; `--include-failed`
needs failed frames, so one small job of its own has a provider that fails half its calls.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
import yaml
from sqlalchemy import Engine, RowMapping, create_engine, select

from labeller.errors import UserError
from labeller.jobs import export_job, export_rows
from labeller.recordings import write_sample
from labeller.store import Attempt, Frame, Job
from tests.integration.conftest import FinishedJob

LABELLER = [sys.executable, "-m", "labeller.cli.__main__"]
FORMATS = (".jsonl", ".csv", ".parquet", ".h5")
FRAME_KEYS = ("frame", "t_start_us", "t_end_us", "provider", "model", "caption")
FAILED_KEYS = ("state", "error")
ATTEMPT_KEYS = (
    "frame", "attempt", "started_at", "provider", "key_alias", "model", "status", "http_status",
    "latency_ms", "prompt_tokens", "completion_tokens", "cost_usd", "error", "worker",
)  # fmt: skip
#: Exercises several batches (and HDF5 resizes) on a small job.
SMALL_BATCH = 7

Record = dict[str, Any]


def read_only(database_url: str) -> Engine:
    path = database_url.removeprefix("sqlite:///")
    return create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")


@pytest.fixture(scope="module")
def finished_engine(finished_job: FinishedJob) -> Iterator[Engine]:
    engine = read_only(finished_job.database_url)
    yield engine
    engine.dispose()


def db_frames(engine: Engine, job_id: str, states: tuple[str, ...]) -> list[Record]:
    """The frames an export must hold, with the state and error: the table's rows as stored,
    put in the documented order (frame index) here rather than by the query."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Frame.__table__).where(Frame.job_id == job_id, Frame.state.in_(states))
        ).mappings()
        ordered = sorted(rows, key=lambda row: row["index"])
    return [as_record(job_id, row, (*FRAME_KEYS, *FAILED_KEYS), frame="index") for row in ordered]


def db_attempts(engine: Engine, job_id: str) -> list[Record]:
    """Every call of the job as stored, in the documented order: frame, start time, then id
    (the order the calls were written) where two started at once."""
    with engine.connect() as conn:
        rows = conn.execute(select(Attempt.__table__).where(Attempt.job_id == job_id)).mappings()
        ordered = sorted(rows, key=lambda row: (row["frame_index"], row["started_at"], row["id"]))
    return [
        as_record(job_id, row, ATTEMPT_KEYS, frame="frame_index", attempt="number")
        for row in ordered
    ]


def as_record(job_id: str, row: RowMapping, keys: tuple[str, ...], **columns: str) -> Record:
    """A table row under the export's field names; `columns` names those whose column differs."""
    return {"job_id": job_id, **{key: row[columns.get(key, key)] for key in keys}}


def only(records: list[Record], keys: tuple[str, ...]) -> list[Record]:
    return [{key: record[key] for key in ("job_id", *keys)} for record in records]


# --- each format's own reader, giving what it holds in its own types ------------------------


def read_jsonl(path: Path) -> list[Record]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def read_csv(path: Path) -> list[Record]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def read_parquet(path: Path) -> list[Record]:
    rows: list[Record] = pq.read_table(path).to_pylist()
    return rows


def read_h5(path: Path, group: str = "/") -> list[Record]:
    with h5py.File(path, "r") as f:
        node = f[group]
        job_id = node.attrs["job_id"]
        columns = {
            name: (ds.asstr()[:] if ds.dtype.kind == "O" else ds[:]).tolist()
            for name, ds in node.items()
            if isinstance(ds, h5py.Dataset)
        }
    length = len(next(iter(columns.values())))
    return [{"job_id": job_id, **{k: v[i] for k, v in columns.items()}} for i in range(length)]


def as_stored(fmt: str, records: list[Record]) -> list[Record]:
    """What a format holds for these rows: CSV is text (missing is empty), HDF5 has no nulls."""
    if fmt == ".csv":
        return [{k: "" if v is None else str(v) for k, v in r.items()} for r in records]
    if fmt == ".h5":
        missing = {"http_status": 0}
        return [{k: missing.get(k, "") if v is None else v for k, v in r.items()} for r in records]
    return records


READERS = {".jsonl": read_jsonl, ".csv": read_csv, ".parquet": read_parquet, ".h5": read_h5}


def read_export(path: Path, fmt: str) -> tuple[list[Record], list[Record]]:
    """The frames and attempts tables of an export, the attempts from the sibling or group."""
    if fmt == ".h5":
        return read_h5(path), read_h5(path, "attempts")
    sibling = path.with_name(f"{path.stem}.attempts{fmt}")
    return READERS[fmt](path), READERS[fmt](sibling)


# --- the finished job, every format --------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_holds_the_database_rows(
    fmt: str, finished_job: FinishedJob, finished_engine: Engine, tmp_path: Path
) -> None:
    job_id = finished_job.job_id
    out = tmp_path / f"captions{fmt}"
    progress: list[int] = []
    result = export_job(
        finished_engine, job_id, out, attempts=True, on_rows=progress.append,
        batch_rows=SMALL_BATCH,
    )  # fmt: skip

    frames = db_frames(finished_engine, job_id, ("done",))
    attempts = db_attempts(finished_engine, job_id)
    # The job is worth checking against: fallbacks after 429s left several calls per frame.
    assert {a["status"] for a in attempts} >= {"ok", "rate_limited"}
    assert len(attempts) > len(frames)
    assert (result.frames, result.attempts) == (len(frames), len(attempts))
    total = export_rows(finished_engine, job_id, include_failed=False, attempts=True)
    assert progress[-1] == total == len(frames) + len(attempts)
    assert progress == sorted(progress) and len(progress) > 2

    got_frames, got_attempts = read_export(out, fmt)
    assert got_frames == as_stored(fmt, only(frames, FRAME_KEYS))
    assert got_attempts == as_stored(fmt, only(attempts, ATTEMPT_KEYS))
    # Nothing but the export is left in the folder: no temporary file of the writes.
    assert sorted(tmp_path.iterdir()) == sorted(result.files)
    for written in result.files:
        assert b"sk-test-" not in written.read_bytes() and b"sk-ant-" not in written.read_bytes()


def test_h5_is_chunked_compressed_and_carries_the_job(
    finished_job: FinishedJob, finished_engine: Engine, tmp_path: Path
) -> None:
    out = tmp_path / "captions.h5"
    export_job(finished_engine, finished_job.job_id, out, attempts=True, batch_rows=SMALL_BATCH)
    spec = json.loads(db_job_spec(finished_engine, finished_job.job_id))

    with h5py.File(out, "r") as f:
        assert f.attrs["job_id"] == finished_job.job_id
        assert f.attrs["recording"] == str(finished_job.recording)
        assert f.attrs["prompt"] == spec["prompt"]
        assert len(f.attrs["prompt_hash"]) == 32
        assert f.attrs["created"].endswith("+00:00")
        assert f["t_start_us"].dtype == "int64" and f["t_end_us"].dtype == "int64"
        assert h5py.check_string_dtype(f["caption"].dtype).encoding == "utf-8"
        for ds in [*f.values(), *f["attempts"].values()]:
            if isinstance(ds, h5py.Dataset):
                assert ds.chunks is not None and ds.compression == "gzip", ds.name
                assert ds.maxshape == (None,), ds.name
        assert sorted(f["attempts"]) == sorted(ATTEMPT_KEYS)


def db_job_spec(engine: Engine, job_id: str) -> str:
    with engine.connect() as conn:
        return str(conn.scalar(select(Job.spec).where(Job.id == job_id)))


def test_cli_export_h5_with_attempts(finished_job: FinishedJob, tmp_path: Path) -> None:
    out = tmp_path / "train.h5"
    result = finished_job.labeller("export", finished_job.job_id, "-o", str(out), "--attempts")

    assert result.returncode == 0, result.stderr
    engine = read_only(finished_job.database_url)
    try:
        frames = db_frames(engine, finished_job.job_id, ("done",))
        attempts = db_attempts(engine, finished_job.job_id)
    finally:
        engine.dispose()
    assert result.stdout.splitlines() == [
        f"wrote {len(frames)} captions to {out}",
        f"wrote {len(attempts)} attempts to {out} (group /attempts)",
    ]
    got_frames, got_attempts = read_export(out, ".h5")
    assert got_frames == as_stored(".h5", only(frames, FRAME_KEYS))
    assert len(got_attempts) == len(attempts)


# --- errors: one line, nothing left behind -------------------------------------------------------


def test_cli_errors_are_one_line(finished_job: FinishedJob) -> None:
    result = finished_job.labeller("export", "nosuchjob", "-o", "captions.csv")

    assert result.returncode == 2
    assert result.stderr.strip() == "error: job nosuchjob: no such job in the database"
    assert "Traceback" not in result.stdout + result.stderr
    assert not (finished_job.workdir / "captions.csv").exists()


def test_bad_paths_name_the_file(
    finished_job: FinishedJob, finished_engine: Engine, tmp_path: Path
) -> None:
    job_id = finished_job.job_id
    cases = {
        tmp_path / "missing" / "out.csv": f"folder {tmp_path / 'missing'} does not exist",
        tmp_path / "captions.txt": (
            "unknown export format (extension '.txt'); "
            "use one of .jsonl, .csv, .parquet, .h5, .hdf5"
        ),
        tmp_path: "unknown export format (no extension)",
        tmp_path / "dir.jsonl": "is a directory",
        # /proc refuses new files whoever runs the test (root included).
        Path("/proc/labeller-export.parquet"): "cannot write: ",
    }
    (tmp_path / "dir.jsonl").mkdir()
    for out, fault in cases.items():
        with pytest.raises(UserError) as caught:
            export_job(finished_engine, job_id, out)
        assert str(caught.value).startswith(f"{out}: ") and fault in str(caught.value)


def test_a_failed_export_leaves_the_old_file_alone(
    finished_job: FinishedJob, finished_engine: Engine, tmp_path: Path
) -> None:
    out = tmp_path / "captions.csv"
    out.write_text("previous export\n")
    (tmp_path / "captions.attempts.csv").mkdir()  # the sibling cannot be written

    with pytest.raises(UserError, match="captions.attempts.csv: is a directory"):
        export_job(finished_engine, finished_job.job_id, out, attempts=True)
    assert out.read_text() == "previous export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["captions.attempts.csv", "captions.csv"]


def test_a_persons_part_file_survives_an_export(
    finished_job: FinishedJob, finished_engine: Engine, tmp_path: Path
) -> None:
    """Exports once wrote `NAME.part` and deleted it; a file of that name is not ours."""
    out = tmp_path / "captions.jsonl"
    (tmp_path / "captions.jsonl.part").write_text("notes of mine\n")

    result = export_job(finished_engine, finished_job.job_id, out, attempts=True)

    assert (tmp_path / "captions.jsonl.part").read_text() == "notes of mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["captions.jsonl.part", *(p.name for p in result.files)]
    )


# --- failed frames: a job of its own -------------------------------------------------------------


@pytest.fixture(scope="module")
def half_failed_job(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A job whose only provider answers 500 to about half its calls, with one attempt each and
    no fallback, so it ends with done and failed frames. Returns (job id, database URL)."""
    workdir = tmp_path_factory.mktemp("half-failed")
    database_url = f"sqlite:///{workdir / 'labeller.db'}"
    config = {
        "database_url": database_url,
        "binning": {"window": "100ms"},
        "max_attempts": 1,
        "providers": [{"name": "openai", "kind": "openai", "model": "gpt-4o-mini"}],
        # Failures must not open the circuit breaker: its 30 s pause would only slow the test.
        "routing": {"breaker_failures": 100},
        "simulator": {
            "seed": 7,
            "models": {"gpt-4o-mini": {"latency_ms": 5, "latency_jitter_ms": 0, "fault_rate": 0.5}},
        },
    }
    (workdir / "labeller.yaml").write_text(yaml.safe_dump(config))
    write_sample(workdir / "rec.h5", duration_s=1.0, width=160, height=120, rate_hz=5e4, seed=2)
    env = {**os.environ, "COLUMNS": "160", "OPENAI_API_KEY": "sk-test-" + "1" * 24}
    for name in ("LABELLER_BROKER_URL", "LABELLER_DATABASE_URL", "LABELLER_KEY_PREFIX"):
        env.pop(name, None)
    run = subprocess.run(
        [*LABELLER, "run", "rec.h5", "--simulate", "--workers", "1", "-C", "labeller.yaml"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "job id: " in run.stdout, run.stdout + run.stderr
    return run.stdout.strip().splitlines()[-1].removeprefix("job id: ").strip(), database_url


@pytest.mark.parametrize("fmt", FORMATS)
def test_include_failed_adds_failed_frames_with_state_and_error(
    fmt: str, half_failed_job: tuple[str, str], tmp_path: Path
) -> None:
    job_id, database_url = half_failed_job
    engine = read_only(database_url)
    try:
        out = tmp_path / f"all{fmt}"
        result = export_job(
            engine, job_id, out, include_failed=True, attempts=True, batch_rows=SMALL_BATCH
        )
        frames = db_frames(engine, job_id, ("done", "failed"))
        attempts = db_attempts(engine, job_id)
        done_only = tmp_path / f"done{fmt}"
        export_job(engine, job_id, done_only)
    finally:
        engine.dispose()

    assert {f["state"] for f in frames} == {"done", "failed"}
    assert all(f["error"] and f["caption"] is None for f in frames if f["state"] == "failed")
    assert result.frames == len(frames)
    got_frames, got_attempts = read_export(out, fmt)
    assert got_frames == as_stored(fmt, only(frames, (*FRAME_KEYS, *FAILED_KEYS)))
    assert got_attempts == as_stored(fmt, only(attempts, ATTEMPT_KEYS))
    assert {a["status"] for a in attempts} == {"ok", "transient"}

    # Without --include-failed: the done frames only, and no state or error columns.
    done = [f for f in frames if f["state"] == "done"]
    assert READERS[fmt](done_only) == as_stored(fmt, only(done, FRAME_KEYS))
    assert not done_only.with_name(f"done.attempts{fmt}").exists()
