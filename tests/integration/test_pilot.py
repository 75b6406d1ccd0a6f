"""`labeller run REC --pilot N`: a real pilot (embedded Redis, SQLite, simulator, a Celery
worker), its figures checked against the rows it left; planning and refusals on both databases.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import statistics
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, create_engine, select, update

from labeller.cli import main
from labeller.cli.pilot import pilot_json
from labeller.config import JobSpec, Settings, load_settings
from labeller.errors import UserError
from labeller.frames import plan_windows
from labeller.jobs import create_job, create_pilot, pilot_report
from labeller.recordings import open_recording, write_sample
from labeller.store import Attempt, Frame, Job, JobKind, Store, make_engine, upgrade
from tests.support import FakeClock

LABELLER = [sys.executable, "-m", "labeller.cli.__main__"]
SAMPLE = 6
WINDOWS = 40  # 2 s in 50 ms windows
WEIGHTS = {"openai": 0.75, "anthropic": 0.25}
#: Four copies of the frame number: the simulator counts ceil(characters / 4) text tokens, so
#: each digit of `{frame}` adds exactly one prompt token.
TEMPLATE = "Frame {frame}{frame}{frame}{frame} of {recording}: describe the motion please."


def _config(workdir: Path) -> dict[str, object]:
    """`openai` is fast, sheds 40% of its calls with 429s and writes short captions; `anthropic`
    is slow, one call at a time, and wordy. Each falls back to the other (a pilot must not)."""
    return {
        "database_url": f"sqlite:///{workdir / 'labeller.db'}",
        "prompt": TEMPLATE,
        "binning": {"window": "50ms"},
        "providers": [
            {"name": "openai", "kind": "openai", "model": "gpt-4o-mini", "weight": 0.75,
             "rpm": 1200, "max_tokens": 30, "fallback": ["anthropic"]},
            {"name": "anthropic", "kind": "anthropic", "model": "claude-haiku-4-5",
             "weight": 0.25, "max_in_flight": 1, "fallback": ["openai"]},
        ],
        "simulator": {
            "seed": 11,
            "models": {
                "gpt-4o-mini": {"latency_ms": 40, "latency_jitter_ms": 20,
                                "rate_limit_rate": 0.4, "output_tokens": 25},
                "claude-haiku-4-5": {"latency_ms": 200, "latency_jitter_ms": 40,
                                     "output_tokens": 60},
            },
        },
    }  # fmt: skip


def _labeller(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "COLUMNS": "160",
        "LABELLER_CONFIG": str(workdir / "labeller.yaml"),
        "OPENAI_API_KEY": "sk-test-" + "0" * 24,
        "ANTHROPIC_API_KEY": "sk-ant-test-" + "0" * 24,
    }
    for name in ("LABELLER_BROKER_URL", "LABELLER_DATABASE_URL", "LABELLER_KEY_PREFIX"):
        env.pop(name, None)
    return subprocess.run(
        [*LABELLER, *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=300
    )


def _words(caption: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+(?:'[a-z]+)?", caption.lower()))


def _expected(engine: Engine, job_id: str, full_sent: int) -> dict[str, Any]:
    """The pilot's figures, recomputed here from its Frame and Attempt rows."""
    with engine.connect() as conn:
        frames = conn.execute(select(Frame).where(Frame.job_id == job_id)).all()
        attempts = conn.execute(select(Attempt).where(Attempt.job_id == job_id)).all()
    figures: dict[str, Any] = {}
    for name in WEIGHTS:
        mine = [a for a in attempts if a.provider == name]
        ok = [a.latency_ms for a in mine if a.status == "ok"]
        cuts = statistics.quantiles(ok, n=100, method="inclusive")
        done = [f for f in frames if f.provider == name and f.state == "done"]
        figures[name] = {
            "calls": len(mine),
            "rate_limited": sum(a.status == "rate_limited" for a in mine),
            "p50": cuts[49],
            "p90": cuts[89],
            "p99": cuts[98],
            "mean_s": statistics.mean(ok) / 1000,
            "tokens_in": sum(a.prompt_tokens for a in mine) / len(done),
            "tokens_out": sum(a.completion_tokens for a in mine) / len(done),
            "cost_per_frame": sum(a.cost_usd for a in mine) / len(done),
            "words": statistics.mean(len(str(f.caption).split()) for f in done),
        }
    by_window: dict[tuple[int, int], dict[str, str]] = defaultdict(dict)
    for f in frames:
        by_window[(f.i_start, f.i_end)][f.provider] = str(f.caption)
    scores = []
    for captions in by_window.values():
        a, b = _words(captions["openai"]), _words(captions["anthropic"])
        scores.append(len(a & b) / len(a | b))
    figures["jaccard"] = statistics.mean(scores)
    figures["cost"] = full_sent * sum(WEIGHTS[n] * figures[n]["cost_per_frame"] for n in WEIGHTS)
    # The anthropic route's only limit is one call in flight: 60 s / mean latency a minute.
    per_min = {"openai": 1200.0, "anthropic": 60 / figures["anthropic"]["mean_s"]}
    figures["minutes"] = full_sent / min(per_min[n] / WEIGHTS[n] for n in WEIGHTS)
    return figures


