"""Where the report goes: an HTML file, checked before any work, written whole or not at all
(through `labeller.files`, as exports and `show --image` are)."""

from __future__ import annotations

from pathlib import Path

from labeller import files
from labeller.errors import UserError

__all__ = ["check_output", "write_atomically"]

#: The report is HTML; other names are a slip (`-o report.pdf`) better caught at once.
SUFFIXES = (".html", ".htm")


def check_output(path: Path) -> Path:
    """`path`, made absolute, once it can be written; UserError naming it otherwise."""
    if path.suffix.lower() not in SUFFIXES:
        raise UserError(f"{path}: a report is an HTML file; name it *.html")
    return files.check_output(path)


def write_atomically(path: Path, text: str) -> int:
    """Write `text` (UTF-8) over `path` at once: a reader never sees half a report, and a
    failed write leaves the old one. Returns the bytes written."""
    return files.write_atomically(path, text.encode("utf-8"))
