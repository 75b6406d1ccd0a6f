"""The report's gallery: done frames spread over the job, redrawn from the recording as the
workers drew them, with the captions they got.

Images are redrawn, not stored: the database keeps no image bytes. A recording that has
moved or gone leaves a note in the gallery's place rather than failing the report.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from labeller.config import JobSpec
from labeller.errors import LabellerError
from labeller.frames import encode_for_request, render_window
from labeller.jobs import spread
from labeller.recordings import open_recording
from labeller.report.data import ProgressFn
from labeller.store import (
    SampleFrame,
    done_frame_indexes,
    first_frame_start_us,
    sample_frames,
)

__all__ = ["Gallery", "GalleryItem", "build_gallery"]

#: Longest side (pixels) of a gallery image: large sensors are shrunk to keep the file small.
GALLERY_MAX_SIDE = 640


@dataclass(frozen=True)
class GalleryItem:
    frame: SampleFrame
    #: `data:` URI of the image, or None with `error` saying why it could not be redrawn.
    image_uri: str | None
    error: str | None = None


@dataclass(frozen=True)
class Gallery:
    items: list[GalleryItem]
    #: Why there are no images at all (no done frame, recording gone), else None.
    note: str | None = None
    #: Start (epoch µs) of the job's first window: frame times are shown from there.
    origin_us: int = 0


def build_gallery(
    engine: Engine,
    job_id: str,
    spec: JobSpec,
    count: int,
    progress: ProgressFn | None = None,
) -> Gallery:
    """Redraw up to `count` done frames of the job; never raises for a missing recording."""
    if count <= 0:
        return Gallery([], "gallery left out (--gallery 0)")
    indexes = done_frame_indexes(engine, job_id)
    frames = sample_frames(engine, job_id, [indexes[i] for i in spread(len(indexes), count)])
    if not frames:
        return Gallery([], "no frame has been captioned yet")
    origin = first_frame_start_us(engine, job_id) or 0
    try:
        recording = open_recording(Path(spec.recording), spec.recording_options)
    except LabellerError as exc:
        return Gallery(
            [GalleryItem(f, None) for f in frames],
            f"the pseudo-frames cannot be redrawn: {exc}",
            origin,
        )
    longest = min(spec.render.max_side or GALLERY_MAX_SIDE, GALLERY_MAX_SIDE)
    options = spec.render.model_copy(update={"max_side": longest})
    items = []
    with recording:
        for done, frame in enumerate(frames):
            if progress is not None:
                progress("Drawing frames", done, len(frames))
            try:
                image = render_window(
                    recording, frame.i_start, frame.i_end, frame.t_end_us, spec.render
                )
                encoded = encode_for_request(image, options)
            except LabellerError as exc:
                items.append(GalleryItem(frame, None, str(exc)))
                continue
            data = base64.b64encode(encoded.data).decode("ascii")
            items.append(GalleryItem(frame, f"data:{encoded.media_type};base64,{data}"))
    if progress is not None:
        progress("Drawing frames", len(frames), len(frames))
    return Gallery(items, None, origin)
