"""Prompt templates: fields filled from a frame's metadata; faults refused as settings load."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from labeller.config import (
    DEFAULT_PROMPT,
    PROMPT_FIELDS,
    JobSpec,
    PromptFacts,
    Settings,
    check_prompt,
    load_settings,
    render_prompt,
)
from labeller.errors import ConfigError

#: Frame 7 of a recording whose first event is at 1.0 s: 1.35 s to 1.40 s, 2,500 events.
FACTS = PromptFacts(
    recording="/data/runs/drive 3.h5",
    frame=7,
    t_start_us=1_350_000,
    t_end_us=1_400_000,
    origin_us=1_000_000,
    event_count=2_500,
    renderer="time-surface",
    width=640,
    height=480,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("LABELLER_"):
            monkeypatch.delenv(name)


def _spec(prompt: str, *, template: bool) -> JobSpec:
    settings = Settings(prompt=prompt)
    spec = JobSpec.from_settings(settings, recording="/data/runs/drive 3.h5", simulated=True)
    return spec.model_copy(update={"prompt_template": template})


def test_every_field_is_filled_from_the_frame() -> None:
    template = " | ".join(f"{name}={{{name}}}" for name in PROMPT_FIELDS)

    assert check_prompt(template) == set(PROMPT_FIELDS)
    assert render_prompt(template, FACTS).split(" | ") == [
        "recording=drive 3.h5",
        "frame=7",
        "t_start_s=0.35",
        "t_end_s=0.4",
        "t_start_us=1350000",
        "t_end_us=1400000",
        "duration_s=0.05",
        "duration_ms=50.0",
        "event_count=2500",
        "event_rate=50000.0",
        "renderer=time-surface",
        "width=640",
        "height=480",
    ]


def test_format_specs_and_literal_braces_work_as_in_python() -> None:
    template = (
        "Frame {frame:04d}, {t_start_s:.2f}-{t_end_s:.2f} s, {event_rate:,.0f} ev/s. "
        'Reply as {{"caption": "..."}}.'
    )

    assert check_prompt(template) == {"frame", "t_start_s", "t_end_s", "event_rate"}
    assert render_prompt(template, FACTS) == (
        'Frame 0007, 0.35-0.40 s, 50,000 ev/s. Reply as {"caption": "..."}.'
    )


def test_a_window_without_duration_has_no_rate() -> None:
    instant = PromptFacts("r.h5", 0, 5, 5, 0, 3, "histogram", 1, 1)

    assert render_prompt("{event_rate} {duration_ms}", instant) == "0.0 0.0"


def test_a_prompt_without_fields_is_sent_as_written() -> None:
    spec = _spec(DEFAULT_PROMPT, template=True)

    assert check_prompt(DEFAULT_PROMPT) == frozenset()
    assert spec.prompt_for(FACTS) == DEFAULT_PROMPT


def test_jobs_made_before_templates_send_their_prompt_verbatim() -> None:
    """A stored spec without `prompt_template` predates templates: braces are its own text."""
    literal = 'Count the cars in {frame}. Reply as {"cars": N}.'
    stored = _spec("x", template=True).model_dump(mode="json")
    del stored["prompt_template"]
    stored["prompt"] = literal

    old = JobSpec.model_validate(stored)

    assert old.prompt_template is False
    assert old.prompt_for(FACTS) == literal


def test_new_jobs_store_the_template_and_fill_it_per_frame() -> None:
    spec = _spec("{recording} at {t_start_s:.2f} s", template=True)
    later = PromptFacts(**{**FACTS.__dict__, "frame": 8, "t_start_us": 1_400_000})

    stored = JobSpec.model_validate_json(spec.model_dump_json())

    assert (stored.prompt, stored.prompt_template) == ("{recording} at {t_start_s:.2f} s", True)
    assert stored.prompt_for(FACTS) == "drive 3.h5 at 0.35 s"
    assert stored.prompt_for(later) == "drive 3.h5 at 0.40 s"


@pytest.mark.parametrize(
    ("prompt", "varies"),
    [
        (DEFAULT_PROMPT, False),
        ("A {renderer} of {recording}, a {width}x{height} sensor.", False),
        ("At {t_start_s:.1f} s.", True),
        ("{event_count} events.", True),
        ("Frame {frame}.", True),
    ],
)
def test_a_prompt_varies_between_frames_only_with_a_per_frame_field(
    prompt: str, varies: bool
) -> None:
    assert _spec(prompt, template=True).prompt_varies() is varies
    assert _spec(prompt, template=False).prompt_varies() is False


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("Describe {scene}.", "unknown field {scene}: known are recording, frame,"),
        ('Reply as {"caption": "..."}.', 'unknown field {"caption": "..."}'),
        ("Frame {}.", "positional field {}"),
        ("Frame {0}.", "positional field {0}"),
        ("{recording.__class__}", "unknown field {recording.__class__}"),
        ("{recording[0]}", "unknown field {recording[0]}"),
        ("Frame {frame", "not a valid template: expected '}' before end of string"),
        ("Frame frame}", "not a valid template: Single '}' encountered"),
        ("{recording:.2f}", "field {recording:.2f}: Unknown format code 'f'"),
        ("{t_start_s:d}", "field {t_start_s:d}: Unknown format code 'd'"),
        ("{frame!z}", "field {frame!z}: Unknown conversion specifier z"),
        ("{t_start_s:.{frame}f}", "field {t_start_s:.{frame}f}: nested fields"),
    ],
)
def test_bad_templates_fail_when_settings_load(tmp_path: Path, prompt: str, expected: str) -> None:
    path = tmp_path / "labeller.yaml"
    path.write_text(yaml.safe_dump({"prompt": prompt}))

    with pytest.raises(ConfigError) as caught:
        load_settings(path)

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: prompt: ")
    assert expected in message


def test_a_bad_template_from_the_environment_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LABELLER_PROMPT", "Frame {index}")

    with pytest.raises(ConfigError, match=r"^LABELLER_PROMPT: prompt: unknown field \{index\}"):
        load_settings()


def test_a_value_that_cannot_take_its_spec_fails_that_frame_only() -> None:
    """`:c` checks with a small frame index; a huge one is no character: a ConfigError."""
    spec = _spec("Frame {frame:c}", template=True)
    huge = PromptFacts(**{**FACTS.__dict__, "frame": 0x110000})

    assert spec.prompt_for(FACTS) == "Frame \x07"
    with pytest.raises(ConfigError, match=r"^prompt: cannot fill the template for frame 1114112"):
        spec.prompt_for(huge)
