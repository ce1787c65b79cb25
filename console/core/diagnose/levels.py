"""One classifier for log lines: the level (DEBUG / INFO / WARNING / ERROR) a line reads as.

The parser (`console.core.diagnose.parser.LogParser`) gives each line its role in the log
(traceback header, frame, code, exception, chain, warning, loose); `line_level` turns that role
into a level, and reads the words of the lines the parser leaves loose (a logging prefix, glog's
`E0101`, "Killed", "Segmentation fault"). The log pane colours and filters by it; the diagnosis
reads the same roles. Pure: no textual, no torch.
"""

from __future__ import annotations

import re

from console.core.diagnose import parser
from console.core.diagnose.parser import LogLine

DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40  # logging's numbers
LEVEL_NAMES = {DEBUG: "DEBUG", INFO: "INFO", WARNING: "WARNING", ERROR: "ERROR"}
LEVEL_BY_NAME = {"debug": DEBUG, "info": INFO, "warning": WARNING, "warn": WARNING,
                 "error": ERROR, "critical": ERROR, "fatal": ERROR}

# Each pattern's earliest match decides (a logging prefix comes before the message it carries).
_LEVEL_PATTERNS: tuple[tuple[int, re.Pattern[str]], ...] = (
    (ERROR, re.compile(
        r"Traceback \(most recent call last\)|\b(?:ERROR|CRITICAL|FATAL|FAILED)\b"
        r"|\b\w*(?:Error|Exception)\b(?=:|\s*$)|\b\w+(?:Interrupt|Exit)\b(?=:|\s*$)"
        r"|\bKilled\b|Segmentation fault|core dumped|^E\d{4} |(?i:\b(?:error|fatal):)"
        r"|During handling of the above exception|The above exception was the direct cause")),
    (WARNING, re.compile(r"\b(?:WARNING|WARN)\b|\b\w*Warning\b|^W\d{4} |(?i:\bwarning:)")),
    (DEBUG, re.compile(r"\bDEBUG\b|^D\d{4} ")),
    (INFO, re.compile(r"\bINFO\b|^I\d{4} ")),
)

# Roles that are part of a Python traceback: the whole block reads as an error. An exception's
# continuation lines (MESSAGE) keep their own words: a log that goes on after an error is not
# all red.
_ERROR_ROLES = frozenset({parser.HEADER, parser.FRAME, parser.CODE, parser.EXCEPTION, parser.CHAIN})


# One scan: the leftmost match decides, and at one position the alternatives are tried from
# ERROR down, so the result is the earliest match of any level, the highest level on a tie.
_ANY_LEVEL = re.compile("|".join(f"(?P<L{level}>{pattern.pattern})"
                                 for level, pattern in _LEVEL_PATTERNS))
# The same without the costly "a word ending in Error/Exception/Interrupt/Exit/Warning"
# alternatives, for the many lines that contain none of those words (a substring test decides).
_WORD_SUFFIXES = ("Error", "Exception", "Interrupt", "Exit", "Warning")
_COSTLY = (r"|\b\w*(?:Error|Exception)\b(?=:|\s*$)|\b\w+(?:Interrupt|Exit)\b(?=:|\s*$)",
           r"|\b\w*Warning\b")
_cheap = _ANY_LEVEL.pattern
for _part in _COSTLY:
    assert _part in _cheap, _part
    _cheap = _cheap.replace(_part, "")
_ANY_LEVEL_CHEAP = re.compile(_cheap)


# Every pattern above treats the ten digits alike: a line's level is its shape's (digits read as
# 0), and a long log repeats its shapes with other numbers.
_LEVEL_SHAPES = parser.shape_memory()


def text_level(text: str) -> int:
    """The level a line's words say (INFO when nothing says otherwise), without context."""
    shape = parser.digit_shape(text)
    level: int | None = _LEVEL_SHAPES.get(shape)
    if level is None:
        level = _words_level(text)
        parser.remember(_LEVEL_SHAPES, shape, level)
    return level


def _words_level(text: str) -> int:
    pattern = (_ANY_LEVEL if any(w in text for w in _WORD_SUFFIXES) else _ANY_LEVEL_CHEAP)
    m = pattern.search(text)
    if m is None or m.lastgroup is None:
        return INFO
    return int(m.lastgroup[1:])


def line_level(line: LogLine, text: str) -> int:
    """The level of a parsed line: its traceback role first, else the words of `text` (the line
    as printed, prefixes included)."""
    if line.role in _ERROR_ROLES:
        return ERROR
    level = text_level(text)
    if line.role == parser.WARNING and level < WARNING:
        return WARNING
    return level


def level_value(level: str | int | None, default: int = INFO) -> int:
    """A level given by name ("warning", "warn", "error"...) or number, as its number."""
    if level is None:
        return default
    if isinstance(level, int):
        return level
    return LEVEL_BY_NAME.get(level.lower(), default)
