"""Event recordings on disk: open, validate, look up times and read event ranges.

Formats live in `formats/`, one module each; this iteration reads the DSEC layout.
"""

from __future__ import annotations

from labeller.recordings._events import Events
from labeller.recordings.recording import Recording, open_recording
from labeller.recordings.sample import SampleInfo, write_sample

__all__ = ["Events", "Recording", "SampleInfo", "open_recording", "write_sample"]
