"""Prompt templates on real jobs: each frame is asked its own prompt, a new prompt is a new job
whose captions never mix with the old one's, and a caption is reused only for the same words.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, create_engine, select

from labeller.cli.estimate import estimate
from labeller.cli.run import run
from labeller.config import BinningSettings, CacheSettings, ProviderSettings, Settings
from labeller.errors import ConfigError
from labeller.jobs import create_job
from labeller.pipeline import FrameMessage, OutcomeKind, Pipeline
from labeller.recordings import open_recording, write_sample
from labeller.routing import Limiter, RedisBackend
from labeller.simulator import SimulatorConfig, SimulatorServer
from labeller.store import (
    Attempt,
    AttemptStatus,
    Frame,
    FrameState,
    Job,
    Store,
    frames_in_states,
    make_engine,
    upgrade,
)

LABELLER = [sys.executable, "-m", "labeller.cli.__main__"]
OPENAI_KEY = "sk-test-" + "0" * 24
#: Every kind of field, so each frame's text differs from the template and from its neighbours.
TEMPLATE = (
    "Frame {frame} of {recording}, {t_start_s:.2f}-{t_end_s:.2f} s ({duration_ms:.0f} ms), "
    "{event_count:,} events at {event_rate:,.0f}/s, rendered as {renderer} on a {width}x{height} "
    "sensor: describe the moving objects."
)
PLAIN = "Describe the moving objects and the motion."


def _labeller(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LABELLER, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def _job_id(run: subprocess.CompletedProcess[str]) -> str:
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout.strip().splitlines()[-1].removeprefix("job id: ").strip()


def _env(config: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "COLUMNS": "160",
        "LABELLER_CONFIG": str(config),
        "OPENAI_API_KEY": OPENAI_KEY,
    }
    for name in ("LABELLER_BROKER_URL", "LABELLER_DATABASE_URL", "LABELLER_KEY_PREFIX"):
        env.pop(name, None)
    return env


def _cli_config(workdir: Path, prompt: str) -> Path:
    config = workdir / "labeller.yaml"
    settings = {
        "database_url": f"sqlite:///{workdir / 'labeller.db'}",
        "prompt": prompt,
        "binning": {"window": "100ms"},
        # Exact reuse stays on (the default): a new prompt must still not reuse old captions.
        "cache": {"exact": True, "near_duplicate_bits": None},
        "providers": [{"name": "openai", "kind": "openai", "model": "gpt-4o-mini"}],
        "simulator": {"seed": 1, "models": {"gpt-4o-mini": {"latency_ms": 5}}},
    }
    config.write_text(yaml.safe_dump(settings, sort_keys=False))
    return config


def _ok_prompt_tokens(engine: Engine, job_id: str) -> dict[int, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Attempt.frame_index, Attempt.prompt_tokens).where(
                Attempt.job_id == job_id, Attempt.status == AttemptStatus.ok.value
            )
        ).all()
    return {int(index): int(tokens) for index, tokens in rows}


def _captions(path: Path) -> list[tuple[object, object]]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [(line["frame"], line["caption"]) for line in lines]


def test_each_frame_gets_its_own_prompt_and_a_new_prompt_makes_a_new_job(
    tmp_path: Path,
) -> None:
    recording = tmp_path / "rec.h5"
    write_sample(recording, duration_s=1.0, width=160, height=120, rate_hz=1e5, seed=2, pause_s=0)
    env = _env(_cli_config(tmp_path, TEMPLATE))

    first = _job_id(
        _labeller("run", str(recording), "--simulate", "--workers", "1", cwd=tmp_path, env=env)
    )
    database = create_engine(f"sqlite:///{tmp_path / 'labeller.db'}")
    with database.connect() as conn:
        before = conn.execute(
            select(Frame.index, Frame.caption).where(Frame.job_id == first).order_by(Frame.index)
        ).all()
    database.dispose()
    second = _job_id(
        _labeller(
            "run",
            str(recording),
            "--simulate",
            "--workers",
            "1",
            cwd=tmp_path,
            env={**env, "LABELLER_PROMPT": PLAIN},
        )
    )
    export = _labeller("export", first, "-o", "first.jsonl", cwd=tmp_path, env=env)
    assert export.returncode == 0, export.stdout + export.stderr
    status = _labeller("status", first, cwd=tmp_path, env=env)

    engine = create_engine(f"sqlite:///{tmp_path / 'labeller.db'}")
    try:
        with engine.connect() as conn:
            jobs = {
                job_id: (spec, prompt_hash)
                for job_id, spec, prompt_hash in conn.execute(
                    select(Job.id, Job.spec, Job.prompt_hash)
                )
            }
            frames = conn.execute(
                select(Frame.index, Frame.t_start_us, Frame.t_end_us, Frame.i_start, Frame.i_end)
                .where(Frame.job_id == first)
                .order_by(Frame.index)
            ).all()
            second_providers = set(
                conn.execute(select(Frame.provider).where(Frame.job_id == second)).scalars()
            )
        sent_first = _ok_prompt_tokens(engine, first)
        sent_second = _ok_prompt_tokens(engine, second)
    finally:
        engine.dispose()

    # Two jobs over one recording, each with the template it was given and its hash.
    assert set(jobs) == {first, second}
    for job_id, prompt in ((first, TEMPLATE), (second, PLAIN)):
        spec, prompt_hash = jobs[job_id]
        assert (json.loads(spec)["prompt"], json.loads(spec)["prompt_template"]) == (prompt, True)
        assert prompt_hash == hashlib.sha256(prompt.encode()).hexdigest()[:32]
    # `status` shows the stored template, not one frame's text.
    assert status.returncode == 0, status.stdout + status.stderr
    digest = hashlib.sha256(TEMPLATE.encode()).hexdigest()
    shown = [ln for ln in status.stdout.splitlines() if ln.startswith("prompt ")]
    assert len(shown) == 1, status.stdout
    assert shown[0].startswith(f"prompt {digest[:12]}: Frame {{frame}} of {{recording}}, ")

    # The old job's captions are untouched; the new one called the provider for every frame.
    assert _captions(tmp_path / "first.jsonl") == [tuple(row) for row in before]
    assert len(before) == len(frames) > 5 and all(caption for _, caption in before)
    assert second_providers == {"openai"}

    # What the simulator was sent: its prompt tokens are ceil(characters / 4) of the text plus
    # the image's, and the image is the same in both jobs, so the plain prompt's job tells the
    # image's share and the template job's remainder must be each frame's own filled-in text.
    with open_recording(recording) as opened:
        origin_us = opened.t_start_us
    expected: dict[int, str] = {}
    for index, t_start_us, t_end_us, i_start, i_end in frames:
        duration_us = t_end_us - t_start_us
        expected[index] = TEMPLATE.format(
            frame=index,
            recording="rec.h5",
            t_start_s=(t_start_us - origin_us) / 1e6,
            t_end_s=(t_end_us - origin_us) / 1e6,
            duration_ms=duration_us / 1e3,
            event_count=i_end - i_start,
            event_rate=(i_end - i_start) / (duration_us / 1e6),
            renderer="histogram",
            width=160,
            height=120,
        )
    assert set(sent_first) == set(sent_second) == set(expected)
    for index, text in expected.items():
        image_tokens = sent_second[index] - math.ceil(len(PLAIN) / 4)
        assert sent_first[index] == math.ceil(len(text) / 4) + image_tokens, (index, text)
        # ...which the unfilled template would not have matched.
        assert math.ceil(len(text) / 4) != math.ceil(len(TEMPLATE) / 4)
    assert len({len(text) for text in expected.values()}) > 1


def test_run_and_estimate_refuse_a_bad_template_before_writing_a_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process, to spare two CLI start-ups: `main` prints any ConfigError on one line and
    exits 2 (tests/integration/test_cli*.py); what matters here is that the commands raise it
    before a database, let alone a job, exists."""
    monkeypatch.delenv("LABELLER_PROMPT", raising=False)
    recording = tmp_path / "rec.h5"
    write_sample(recording, duration_s=0.2, width=160, height=120, rate_hz=1e5, seed=2)
    config = _cli_config(tmp_path, "Frame {frame} of {recordng}: describe it.")
    expected = f"^{re.escape(f'{config}: prompt: unknown field {{recordng}}: known are')}"

    with pytest.raises(ConfigError, match=expected):
        run(recording, config=config, simulate=True)
    with pytest.raises(ConfigError, match=expected):
        estimate(recording, config=config)
    assert not (tmp_path / "labeller.db").exists()


