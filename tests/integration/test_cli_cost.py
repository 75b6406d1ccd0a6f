"""Before and while paying: `labeller estimate`, and a budget that pauses a job until resumed."""

from __future__ import annotations

import json
from pathlib import Path

from labeller.recordings import write_sample
from tests.integration.test_cli import labeller

MIX = {
    "binning": {"window": "50ms", "keep_partial": True},
    "cache": {"exact": False, "near_duplicate_bits": None},
    "providers": [
        {"name": "openai", "model": "gpt-4o", "weight": 0.5, "rpm": 600, "fallback": ["claude"]},
        {"name": "claude", "kind": "anthropic", "model": "claude-sonnet-4-5", "weight": 0.3,
         "rpm": 300},
        {"name": "gemini", "kind": "gemini", "model": "gemini-2.5-flash", "weight": 0.2},
    ],
}  # fmt: skip


def test_estimate_prices_the_mix_and_the_time_its_limits_allow(tmp_path: Path) -> None:
    recording = tmp_path / "rec.h5"
    write_sample(recording, duration_s=2.0, width=640, height=480, rate_hz=2e5)
    config = tmp_path / "mix.yaml"
    config.write_text(json.dumps(MIX))
    result = labeller("estimate", str(recording), "-C", str(config), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["frames"] == 40
    shares = {name: p["share"] for name, p in figures["providers"].items()}
    assert shares == {"openai": 0.5, "claude": 0.3, "gemini": 0.2}
    per_frame = {name: p["cost_per_frame_usd"] for name, p in figures["providers"].items()}
    assert per_frame["claude"] > per_frame["openai"] > per_frame["gemini"] > 0
    mix = sum(shares[n] * per_frame[n] * 40 for n in shares)
    assert abs(figures["cost_usd"] - mix) < 1e-6
    # openai (600 rpm at 50%) binds: 40 frames need 40 / (600 / 0.5) min; claude 40 / 1000.
    assert abs(figures["minutes"] - 40 / 1000) < 1e-9
    human = labeller("estimate", str(recording), "-C", str(config), cwd=tmp_path)
    assert "nothing has been sent" in human.stdout and "USD" in human.stdout
    assert not (tmp_path / "labeller.db").exists()


def test_budget_pauses_the_job_and_resume_finishes_it(tmp_path: Path) -> None:
    recording = tmp_path / "rec.h5"
    write_sample(recording, duration_s=1.5, width=320, height=240, rate_hz=1e5, seed=4)
    config = tmp_path / "labeller.yaml"
    config.write_text(
        json.dumps(
            {
                "binning": {"window": "50ms", "keep_partial": True},
                "cache": {"exact": False, "near_duplicate_bits": None},
                "providers": [{"name": "openai", "model": "gpt-4o"}],
            }
        )
    )
    common = ["-C", str(config)]
    run = labeller(
        "run", str(recording), "--simulate", "--workers", "1", "--budget", "0.01", *common,
        cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr  # not every frame was captioned
    job_id = run.stdout.strip().splitlines()[-1].removeprefix("job id: ").strip()
    paused = json.loads(labeller("status", job_id, "--json", *common, cwd=tmp_path).stdout)
    assert paused["state"] == "paused"
    assert paused["counts"].get("pending", 0) > 0
    assert paused["cost_usd"] >= 0.01

    resumed = labeller("resume", job_id, "--budget", "5", *common, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    done = json.loads(labeller("status", job_id, "--json", *common, cwd=tmp_path).stdout)
    assert done["state"] == "done" and done["counts"] == {"done": 30}
