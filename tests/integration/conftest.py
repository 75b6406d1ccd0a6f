"""One finished job shared by the tests that only read a job: views, exports, reports.

It is made once per session as a person makes one: `labeller run REC --simulate` in a
subprocess (embedded Redis, SQLite, the simulator, a real Celery worker), two providers with a
fallback each, and the simulator shedding some calls with 429s, so attempts, fallbacks and
failures all show up. Tests must not change it; a test that needs its own job runs one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from labeller.recordings import write_sample

LABELLER = [sys.executable, "-m", "labeller.cli.__main__"]


@dataclass(frozen=True)
class FinishedJob:
    job_id: str
    workdir: Path
    config: Path
    recording: Path
    database_url: str
    #: The environment its commands ran with (keys are fake and simulated).
    env: dict[str, str]

    def labeller(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `labeller ARGS` against this job's database, as a person would."""
        return subprocess.run(
            [*LABELLER, *args],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )


def finished_job_config(workdir: Path) -> dict[str, object]:
    """Two simulated providers that fall back to each other; `openai` sheds a third of its
    calls with 429s and `anthropic` is slower."""
    return {
        "database_url": f"sqlite:///{workdir / 'labeller.db'}",
        "binning": {"window": "50ms"},
        "max_attempts": 4,
        "providers": [
            {
                "name": "openai",
                "kind": "openai",
                "model": "gpt-4o-mini",
                "weight": 0.5,
                "fallback": ["anthropic"],
            },
            {
                "name": "anthropic",
                "kind": "anthropic",
                "model": "claude-haiku-4-5",
                "weight": 0.5,
                "fallback": ["openai"],
            },
        ],  # fmt: skip
        "simulator": {
            "seed": 3,
            "models": {
                "gpt-4o-mini": {"latency_ms": 40, "latency_jitter_ms": 20, "rate_limit_rate": 0.3},
                "claude-haiku-4-5": {"latency_ms": 120, "latency_jitter_ms": 40},
            },
        },
    }


@pytest.fixture(scope="session")
def finished_job(tmp_path_factory: pytest.TempPathFactory) -> FinishedJob:
    workdir = tmp_path_factory.mktemp("finished-job")
    config = workdir / "labeller.yaml"
    config.write_text(yaml.safe_dump(finished_job_config(workdir), sort_keys=False))
    recording = workdir / "rec.h5"
    write_sample(recording, duration_s=1.6, width=320, height=240, rate_hz=2e5, seed=5)
    env = {
        **os.environ,
        "COLUMNS": "160",
        "LABELLER_CONFIG": str(config),
        "OPENAI_API_KEY": "sk-test-" + "0" * 24,
        "ANTHROPIC_API_KEY": "sk-ant-test-" + "0" * 24,
    }
    for name in ("LABELLER_BROKER_URL", "LABELLER_DATABASE_URL", "LABELLER_KEY_PREFIX"):
        env.pop(name, None)
    job = FinishedJob("", workdir, config, recording, f"sqlite:///{workdir / 'labeller.db'}", env)
    run = job.labeller("run", str(recording), "--simulate", "--workers", "1")
    assert run.returncode == 0, run.stdout + run.stderr
    job_id = run.stdout.strip().splitlines()[-1].removeprefix("job id: ").strip()
    return FinishedJob(job_id, workdir, config, recording, job.database_url, env)
