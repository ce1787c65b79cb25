"""Wrapped lines keep their indentation (console/core/wrap.py)."""

from __future__ import annotations

from console.core.wrap import continuation_indent, wrap_keeping_indent, wrap_ranges

FRAME = '  File "/srv/a/very/long/path/to/the/engine/module.py", line 40, in load_the_model'


def test_a_line_that_fits_is_one_range() -> None:
    assert wrap_ranges("short", 20) == [(0, 5)]
    assert wrap_keeping_indent("a\n  b", 20) == "a\n  b"


def test_rows_break_at_spaces_and_keep_the_words() -> None:
    ranges = wrap_ranges(FRAME, 30)
    rows = [FRAME[a:b] for a, b in ranges]
    assert len(rows) > 2
    assert rows[0] == "  File"  # the path is longer than a row: it starts on the next
    assert all(not row.startswith(" ") for row in rows[1:])  # the break's spaces are dropped
    assert "".join(rows).replace(" ", "") == FRAME.replace(" ", "")
    indent = continuation_indent(FRAME, 30)
    assert indent == 4  # two for the frame, two more for its continuation
    assert all(len(row) <= 30 - indent for row in rows[1:])


def test_the_first_row_can_be_narrower() -> None:
    ranges = wrap_ranges("aaaa bbbb cccc dddd", 12, first_width=5)
    assert [("aaaa bbbb cccc dddd")[a:b] for a, b in ranges] == ["aaaa", "bbbb cccc", "dddd"]


def test_a_word_longer_than_the_room_is_cut() -> None:
    word = "x" * 50
    ranges = wrap_ranges(word, 20)
    assert [b - a for a, b in ranges] == [20, 18, 12]  # continuation rows have 20 - 2 cells


def test_plain_text_rows_start_under_their_line() -> None:
    text = "fixes:\n  • download the file again and compare its size and sha256 with the hub's"
    rows = wrap_keeping_indent(text, 30).split("\n")
    assert rows[0] == "fixes:" and rows[1].startswith("  • download")
    assert all(row.startswith("    ") and not row.startswith("     ") for row in rows[2:])
    assert all(len(row) <= 30 for row in rows)


def test_deep_indentation_leaves_room_for_words() -> None:
    line = " " * 30 + "word " * 10
    assert continuation_indent(line, 40) == 20  # at most half the width
    assert all(b > a for a, b in wrap_ranges(line, 40))


def test_too_narrow_is_left_alone() -> None:
    assert wrap_ranges("a b c d e f g h i j", 4) == [(0, 19)]
    assert wrap_keeping_indent("a b c d e f g h i j", 4) == "a b c d e f g h i j"