# --- caption reuse, through the real pipeline ----------------------------------------------

#: Per frame of a job: (provider, the job its caption was copied from, caption).
Labelled = dict[int, tuple[str | None, str | None, str | None]]
LabelJob = Callable[[Path, str, CacheSettings], Labelled]


@pytest.fixture
def label_job(
    redis_url: str,
    key_prefix: str,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[LabelJob]:
    """Plan a job and label each of its frames in order with the worker's own `Pipeline`
    (real Redis limiter, real database, the simulator over HTTP), without Celery around it."""
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    config = SimulatorConfig.model_validate({"seed": 4, "models": {"gpt-4o-mini": {}}})
    engine = make_engine(database_url)
    upgrade(engine)
    store = Store(engine, time.time)
    backend = RedisBackend.from_url(redis_url)
    pipeline = Pipeline(store, Limiter(backend, key_prefix))

    def label(path: Path, prompt: str, cache: CacheSettings) -> Labelled:
        settings = Settings(
            database_url=database_url,
            prompt=prompt,
            binning=BinningSettings(window="100ms"),
            cache=cache,
            providers=[
                ProviderSettings(name="openai", model="gpt-4o-mini", base_url=f"{server.url}/v1")
            ],
        )
        with open_recording(path) as opened:
            job_id = create_job(store, settings, opened, simulated=False)
        # The frames the publisher would send, through the store's own query for it.
        for r in frames_in_states(engine, job_id, [FrameState.pending.value]):
            message = FrameMessage(
                job_id, r.index, r.i_start, r.i_end, r.t_start_us, r.t_end_us, r.provider
            )
            outcome = pipeline.label(message)
            assert outcome.kind in (OutcomeKind.done, OutcomeKind.cached), outcome
        with engine.connect() as conn:
            done = conn.execute(
                select(Frame.index, Frame.provider, Frame.cached_from_job, Frame.caption).where(
                    Frame.job_id == job_id
                )
            ).all()
        return {int(i): (provider, source, caption) for i, provider, source, caption in done}

    try:
        with SimulatorServer(config) as server:
            yield label
    finally:
        pipeline.close()
        backend.close()
        engine.dispose()


def _providers(job: Labelled) -> set[str | None]:
    return {provider for provider, _, _ in job.values()}


def test_exact_cache_reuses_a_caption_only_for_the_same_words(
    tmp_path: Path, label_job: LabelJob
) -> None:
    """Two byte-identical recordings under two names: a template naming `{recording}` asks
    different words of the same images, so nothing may be reused across them, while the same
    template over the same file is served entirely from the cache. A plain prompt keeps its
    old key: the image alone."""
    original, copy = tmp_path / "drive.h5", tmp_path / "copy.h5"
    write_sample(original, duration_s=0.5, width=160, height=120, rate_hz=1e5, seed=6, pause_s=0)
    shutil.copyfile(original, copy)
    exact = CacheSettings(exact=True, near_duplicate_bits=None)
    template = "Frame {frame} of {recording}: describe the motion."

    first = label_job(original, template, exact)
    rerun = label_job(original, template, exact)
    renamed = label_job(copy, template, exact)
    plain = label_job(original, PLAIN, exact)
    plain_renamed = label_job(copy, PLAIN, exact)

    assert len(first) == 4
    assert _providers(first) == {"openai"}
    # Same template, same file: the same words and images, so every caption is reused.
    first_job = {source for _, source, _ in rerun.values()}
    assert _providers(rerun) == {"cache"}
    assert len(first_job) == 1 and None not in first_job
    assert {i: caption for i, (_, _, caption) in rerun.items()} == {
        i: caption for i, (_, _, caption) in first.items()
    }
    # Same template, same images, another name: other words, so no caption is reused.
    assert _providers(renamed) == {"openai"}
    # A plain prompt: the images alone decide, as before templates (the files are identical).
    assert _providers(plain) == {"openai"}
    assert _providers(plain_renamed) == {"cache"}


def test_near_duplicates_are_not_reused_when_each_frame_is_asked_other_words(
    tmp_path: Path, label_job: LabelJob
) -> None:
    """The sample's shapes stand still in its pause: a plain prompt reuses those frames'
    captions; a prompt naming `{t_start_s}` asks each of them about another time, so not."""
    recording = tmp_path / "rec.h5"
    write_sample(
        recording,
        duration_s=1.0,
        width=160,
        height=120,
        rate_hz=1e5,
        seed=3,
        pause_every_s=1.0,
        pause_s=0.6,
    )
    # The pause's frames differ only by noise, which the thumbnail check must let through.
    near = CacheSettings(exact=False, near_duplicate_bits=3, near_duplicate_max_gray=40)

    plain = label_job(recording, PLAIN, near)
    timed = label_job(recording, "At {t_start_s:.1f} s: " + PLAIN, near)
    fixed = label_job(recording, "Shown as a {renderer} of {recording}: " + PLAIN, near)

    assert "cache" in _providers(plain)
    assert _providers(timed) == {"openai"}
    # Fields that are the same for every frame of the job leave near reuse on.
    assert "cache" in _providers(fixed)
