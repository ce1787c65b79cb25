"""A path typed into a dialog: a regular file, or one line saying what is wrong."""

from __future__ import annotations

from pathlib import Path

from console.host.paths import typed_file


def test_a_regular_file_is_taken(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text("x\n")
    assert typed_file(f"  {log}  ") == (log, None)
    assert typed_file("") == (None, None)


def test_what_is_wrong_is_one_terminal_safe_line(tmp_path: Path) -> None:
    path, problem = typed_file(str(tmp_path / "no[bold]such\x1b[2Jfile\nx"))
    assert path is None and problem is not None
    assert problem.endswith(": no such file")
    assert "\x1b" not in problem and "\n" not in problem  # shown visibly, never emitted
    assert "[bold]" in problem  # the caller shows it as text, not markup
    assert typed_file(str(tmp_path)) == (None, f"{tmp_path}: not a regular file")
