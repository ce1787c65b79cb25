r"""Regexes that skip, at once, the positions where no match can start.

`re` tries a pattern at every position of a line. When the pattern starts with a literal or a
character class, it first checks that character and moves on; when it starts with `\b`, a
lookbehind or an alternation of such, it enters the full pattern everywhere, several times
slower. Error-line word families ("\bnccl\b|process group|\brank\b|...") are of that kind,
and the diagnosis of a long log runs dozens of them on every error line.

`compile_fast(pattern)` compiles the same pattern behind a lookahead of the characters any match
can start with (`(?=[nprb...])`), read from the pattern's parse tree: the same matches, found
sooner. Where that set cannot be read (a match may start with any character, or be empty), the
pattern is compiled as it is.

A pattern may also carry words: literal strings one of which is in every match ("nccl",
"process", "rank", ...), read from the same tree. `FastPattern.search` looks for them first
(`str.__contains__`, far cheaper than entering the regex) and runs the regex only on a line
that holds one.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from typing import Any

try:  # Python 3.11+; the same parser was `sre_parse` before
    _PARSER: Any = importlib.import_module("re._parser")
except ImportError:  # pragma: no cover - Python 3.10
    _PARSER = importlib.import_module("sre_parse")

# Flags for the whole pattern written at its start ("(?i)", "(?ms)"): a lookahead put before
# them would make them no longer the first thing in the pattern.
_GLOBAL_FLAGS = re.compile(r"\(\?[aiLmsux]+\)")

_CATEGORIES = {
    "CATEGORY_DIGIT": r"\d", "CATEGORY_NOT_DIGIT": r"\D",
    "CATEGORY_SPACE": r"\s", "CATEGORY_NOT_SPACE": r"\S",
    "CATEGORY_WORD": r"\w", "CATEGORY_NOT_WORD": r"\W",
}
# Zero-width items: they constrain where a match starts, never which character it starts with.
_ZERO_WIDTH = ("AT", "ASSERT", "ASSERT_NOT")


class _Unknown(Exception):
    """The first characters cannot be read (any character may start a match)."""


def _char(code: int) -> str:
    ch = chr(code)
    return "\\" + ch if ch in "\\]^-[" else ch


def _class_items(items: list[tuple[Any, Any]]) -> list[str]:
    out: list[str] = []
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            out.append(_char(arg))
        elif name == "RANGE":
            out.append(f"{_char(arg[0])}-{_char(arg[1])}")
        elif name == "CATEGORY" and str(arg) in _CATEGORIES:
            out.append(_CATEGORIES[str(arg)])
        else:  # NEGATE, or a category with no class spelling
            raise _Unknown
    return out


def _first(items: Any) -> tuple[list[str], bool]:
    """(class items a match of this sequence can start with, whether it can match empty)."""
    found: list[str] = []
    for op, arg in items:
        name = str(op)
        if name in _ZERO_WIDTH:
            continue
        if name == "LITERAL":
            return [*found, _char(arg)], False
        if name == "IN":
            return [*found, *_class_items(arg)], False
        if name == "SUBPATTERN":
            _group, add_flags, del_flags, sub = arg
            if add_flags or del_flags:
                raise _Unknown
            chars, empty = _first(sub)
        elif name == "ATOMIC_GROUP":
            chars, empty = _first(arg)
        elif name == "BRANCH":
            chars, empty = [], False
            for alternative in arg[1]:
                alt_chars, alt_empty = _first(alternative)
                chars.extend(alt_chars)
                empty = empty or alt_empty
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _high, sub = arg
            chars, empty = _first(sub)
            empty = empty or low == 0
        else:  # ANY, NOT_LITERAL, GROUPREF, ...: any character
            raise _Unknown
        found.extend(chars)
        if not empty:
            return found, False
    return found, True


def _parse(pattern: str, flags: int) -> Any:
    """The pattern's parse tree; None when `re` cannot parse it."""
    try:
        return _PARSER.parse(pattern, flags)
    except (ValueError, TypeError, re.error):
        return None


