"""Files written for a person (report, export, `show --image`): checked first, written whole.

Every such file is written under a unique hidden name in its target's folder
(`.NAME.XXXXXXXX.tmp`, from `tempfile.mkstemp`) and renamed over the target once complete. So
a reader never sees half a file, a failed write leaves the old file as it was, two writers of
one target never share a temporary file, and no file of the person's (`NAME.part`) is ever
touched. Files that belong together (captions and their attempts) are renamed in the order
given; if a rename fails, the ones already renamed are put back from hard links of the old
files (`replace_all`), so the set changes together or not at all.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from labeller.errors import UserError

__all__ = ["check_output", "replace_all", "staged", "write_atomically"]


def check_output(path: Path) -> Path:
    """`path`, made absolute, once a file can be written there; UserError naming it otherwise.

    Called before any work, so a typo in a folder name fails at once rather than after an
    hour of export or a frame's rendering.
    """
    path = path.expanduser().absolute()
    if path.is_dir():
        raise UserError(f"{path}: is a directory; name a file to write")
    folder = path.parent
    if not folder.is_dir():
        raise UserError(f"{path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{path}: cannot write: folder {folder} is not writable")
    return path


def write_atomically(path: Path, data: bytes) -> int:
    """Write `data` to `path` as a whole or not at all; returns the bytes written."""
    with staged([path]) as (temp,):
        try:
            temp.write_bytes(data)
        except OSError as exc:
            raise UserError(f"{path}: cannot write: {exc.strerror or exc}") from exc
    return len(data)


@contextmanager
def staged(targets: Sequence[Path]) -> Iterator[list[Path]]:
    """Temporary files for `targets`, created now (a path that cannot be written fails before
    any work), renamed over them in order (`replace_all`) when the block ends normally, and
    removed whatever happens. Raises UserError naming the target that cannot be written.
    """
    temps: list[Path] = []
    try:
        for target in targets:
            temps.append(_temp_beside(check_output(target)))
        yield temps
        replace_all(list(zip(temps, targets, strict=True)))
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)


def replace_all(pairs: Sequence[tuple[Path, Path]]) -> None:
    """Rename each `(temp, target)` in order; if one fails, put back the targets already
    replaced (the old file from a hard link, or none if there was none) and raise UserError.

    Without hard links (some network or FAT file systems) the old files cannot be kept, and a
    failure between two renames leaves the first one new.
    """
    replaced: list[tuple[Path, Path | None]] = []
    kept: list[Path] = []
    try:
        for temp, target in pairs:
            existed = target.exists()
            old = _keep(target) if existed else None
            if old is not None:
                kept.append(old)
            try:
                os.replace(temp, target)
            except OSError as exc:
                _put_back(replaced)
                raise UserError(f"{target}: cannot write: {exc.strerror or exc}") from exc
            if old is not None or not existed:
                replaced.append((target, old))
    finally:
        for old in kept:
            old.unlink(missing_ok=True)


def _temp_beside(target: Path) -> Path:
    """An empty file of ours beside `target`, readable as a new file would be (umask)."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise UserError(f"{target}: cannot write: {exc.strerror or exc}") from exc
    try:
        os.fchmod(fd, 0o666 & ~_umask())
    finally:
        os.close(fd)
    return Path(name)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _keep(target: Path) -> Path | None:
    """A hard link to the file at `target` under a hidden name; None if the file system (or
    the kind of file) allows none."""
    old = target.with_name(f".{target.name}.{secrets.token_hex(4)}.old")
    try:
        os.link(target, old)
    except OSError:
        return None
    return old


def _put_back(replaced: list[tuple[Path, Path | None]]) -> None:
    """Undo renames, newest first: the old file back, or the new one removed if none was.

    Best effort: the rename that failed is what the caller reports; a second failure here
    leaves that target new, which the docstring of `replace_all` allows for.
    """
    for target, old in reversed(replaced):
        try:
            if old is None:
                target.unlink(missing_ok=True)
            else:
                os.replace(old, target)
        except OSError:
            continue
