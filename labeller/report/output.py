"""Where the report goes: checked before any work, written whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from labeller.errors import UserError

__all__ = ["check_output", "write_atomically"]

#: The report is HTML; other names are a slip (`-o report.pdf`) better caught at once.
SUFFIXES = (".html", ".htm")


def check_output(path: Path) -> Path:
    """`path`, made absolute, once it can be written; UserError naming it otherwise."""
    if path.suffix.lower() not in SUFFIXES:
        raise UserError(f"{path}: a report is an HTML file; name it *.html")
    path = path.expanduser().absolute()
    if path.is_dir():
        raise UserError(
            f"{path}: is a directory; name the report file, e.g. {path / 'report.html'}"
        )
    folder = path.parent
    if not folder.is_dir():
        raise UserError(f"{path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{path}: folder {folder} is not writable")
    return path


def write_atomically(path: Path, text: str) -> int:
    """Write `text` (UTF-8) beside `path`, then rename it over: a reader never sees half a
    report, and a failed write leaves the old one. Returns the bytes written."""
    data = text.encode("utf-8")
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise UserError(f"{path}: cannot write the report: {exc.strerror or exc}") from exc
    return len(data)
