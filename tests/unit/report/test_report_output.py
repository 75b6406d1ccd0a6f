"""Where a report may be written, and that it is written whole."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from labeller.errors import UserError
from labeller.report import check_output, write_atomically


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("report.pdf", "a report is an HTML file; name it *.html"),
        ("report", "a report is an HTML file; name it *.html"),
        ("missing/report.html", "does not exist"),
        ("folder.html", "is a directory"),
    ],
)
def test_bad_outputs_are_refused_naming_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, message: str
) -> None:
    (tmp_path / "folder.html").mkdir()
    monkeypatch.chdir(tmp_path)

    with pytest.raises(UserError, match=re.escape(message)) as caught:
        check_output(Path(name))

    assert name.split("/")[0] in str(caught.value)


def test_a_good_output_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    assert check_output(Path("Report.HTML")) == tmp_path / "Report.HTML"


def test_writing_replaces_the_old_report_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text("old")

    size = write_atomically(path, "<p>new é</p>")

    assert path.read_text() == "<p>new é</p>"
    assert size == len("<p>new é</p>".encode())
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_a_failed_write_is_a_user_error_and_leaves_what_was_there(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.mkdir()
    (path / "kept").write_text("old")

    with pytest.raises(UserError, match=f"{path}: is a directory"):
        write_atomically(path, "x")

    assert (path / "kept").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_a_missing_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=f"folder {tmp_path / 'gone'} does not exist"):
        write_atomically(tmp_path / "gone" / "report.html", "x")
