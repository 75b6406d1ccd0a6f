"""The prompt as a template: Python `str.format` fields filled with each frame's metadata.

`"Frame {frame} of {recording}, {t_start_s:.2f}-{t_end_s:.2f} s: describe the motion."` names
fields from the fixed set `PROMPT_FIELDS`; format specs (`:.2f`, `:,`) work as in Python, and
`{{`/`}}` are literal braces. Only plain names: no attribute or index access (`{recording.x}`,
`{recording[0]}`), no positional `{}`, no nested fields in a spec, so a template can only ever
read these values. Settings are checked when they load (`check_prompt`), with sample values of
every field's type, so a typo fails `labeller run`/`estimate` before a job is written rather
than on every frame of it.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from labeller.errors import ConfigError

__all__ = ["FRAME_FIELDS", "PROMPT_FIELDS", "PromptFacts", "check_prompt", "render_prompt"]

#: Every field a prompt may name, with what it holds.
PROMPT_FIELDS: Final[dict[str, str]] = {
    "recording": "file name of the recording, e.g. drive.h5",
    "frame": "index of the frame in its job, from 0 (a pilot's: in the full job)",
    "t_start_s": "start of the frame's window, in seconds from the recording's first event",
    "t_end_s": "end of the window (exclusive), in seconds from the recording's first event",
    "t_start_us": "start of the window as the file's timestamps (µs)",
    "t_end_us": "end of the window as the file's timestamps (µs, exclusive)",
    "duration_s": "length of the window in seconds",
    "duration_ms": "length of the window in milliseconds",
    "event_count": "events in the window",
    "event_rate": "events per second over the window",
    "renderer": "render mode: histogram, counts or time-surface",
    "width": "sensor width in pixels",
    "height": "sensor height in pixels",
}

#: The fields whose value can differ between two frames of one job (the rest are the job's).
FRAME_FIELDS: Final = frozenset(PROMPT_FIELDS) - {"recording", "renderer", "width", "height"}

_HINT = "write {{ or }} for a literal brace"
_FORMATTER = string.Formatter()


@dataclass(frozen=True)
class PromptFacts:
    """What is known of a frame when its prompt is rendered; `values()` derives the fields."""

    recording: str
    frame: int
    t_start_us: int
    t_end_us: int
    #: Timestamp (µs) of the recording's first event: where `t_start_s` counts from.
    origin_us: int
    event_count: int
    renderer: str
    width: int
    height: int

    def values(self) -> dict[str, str | int | float]:
        """The field values, with the same type for every frame (so a spec checked once holds)."""
        duration_us = self.t_end_us - self.t_start_us
        return {
            "recording": Path(self.recording).name,
            "frame": self.frame,
            "t_start_s": (self.t_start_us - self.origin_us) / 1e6,
            "t_end_s": (self.t_end_us - self.origin_us) / 1e6,
            "t_start_us": self.t_start_us,
            "t_end_us": self.t_end_us,
            "duration_s": duration_us / 1e6,
            "duration_ms": duration_us / 1e3,
            "event_count": self.event_count,
            "event_rate": self.event_count * 1e6 / duration_us if duration_us > 0 else 0.0,
            "renderer": self.renderer,
            "width": self.width,
            "height": self.height,
        }


#: Values of every field's type, for checking a template before any frame exists.
_SAMPLE = PromptFacts(
    "recording.h5", 12, 1_600_000, 1_650_000, 1_000_000, 48_213, "histogram", 640, 480
)


def check_prompt(template: str) -> frozenset[str]:
    """The fields `template` uses; ValueError (one line, naming the bad field) if it is invalid."""
    try:
        parts = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise ValueError(f"not a valid template: {exc} ({_HINT})") from None
    used: set[str] = set()
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        field = _field(name, spec or "", conversion or "")
        if name == "" or name.isdigit():
            raise ValueError(f"positional field {field}: name one of {_known()} ({_HINT})")
        if name not in PROMPT_FIELDS:
            raise ValueError(f"unknown field {field}: known are {_known()} ({_HINT})")
        if "{" in field[1:-1] or "}" in field[1:-1]:
            raise ValueError(f"field {field}: nested fields in a format spec are not supported")
        try:
            field.format_map(_SAMPLE.values())
        except (ValueError, TypeError, OverflowError) as exc:
            raise ValueError(f"field {field}: {exc}") from None
        used.add(name)
    return frozenset(used)


def render_prompt(template: str, facts: PromptFacts) -> str:
    """`template` with `facts` filled in; ConfigError if a value does not fit its format spec."""
    try:
        return template.format_map(facts.values())
    except (ValueError, TypeError, OverflowError, KeyError, IndexError, AttributeError) as exc:
        raise ConfigError(
            f"prompt: cannot fill the template for frame {facts.frame}: {exc}"
        ) from None


def _field(name: str, spec: str, conversion: str) -> str:
    """The field as written: `{name!conversion:spec}`."""
    return (
        "{" + name + ("!" + conversion if conversion else "") + (":" + spec if spec else "") + "}"
    )


def _known() -> str:
    return ", ".join(PROMPT_FIELDS)
