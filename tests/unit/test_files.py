"""Files written for a person: refused early naming the path, replaced whole, in sets together."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from labeller.errors import UserError
from labeller.files import check_output, replace_all, staged, write_atomically


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_bad_paths_are_refused_naming_them(tmp_path: Path) -> None:
    (tmp_path / "dir.csv").mkdir()
    cases = {
        tmp_path / "dir.csv": f"{tmp_path / 'dir.csv'}: is a directory",
        tmp_path / "gone" / "x.csv": f"{tmp_path / 'gone' / 'x.csv'}: folder "
        f"{tmp_path / 'gone'} does not exist",
    }
    for path, message in cases.items():
        with pytest.raises(UserError) as caught:
            check_output(path)
        assert str(caught.value).startswith(message)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_a_read_only_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(UserError, match="cannot write: folder .* is not writable"):
            check_output(folder / "x.csv")
    finally:
        folder.chmod(0o700)


def test_a_relative_path_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    assert check_output(Path("out.png")) == tmp_path / "out.png"


def test_a_file_that_cannot_be_created_fails_before_the_block_runs() -> None:
    ran = []
    # /proc refuses new files whoever runs the test (root included).
    with pytest.raises(UserError, match="^/proc/labeller-x.csv: cannot write: "):
        with staged([Path("/proc/labeller-x.csv")]):
            ran.append(True)
    assert ran == []


def test_write_replaces_the_file_with_the_umask_mode_and_leaves_nothing_else(
    tmp_path: Path,
) -> None:
    path = tmp_path / "out.png"
    path.write_bytes(b"old")
    mask = os.umask(0o027)
    try:
        assert write_atomically(path, b"new bytes") == len(b"new bytes")
    finally:
        os.umask(mask)

    assert path.read_bytes() == b"new bytes"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert names(tmp_path) == ["out.png"]


def test_a_persons_part_file_is_left_alone(tmp_path: Path) -> None:
    """The old export wrote `NAME.part` and deleted it: a file of that name is the person's."""
    (tmp_path / "captions.csv.part").write_text("mine")

    write_atomically(tmp_path / "captions.csv", b"rows")

    assert (tmp_path / "captions.csv.part").read_text() == "mine"
    assert names(tmp_path) == ["captions.csv", "captions.csv.part"]


def test_two_writers_of_one_file_never_share_a_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "captions.csv"
    with staged([target]) as (first,), staged([target]) as (second,):
        assert first != second and first.parent == second.parent == tmp_path
        first.write_text("first")
        second.write_text("second")
    # The inner block renames first, the outer one last: the last rename wins, whole.
    assert target.read_text() == "first"
    assert names(tmp_path) == ["captions.csv"]


def test_a_failure_in_the_block_keeps_the_old_files(tmp_path: Path) -> None:
    target = tmp_path / "captions.csv"
    target.write_text("old")

    with pytest.raises(OSError), staged([target]) as (temp,):
        temp.write_text("half")
        raise OSError("disk full")

    assert target.read_text() == "old"
    assert names(tmp_path) == ["captions.csv"]


@pytest.mark.parametrize("had_old", [True, False])
def test_a_failed_rename_puts_back_the_files_already_renamed(tmp_path: Path, had_old: bool) -> None:
    attempts, captions = tmp_path / "c.attempts.csv", tmp_path / "c.csv"
    if had_old:
        attempts.write_text("old attempts")
    new_attempts, new_captions = tmp_path / "t1", tmp_path / "t2"
    new_attempts.write_text("new attempts")
    new_captions.write_text("new captions")
    captions.mkdir()  # a directory appeared where the captions go: their rename fails

    with pytest.raises(UserError, match=f"^{captions}: cannot write: "):
        replace_all([(new_attempts, attempts), (new_captions, captions)])

    if had_old:
        assert attempts.read_text() == "old attempts"
    else:
        assert not attempts.exists()
    leftovers = [n for n in names(tmp_path) if n.endswith(".old")]
    assert leftovers == []
