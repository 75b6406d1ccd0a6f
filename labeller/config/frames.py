"""How a recording becomes frames: which layout to read, how to bin, how to render and encode."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from labeller.config.durations import parse_duration_us
from labeller.errors import ConfigError

__all__ = [
    "BinningSettings",
    "Color",
    "LayoutSettings",
    "RecordingSettings",
    "RenderSettings",
]

#: An RGB colour, each channel 0-255.
Color = tuple[
    Annotated[int, Field(ge=0, le=255)],
    Annotated[int, Field(ge=0, le=255)],
    Annotated[int, Field(ge=0, le=255)],
]

_Frozen = ConfigDict(extra="forbid", frozen=True)


def _duration(value: str | None) -> str | None:
    """Validate a duration string, as a ValueError so pydantic names the key."""
    if value is not None:
        try:
            parse_duration_us(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
    return value


class LayoutSettings(BaseModel):
    """An HDF5 layout labeller does not know by name: where x, y, t and p live.

    Either four 1-D datasets (`x`, `y`, `t`, `p`) or one `events` dataset: a compound with
    fields x, y, t, p, or an N×4 array whose columns are in `columns` order. Polarity is ON where
    p > 0, so 0/1, -1/+1 and booleans all read the same.
    """

    model_config = _Frozen

    x: str | None = None
    y: str | None = None
    t: str | None = None
    p: str | None = None
    events: str | None = None
    columns: tuple[str, str, str, str] = ("x", "y", "t", "p")
    #: Unit of the stored timestamps.
    time_unit: Literal["ns", "us", "ms", "s"] = "us"
    #: Added to every timestamp after conversion, in µs.
    t_offset_us: int = 0

    @model_validator(mode="after")
    def _one_shape(self) -> LayoutSettings:
        separate = [self.x, self.y, self.t, self.p]
        if self.events is None and None in separate:
            raise ValueError("name all of x, y, t, p, or one `events` dataset")
        if self.events is not None and any(v is not None for v in separate):
            raise ValueError("name either x, y, t, p or `events`, not both")
        if sorted(self.columns) != ["p", "t", "x", "y"]:
            raise ValueError("columns must name x, y, t and p once each")
        return self


class RecordingSettings(BaseModel):
    """Which layout to read; `auto` detects DSEC, Prophesee, MVSEC, E2VID and M3ED."""

    model_config = _Frozen

    format: Literal["auto", "dsec", "prophesee", "mvsec", "e2vid", "m3ed", "generic"] = "auto"
    #: The camera of a stereo file (MVSEC, M3ED).
    camera: Literal["left", "right"] = "left"
    #: Sensor size when the file does not say; otherwise the largest coordinate + 1.
    width: int | None = Field(default=None, gt=0)
    height: int | None = Field(default=None, gt=0)
    #: The generic layout (`format: generic`).
    layout: LayoutSettings | None = None

    @model_validator(mode="after")
    def _layout_for_generic(self) -> RecordingSettings:
        if self.format == "generic" and self.layout is None:
            raise ValueError("format generic needs a `layout`")
        return self


class BinningSettings(BaseModel):
    """How the recording is cut into frames: by time (`window`) or by event count (`events`)."""

    model_config = _Frozen

    #: Frame length; ignored when `events` is set.
    window: str = "50ms"
    #: Events per frame; set it to bin by count instead of time.
    events: int | None = Field(default=None, gt=0)
    #: Distance between frame starts: a duration for time windows, an event count for count
    #: windows. Less than the frame length overlaps frames, more leaves gaps. Default: the length.
    stride: str | None = None
    #: Cut the recording: offsets from its first event, e.g. `2s` and `30s`.
    start: str | None = None
    end: str | None = None
    #: Frames with fewer events are recorded as `skipped` and never sent.
    min_events: int = Field(default=0, ge=0)
    #: Keep the last frame when it is shorter than the others.
    keep_partial: bool = False

    _check_durations = field_validator("window", "start", "end")(_duration)

    @model_validator(mode="after")
    def _check(self) -> BinningSettings:
        if self.window_us <= 0:
            raise ValueError(f"window must be positive, got {self.window!r}")
        if self.stride is not None:
            if self.events is None:
                _duration(self.stride)
                if parse_duration_us(self.stride) <= 0:
                    raise ValueError(f"stride must be positive, got {self.stride!r}")
            elif not self.stride.isdigit() or int(self.stride) <= 0:
                raise ValueError(f"stride of count windows is an event count, got {self.stride!r}")
        if self.start_us is not None and self.end_us is not None and self.end_us <= self.start_us:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        return self

    @property
    def window_us(self) -> int:
        return parse_duration_us(self.window)

    @property
    def stride_us(self) -> int | None:
        """Time stride (µs) of time windows; None for the window length."""
        return None if self.stride is None or self.events else parse_duration_us(self.stride)

    @property
    def stride_events(self) -> int | None:
        """Event stride of count windows; None for the event count."""
        return int(self.stride) if self.stride is not None and self.events else None

    @property
    def start_us(self) -> int | None:
        return None if self.start is None else parse_duration_us(self.start)

    @property
    def end_us(self) -> int | None:
        return None if self.end is None else parse_duration_us(self.end)


class RenderSettings(BaseModel):
    """How a frame's events become an image, and how that image is encoded."""

    model_config = _Frozen

    #: `histogram`: ON and OFF colours on a dark background; `counts`: grayscale event counts;
    #: `time-surface`: exponential decay of each pixel's latest event.
    mode: Literal["histogram", "counts", "time-surface"] = "histogram"
    background: Color = (16, 16, 24)
    on_color: Color = (255, 170, 60)
    off_color: Color = (60, 150, 255)
    #: `counts`: the count at this percentile of active pixels is full white.
    counts_percentile: float = Field(default=99.0, gt=0.0, le=100.0)
    #: `time-surface`: decay constant.
    time_surface_tau: str = "10ms"
    encoding: Literal["png", "jpeg"] = "png"
    jpeg_quality: int = Field(default=90, ge=1, le=100)
    #: Downscale so the longer side is at most this many pixels before encoding.
    max_side: int | None = Field(default=None, gt=0)

    _check_tau = field_validator("time_surface_tau")(_duration)

    @property
    def tau_us(self) -> int:
        return parse_duration_us(self.time_surface_tau)