def test_pilot_captions_a_spread_sample_with_every_provider_and_reports_its_rows(
    tmp_path: Path,
) -> None:
    (tmp_path / "labeller.yaml").write_text(yaml.safe_dump(_config(tmp_path), sort_keys=False))
    recording = tmp_path / "rec.h5"
    write_sample(recording, duration_s=2.0, width=160, height=120, rate_hz=2e5, seed=5)

    run = _labeller(
        tmp_path, "run", str(recording), "--simulate", "--workers", "1",
        "--pilot", str(SAMPLE), "--json",
    )  # fmt: skip

    assert run.returncode == 0, run.stdout + run.stderr
    shown = json.loads(run.stdout)  # stdout is the JSON alone; people read stderr
    assert f"{SAMPLE} of the {WINDOWS} frames" in run.stderr
    job_id = shown["job_id"]
    engine = create_engine(f"sqlite:///{tmp_path / 'labeller.db'}")
    try:
        with engine.connect() as conn:
            job = conn.execute(select(Job).where(Job.id == job_id)).one()
            frames = conn.execute(select(Frame).where(Frame.job_id == job_id)).all()
            attempts = conn.execute(select(Attempt).where(Attempt.job_id == job_id)).all()
        assert (job.kind, job.state, job.full_frames, job.full_skipped) == ("pilot", "done", 40, 0)
        # N frames per provider, the same N windows for each, all captioned where they were
        # pinned: no call ever went to another provider.
        assert len(frames) == SAMPLE * len(WEIGHTS)
        assert all(f.state == "done" and f.caption for f in frames)
        windows = {n: sorted(f.i_start for f in frames if f.provider == n) for n in WEIGHTS}
        assert windows["openai"] == windows["anthropic"] and len(set(windows["openai"])) == SAMPLE
        pinned = {f.index: f.provider for f in frames}
        assert {(a.frame_index, a.provider) for a in attempts} <= set(pinned.items())
        # Spread evenly over the recording: consecutive picks WINDOWS/SAMPLE windows apart.
        settings = load_settings(tmp_path / "labeller.yaml")
        with open_recording(recording, settings.recording) as opened:
            starts = [w.i_start for w in plan_windows(opened, settings.binning)]
        assert len(starts) == WINDOWS
        positions = [starts.index(i) for i in windows["openai"]]
        # Each row knows its window's frame number in the full job (no window is skipped here).
        assert all(f.full_index == starts.index(f.i_start) for f in frames)
        gaps = [b - a for a, b in itertools.pairwise(positions)]
        assert all(WINDOWS // SAMPLE <= g <= -(-WINDOWS // SAMPLE) for g in gaps), positions
        assert positions[0] < WINDOWS / SAMPLE and positions[-1] >= WINDOWS - WINDOWS / SAMPLE

        expected = _expected(engine, job_id, WINDOWS)
        for name in WEIGHTS:
            got, want = shown["providers"][name], expected[name]
            assert (got["calls"], got["rate_limited"]) == (want["calls"], want["rate_limited"])
            assert got["rate_limited_share"] == pytest.approx(want["rate_limited"] / want["calls"])
            assert (got["frames"], got["done"], got["failed"]) == (SAMPLE, SAMPLE, 0)
            for q in ("p50", "p90", "p99"):
                assert got["latency_ms"][q] == pytest.approx(want[q])
            assert got["prompt_tokens_per_frame"] == pytest.approx(want["tokens_in"])
            assert got["completion_tokens_per_frame"] == pytest.approx(want["tokens_out"])
            assert got["cost_per_frame_usd"] == pytest.approx(want["cost_per_frame"])
            assert got["caption_words"] == pytest.approx(want["words"])
        fast, slow = shown["providers"]["openai"], shown["providers"]["anthropic"]
        assert fast["latency_ms"]["p50"] < slow["latency_ms"]["p50"]
        assert slow["rate_limited"] == 0
        assert fast["caption_words"] < slow["caption_words"]
        [pair] = shown["agreement"]
        assert (pair["a"], pair["b"], pair["frames"]) == ("openai", "anthropic", SAMPLE)
        assert pair["jaccard"] == pytest.approx(expected["jaccard"])
        assert 0 < pair["jaccard"] < 1
        full = shown["full_job"]
        assert (full["frames"], full["sent"]) == (WINDOWS, WINDOWS)
        assert full["cost_usd"] == pytest.approx(expected["cost"])
        assert full["minutes"] == pytest.approx(expected["minutes"])

        _check_prompts_name_the_full_jobs_frame(frames, attempts)
        _check_export_pairs_windows(tmp_path, job_id, frames)

        # Shown again later, for people: the same figures, from the same rows.
        again = _labeller(tmp_path, "pilot-report", job_id)
        assert again.returncode == 0, again.stderr
        for name in WEIGHTS:
            row = next(line for line in again.stdout.splitlines() if line.startswith(f" {name} "))
            cells = row.split()
            p50, p90, p99 = (f"{expected[name][q]:,.0f}" for q in ("p50", "p90", "p99"))
            assert cells[-3:] == [p50, p90, p99], row
        assert f"{expected['jaccard']:.2f}" in again.stdout
        assert "full job: 40 frames (0 skipped)" in again.stdout

        # The extrapolation follows the population: a recording 100 times longer.
        with engine.begin() as conn:
            conn.execute(update(Job).where(Job.id == job_id).values(full_frames=4000))
        scaled = pilot_json(pilot_report(engine, job_id))
        assert scaled["full_job"]["cost_usd"] == pytest.approx(100 * full["cost_usd"])
        assert scaled["full_job"]["minutes"] == pytest.approx(100 * full["minutes"])
        assert scaled["providers"] == shown["providers"]
    finally:
        engine.dispose()


def _check_prompts_name_the_full_jobs_frame(frames: Sequence[Any], attempts: Sequence[Any]) -> None:
    """Both providers were asked about the same frame number for the same window: the full
    job's, not the pilot row's index (2k for one provider, 2k+1 for the other).

    The simulator's prompt tokens are the text's ceil(characters / 4) plus the image's; every
    image of a provider costs it the same, so once the text the window's frame number makes is
    taken off, what is left must be one figure per provider.
    """
    window_of = {f.index: f.full_index for f in frames}
    image_tokens: dict[str, set[int]] = defaultdict(set)
    for a in attempts:
        if a.status == "ok":
            text = TEMPLATE.format(frame=window_of[a.frame_index], recording="rec.h5")
            image_tokens[a.provider].add(a.prompt_tokens - math.ceil(len(text) / 4))
    assert {name: len(left) for name, left in image_tokens.items()} == {"openai": 1, "anthropic": 1}
    # ...which numbering by pilot row would have broken: the windows' numbers have one digit
    # and two, the rows' numbers of the same windows do not line up with them.
    digits = {f.full_index: len(str(f.full_index)) for f in frames}
    assert set(digits.values()) == {1, 2}
    assert any(len(str(f.index)) != digits[f.full_index] for f in frames)


def _check_export_pairs_windows(workdir: Path, job_id: str, frames: Sequence[Any]) -> None:
    """`labeller export` of a pilot adds `window`, the full job's frame number of each row."""
    export = _labeller(workdir, "export", job_id, "-o", "pilot.jsonl")
    assert export.returncode == 0, export.stdout + export.stderr
    rows = [json.loads(line) for line in (workdir / "pilot.jsonl").read_text().splitlines()]
    assert {(r["frame"], r["window"], r["provider"]) for r in rows} == {
        (f.index, f.full_index, f.provider) for f in frames
    }
    assert list(rows[0])[:3] == ["job_id", "frame", "window"]


def test_pilot_refuses_detach_and_json_without_pilot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In-process `main()`, as the console script runs it: one line, exit 2, nothing written."""
    (tmp_path / "labeller.yaml").write_text(yaml.safe_dump(_config(tmp_path), sort_keys=False))
    recording = tmp_path / "rec.h5"
    write_sample(recording, duration_s=0.2, width=160, height=120, rate_hz=1e5, seed=5)
    monkeypatch.setenv("LABELLER_CONFIG", str(tmp_path / "labeller.yaml"))
    for name in ("LABELLER_BROKER_URL", "LABELLER_DATABASE_URL", "LABELLER_KEY_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    cases = (
        (["--pilot", "5", "--detach", "--broker-url", "redis://127.0.0.1:1/0"], "--pilot"),
        (["--json"], "--json goes with --pilot"),
    )
    for args, words in cases:
        monkeypatch.setattr(sys, "argv", ["labeller", "run", str(recording), *args])
        with pytest.raises(SystemExit) as exited:
            main()
        err = capsys.readouterr().err
        assert exited.value.code == 2
        assert err.count("\n") == 1 and words in err and "Traceback" not in err, err
    assert not (tmp_path / "labeller.db").exists()  # refused before anything was written


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield Store(engine, FakeClock())
    engine.dispose()


def _settings(**binning: object) -> Settings:
    return load_settings(
        overrides={
            "binning": {"window": "50ms", **binning},
            "providers": [
                {"name": n, "model": f"m-{n}", "api_key_env": None, "fallback": ["a"]}
                for n in ("a", "b", "c")
            ],
        }
    )


def test_a_pilot_samples_sendable_frames_and_all_of_them_when_asked_for_more(
    store: Store, tmp_path: Path
) -> None:
    recording_path = tmp_path / "short.h5"
    write_sample(recording_path, duration_s=0.5, width=160, height=120, rate_hz=1e5, seed=2)
    settings = _settings(min_events=1)
    with open_recording(recording_path, settings.recording) as recording:
        every = list(plan_windows(recording, settings.binning))
        plan = create_pilot(store, settings, recording, sample=1000, simulated=True)

    with store.engine.connect() as conn:
        job = conn.execute(select(Job).where(Job.id == plan.job_id)).one()
        frames = conn.execute(select(Frame).where(Frame.job_id == plan.job_id)).all()
    sendable = [w for w in every if w.event_count >= 1]
    assert (job.kind, job.full_frames, job.full_skipped) == (
        JobKind.pilot.value,
        len(every),
        len(every) - len(sendable),
    )
    assert plan.sample == len(sendable)  # asked for 1000: every frame a full job would send
    assert sorted((f.i_start, f.provider) for f in frames) == sorted(
        (w.i_start, p) for w in sendable for p in ("a", "b", "c")
    )
    assert all(f.state == "pending" for f in frames)
    report = pilot_report(store.engine, plan.job_id)
    assert report.sample == len(sendable) and report.cost_usd == 0
    assert report.full_cost_usd is None  # nothing captioned yet: no price per frame
    spec = JobSpec.model_validate_json(job.spec)
    assert all(p.fallback == [] for p in spec.providers)  # each provider answers for itself
    assert not spec.cache.exact and spec.cache.near_duplicate_bits is None


def test_a_full_job_or_an_unknown_id_is_not_a_pilot(store: Store, tmp_path: Path) -> None:
    recording_path = tmp_path / "short.h5"
    write_sample(recording_path, duration_s=0.2, width=160, height=120, rate_hz=1e5, seed=2)
    settings = _settings()
    with open_recording(recording_path, settings.recording) as recording:
        full = create_job(store, settings, recording, simulated=True)

    with pytest.raises(UserError, match=f"job {full} is a full job, not a pilot"):
        pilot_report(store.engine, full)
    with pytest.raises(UserError, match="job nosuchjob: no such job"):
        pilot_report(store.engine, "nosuchjob")
