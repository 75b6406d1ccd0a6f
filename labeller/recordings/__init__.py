"""Event recordings on disk: open, scan, validate, look up times and read event ranges.

Layouts live in `formats/`, one module each (DSEC, Prophesee, MVSEC, E2VID, M3ED, generic);
`open_recording` detects them from the file's own structure or takes the one the settings name.
"""

from __future__ import annotations

from labeller.recordings._events import Events
from labeller.recordings.info import RecordingInfo, inspect_recording
from labeller.recordings.recording import Recording, open_recording
from labeller.recordings.sample import SampleInfo, write_sample
from labeller.recordings.scan import ScanReport, scan_recording, validate_recording

__all__ = [
    "Events",
    "Recording",
    "RecordingInfo",
    "SampleInfo",
    "ScanReport",
    "inspect_recording",
    "open_recording",
    "scan_recording",
    "validate_recording",
    "write_sample",
]
