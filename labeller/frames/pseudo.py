"""One window of a recording as the pseudo-frame a provider is sent: read, render, encode.

Workers caption with it and `labeller show --image` redraws with it, so the image a person
looks at is the one that was captioned, byte for byte, for the same recording and settings.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from labeller.config import RenderSettings
from labeller.frames.encode import EncodedImage, encode
from labeller.frames.render import render
from labeller.recordings import Recording

__all__ = ["encode_for_request", "render_window"]


def render_window(
    recording: Recording, i_start: int, i_end: int, t_end_us: int, options: RenderSettings
) -> NDArray[np.uint8]:
    """The rendered events `[i_start, i_end)` of a window ending at `t_end_us` (µs), at the
    sensor's size. Raises RecordingError or ConfigError."""
    events = recording.read(i_start, i_end)
    return render(events, recording.width, recording.height, options, t_end_us=t_end_us)


def encode_for_request(image: NDArray[np.uint8], options: RenderSettings) -> EncodedImage:
    """`image` encoded as `options` asks (encoding, JPEG quality, longest side)."""
    return encode(image, options.encoding, quality=options.jpeg_quality, max_side=options.max_side)
