"""`labeller inspect` and `labeller run` on every layout, binning mode and renderer."""

from __future__ import annotations

import json
from pathlib import Path

import h5py  # type: ignore[import-untyped]
import numpy as np
import pytest

from tests.integration.test_cli import _jobs_in, labeller
from tests.unit.recordings.recordings_files import FORMATS, ecf_file, random_source, write

GENERIC_CONFIG = (
    "recording:\n  format: generic\n  layout: {x: cam/x, y: cam/y, t: cam/t, p: cam/p}\n"
)


def _config_for(fmt: str, tmp_path: Path) -> list[str]:
    if fmt != "generic":
        return []
    path = tmp_path / "generic.yaml"
    path.write_text(GENERIC_CONFIG)
    return ["-C", str(path)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_inspect_reports_each_layout(tmp_path: Path, fmt: str) -> None:
    src = random_source(3000, seed=4)
    path = write(fmt, tmp_path / f"{fmt}.h5", src, compress="gzip")
    result = labeller("inspect", str(path), "--json", *_config_for(fmt, tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["format"] == fmt
    assert info["events"] == 3000
    assert info["t_start_us"] == int(src.t_us[0])
    assert info["t_end_us"] == int(src.t_us[-1]) + 1
    assert info["sorted"] is True
    assert info["width"] > 0 and info["height"] > 0


def test_count_binning_skips_sparse_frames_and_renders_counts(tmp_path: Path) -> None:
    """Prophesee layout, 200 events a frame, the sparse tail skipped, grayscale counts images."""
    src = random_source(2100, seed=9)
    path = write("prophesee", tmp_path / "cd.hdf5", src, compress="gzip")
    run = labeller(
        "run", str(path), "--simulate", "--workers", "1", "--events", "200", "--keep-partial",
        "--min-events", "150", "--render", "counts", "--encoding", "jpeg", cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    job_id = run.stdout.strip().splitlines()[-1].removeprefix("job id: ").strip()
    status = json.loads(labeller("status", job_id, "--json", cwd=tmp_path).stdout)
    # 10 full frames of 200 events are captioned; the last 100 events are too few: skipped.
    assert status["counts"] == {"done": 10, "skipped": 1}
    assert status["state"] == "done"


def _unsorted(path: Path) -> Path:
    src = random_source(500, seed=2)
    t = src.t_us.copy()
    t[300], t[301] = t[301] + 5, t[300]
    unsorted = type(src)(src.x, src.y, src.p, t)
    return write("generic", path, unsorted)


def _outside_sensor(path: Path) -> Path:
    write("dsec", path, random_source(500, seed=3, width=40))
    with h5py.File(path, "a") as h5:
        h5.attrs["width"] = 20
        h5.attrs["height"] = 30
    return path


def _unknown(path: Path) -> Path:
    with h5py.File(path, "w") as h5:
        h5["imu/acc"] = np.zeros(4)
    return path


@pytest.mark.parametrize(
    ("make", "expected", "generic"),
    [
        (_unsorted, "timestamps in cam/t are not sorted: event 301", True),
        (_outside_sensor, "x up to", False),
        (_unknown, "unknown event layout", False),
        (lambda p: ecf_file(p), "ECF codec (HDF5 filter 0x8ECF)", False),
    ],
    ids=["unsorted", "outside-sensor", "unknown-layout", "ecf-filter"],
)
def test_run_refuses_bad_recordings_with_one_line(
    tmp_path: Path, make: object, expected: str, generic: bool
) -> None:
    path = make(tmp_path / "bad.h5")  # type: ignore[operator]
    db = tmp_path / "labeller.db"
    extra = _config_for("generic", tmp_path) if generic else []
    result = labeller(
        "run", str(path), "--simulate", "--database-url", f"sqlite:///{db}", *extra, cwd=tmp_path
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0] and expected in lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert _jobs_in(db) == 0


def test_static_scenes_are_captioned_from_the_cache(tmp_path: Path) -> None:
    """The sample pauses its shapes from 4 s to 5 s: those frames reuse one caption, for free."""
    from sqlalchemy import create_engine, text

    from labeller.recordings import write_sample

    recording = tmp_path / "rec.h5"
    write_sample(recording, duration_s=6.0, width=640, height=480, rate_hz=2e5, seed=3)
    run = labeller("run", str(recording), "--simulate", "--workers", "1", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    job_id = run.stdout.strip().splitlines()[-1].removeprefix("job id: ").strip()
    status = json.loads(labeller("status", job_id, "--json", cwd=tmp_path).stdout)
    assert status["cached"] > 0
    engine = create_engine(f"sqlite:///{tmp_path / 'labeller.db'}")
    with engine.connect() as conn:
        hits = conn.execute(
            text(
                "SELECT t_start_us - (SELECT min(t_start_us) FROM frames), cost_usd, caption "
                "FROM frames WHERE cached_from_job IS NOT NULL"
            )
        ).all()
        calls = conn.execute(text("SELECT count(*) FROM attempts")).scalar_one()
    engine.dispose()
    assert len(hits) == status["cached"]
    # Only frames of the pause are reused; they cost nothing and made no call.
    assert all(3_950_000 <= offset < 5_000_000 for offset, _, _ in hits), hits
    assert all(cost == 0 and caption for _, cost, caption in hits)
    assert calls == status["counts"]["done"] - len(hits)
