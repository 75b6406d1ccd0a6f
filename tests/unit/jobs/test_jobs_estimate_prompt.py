"""`estimate_job` prices a templated prompt by the text a frame is sent, not by the template."""

from __future__ import annotations

import math
from pathlib import Path

from labeller.config import Settings
from labeller.jobs import estimate_job
from labeller.recordings import open_recording, write_sample

#: Long field values, short template: the filled text is far longer than the template.
TEMPLATE = "{recording} {recording} {recording} {t_start_us} {t_end_us} {renderer}"


def test_input_tokens_count_the_first_frames_filled_in_prompt(tmp_path: Path) -> None:
    path = tmp_path / "a-rather-long-recording-name.h5"
    write_sample(path, duration_s=0.3, width=160, height=120, rate_hz=1e5, seed=1)
    plain = Settings(prompt="x")
    templated = Settings(prompt=TEMPLATE)

    with open_recording(path) as recording:
        first_start = recording.t_start_us
        base = estimate_job(recording, plain)
        filled = estimate_job(recording, templated)

    text = f"{path.name} {path.name} {path.name} {first_start} {first_start + 50_000} histogram"
    for with_x, with_text in zip(base.providers, filled.providers, strict=True):
        image_tokens = with_x.input_tokens_per_frame - 1
        assert with_text.input_tokens_per_frame == math.ceil(len(text) / 4) + image_tokens
    assert math.ceil(len(text) / 4) > math.ceil(len(TEMPLATE) / 4)
