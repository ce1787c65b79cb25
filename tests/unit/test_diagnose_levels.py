"""The one line classifier (console.core.diagnose.levels): the parser's role, then the words."""

from __future__ import annotations

from console.core.diagnose import levels as levels_module
from console.core.diagnose.levels import (
    DEBUG,
    ERROR,
    INFO,
    WARNING,
    level_value,
    line_level,
    text_level,
)
from console.core.diagnose.parser import LogParser
from tests.paths import LOG_FIXTURES


def levels(lines: list[str]) -> list[int]:
    parser = LogParser()
    return [line_level(parser.feed(line)[0], line) for line in lines]


def test_a_whole_traceback_is_an_error_and_the_log_after_it_is_not() -> None:
    lines = [
        "loading the model",
        "Traceback (most recent call last):",
        '  File "/x/run.py", line 3, in <module>',
        "    model = load(path)",  # code: no error word in it, still part of the traceback
        "    ^^^^^^^^^^^^^^^^^^",
        "ValueError: bad shard",
        "",
        "",
        "2024-05-01 10:00:00 INFO retrying",
    ]
    assert levels(lines) == [INFO, ERROR, ERROR, ERROR, ERROR, ERROR, INFO, INFO, INFO]


def test_a_chained_traceback_stays_an_error_through_the_chain_line() -> None:
    lines = [
        "Traceback (most recent call last):",
        '  File "a.py", line 1, in f',
        "KeyError: 'x'",
        "",
        "During handling of the above exception, another exception occurred:",
        "",
        "Traceback (most recent call last):",
        '  File "a.py", line 2, in g',
        "    run()",
        "RuntimeError: boom",
    ]
    got = levels(lines)
    assert [lv for line, lv in zip(lines, got, strict=True) if line] == [ERROR] * 8


def test_a_frame_without_its_header_reads_as_an_error() -> None:
    """The head of a traceback scrolled away: the frame's role still says error."""
    assert levels(['  File "/x/modeling_utils.py", line 5120, in from_pretrained']) == [ERROR]


def test_loose_lines_read_by_their_words() -> None:
    assert levels([
        "/x/modeling_utils.py:123: FutureWarning: `torch_dtype` is deprecated",
        "W0101 12:00:00 worker.py] slow",
        "2024-05-01 10:00:00 DEBUG urllib3 connection",
        "INFO: 0 errors found, ValueError: none",
        "Killed",
        "Loading weights: 100%|##########| 21/21",
    ]) == [WARNING, WARNING, DEBUG, INFO, ERROR, INFO]


def test_level_names() -> None:
    assert [level_value(n) for n in ("warn", "WARNING", "critical", None, "bogus", 40)] == [
        WARNING, WARNING, ERROR, INFO, INFO, ERROR]


def reference_level(text: str) -> int:
    """The rule stated plainly: each level's earliest match; the earliest wins, then the highest."""
    best: tuple[int, int] | None = None
    for level, pattern in levels_module._LEVEL_PATTERNS:
        m = pattern.search(text)
        if m is not None and (best is None or (m.start(), -level) < best):
            best = (m.start(), -level)
    return INFO if best is None else -best[1]


def test_the_one_scan_agrees_with_the_rule_on_every_fixture_log() -> None:
    lines = ["KeyboardInterrupt", "SystemExit: 2", "x ValueError", "WARN then Exception:",
             "a UserWarning b", "warning: x", "INFO: 0 errors found, ValueError: none"]
    for path in sorted(LOG_FIXTURES.rglob("*.log")):
        lines += path.read_text(encoding="utf-8", errors="replace").split("\n")
    assert len(lines) > 1000
    assert [text_level(ln) for ln in lines] == [reference_level(ln) for ln in lines]
