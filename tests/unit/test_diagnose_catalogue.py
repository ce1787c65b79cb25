"""The message catalogue (console/core/diagnose/catalogue/*.jsonl): library messages read from the
libraries' source, each with the cause it means. Every row must load, and the line it gives as an
example must be diagnosed as its cause: a row another rule contradicts is wrong or redundant."""

from __future__ import annotations

import pytest

from console.core.diagnose import diagnose_text
from console.core.diagnose.rules import (
    CATALOGUE_DIR,
    all_signatures,
    catalogue_row,
    catalogue_rows,
)
from tests.fresh_python import fresh_python


def _rows() -> list[tuple[str, dict[str, object]]]:
    rows = []
    for where, row in catalogue_rows():
        assert isinstance(row, dict), where
        rows.append((where.removeprefix(f"{CATALOGUE_DIR}/"), row))
    return rows


ROWS = _rows()


def test_the_catalogue_is_there() -> None:
    assert len(ROWS) >= 100, len(ROWS)
    assert len({row["library"] for _, row in ROWS}) >= 6
    # Loaded after the hand-written signatures, each row once.
    needles = [sig.needle for sig in all_signatures()[-len(ROWS):]]
    assert needles == [str(row["needle"]) for _, row in ROWS]


def test_importing_the_diagnosis_reads_no_catalogue() -> None:
    """The app imports the diagnosis at start-up; the catalogue is read on the first log."""
    code = ("import sys; import console.core.diagnose; "
            "from console.core.diagnose import rules; "
            "print(rules.all_signatures.cache_info().currsize)")
    assert fresh_python(code) == "0"


@pytest.mark.parametrize(("where", "row"), ROWS, ids=[w for w, _ in ROWS])
def test_each_example_is_diagnosed_as_its_cause(where: str, row: dict[str, object]) -> None:
    causes = diagnose_text(str(row["example"]))
    assert causes, f"{where}: nothing named for {row['example']!r}"
    assert causes[0].id == row["cause"], (where, [c.id for c in causes[:3]])


@pytest.mark.parametrize("needle_and_pattern", [True, False])
def test_the_needle_alone_does_not_make_a_hit(needle_and_pattern: bool) -> None:
    """A line with the needle but not the message's shape is not that message."""
    row = {"library": "x", "where": "x.py:f", "message": "widget {n} overflowed its frobnicator",
           "needle": "overflowed its frobnicator",
           "pattern": r"widget \d+ overflowed its frobnicator", "cause": "numeric_overflow",
           "confidence": 0.8, "why": "test row",
           "example": "RuntimeError: widget 12 overflowed its frobnicator"}
    sig = catalogue_row(row, "t.jsonl line 1")
    assert sig.pattern is not None
    line = ("widget 12 overflowed its frobnicator" if needle_and_pattern
            else "widget twelve overflowed its frobnicator")
    assert (sig.pattern.search(line) is not None) is needle_and_pattern
    assert sig.needle in line


@pytest.mark.parametrize(("change", "says"), [
    ({"cause": "gremlins"}, "'cause' 'gremlins' is not a cause id"),
    ({"needle": "Out Of Range"}, "'needle' must be a lower-case string"),
    ({"needle": "short"}, "'needle' must be a lower-case string of at least"),
    ({"confidence": 1.5}, "'confidence' must be a number from 0.3 to 0.9"),
    ({"pattern": "unclosed (group"}, "'pattern' is not a valid regular expression"),
    ({"example": "something else entirely"}, "'example' must contain the needle"),
    ({"pattern": r"index \d+ is out of range here"}, "'pattern' does not match"),
    ({"why": None, "drop": "why"}, "missing key 'why'"),
])
def test_a_bad_row_names_its_file_line_and_key(change: dict[str, object], says: str) -> None:
    row: dict[str, object] = {
        "library": "x", "where": "x.py:f", "message": "index {i} is out of range",
        "needle": "is out of range", "pattern": r"index \d+ is out of range",
        "cause": "size_mismatch", "confidence": 0.7, "why": "test row",
        "example": "IndexError: index 7 is out of range"}
    row.update(change)
    if "drop" in change:
        del row[str(change["drop"])]
        del row["drop"]
    with pytest.raises(ValueError) as err:
        catalogue_row(row, "catalogue/x.jsonl line 3")
    assert str(err.value).startswith("catalogue/x.jsonl line 3: ")
    assert says in str(err.value)