def _first_class(parsed: Any) -> str | None:
    try:
        chars, empty = _first(parsed)
    except (_Unknown, ValueError, TypeError, AttributeError):
        return None
    if empty or not chars:
        return None
    return "[" + "".join(dict.fromkeys(chars)) + "]"


def first_chars(pattern: str, flags: int = 0) -> str | None:
    """A character class (as regex text) that holds the first character of every match of
    `pattern`; None when no such class can be read."""
    parsed = _parse(pattern, flags)
    return None if parsed is None else _first_class(parsed)


_MIN_WORD = 2  # shorter literals prefilter nothing


def _words(items: Any) -> list[str] | None:
    """Literal strings one of which is in every match of this sequence; None when none can be
    read. Of the sequence's runs of literals and its groups' word lists, the list whose
    shortest word is longest (then the shorter list)."""
    best: list[str] | None = None

    def offer(words: list[str] | None) -> None:
        nonlocal best
        if not words or min(map(len, words)) < _MIN_WORD:
            return
        if best is None or (min(map(len, words)), -len(words)) > (min(map(len, best)),
                                                                    -len(best)):
            best = words

    run: list[str] = []
    for op, arg in items:
        name = str(op)
        if name in _ZERO_WIDTH:
            continue  # consumes nothing: the literals on either side are adjacent in the text
        if name == "LITERAL":
            run.append(chr(arg))
            continue
        offer(["".join(run)] if run else None)
        run = []
        if name == "SUBPATTERN":
            _group, add_flags, del_flags, sub = arg
            if not add_flags and not del_flags:
                offer(_words(sub))
        elif name == "BRANCH":
            alternatives = [_words(alternative) for alternative in arg[1]]
            if all(words is not None for words in alternatives):
                offer([w for words in alternatives if words is not None for w in words])
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and arg[0] >= 1:
            offer(_words(arg[2]))
    offer(["".join(run)] if run else None)
    return best


def _required(parsed: Any, flags: int) -> tuple[str, ...] | None:
    if flags & re.IGNORECASE or parsed.state.flags & re.IGNORECASE:
        return None
    try:
        words = _words(parsed)
    except (ValueError, TypeError, AttributeError):
        return None
    return tuple(dict.fromkeys(words)) if words else None


def required_words(pattern: str, flags: int = 0) -> tuple[str, ...] | None:
    """Literal strings one of which is in every match of `pattern` (case as written); None
    when they cannot be read, or the pattern ignores case."""
    parsed = _parse(pattern, flags)
    return None if parsed is None else _required(parsed, flags)


class FastPattern:
    """A compiled pattern behind its first characters (and its words, when it has them); the
    same `search` as `re.compile(pattern, flags)`."""

    __slots__ = ("flags", "pattern", "regex", "words")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self.flags = flags
        parsed = _parse(pattern, flags)  # read once, for both
        self.words = None if parsed is None else _required(parsed, flags)
        chars = (None if parsed is None or _GLOBAL_FLAGS.match(pattern)
                 else _first_class(parsed))
        self.regex = re.compile(f"(?={chars})(?:{pattern})" if chars else pattern, flags)

    def search(self, text: str) -> re.Match[str] | None:
        words = self.words
        if words is not None:
            for word in words:  # a loop, not any(): no generator for each of many calls
                if word in text:
                    break
            else:
                return None
        return self.regex.search(text)


def compile_fast(pattern: str, flags: int = 0) -> FastPattern:
    """`re.compile(pattern, flags)` for `search`, sooner where the pattern allows."""
    return FastPattern(pattern, flags)


def trie_pattern(words: Iterable[str]) -> str:
    """One regex for a set of literal words, as a trie: one branch per character, and at one
    position the longest word that starts there."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        alternatives = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not alternatives:
            return ""
        optional = "" in node
        if len(alternatives) == 1 and not optional:
            return alternatives[0]
        body = "(?:" + "|".join(alternatives) + ")"
        return body + "?" if optional else body

    return build(trie)
