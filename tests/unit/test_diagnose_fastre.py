"""Regexes behind a lookahead of their first characters (console.core.diagnose.fastre.py)."""

from __future__ import annotations

import re

import pytest

from console.core.diagnose import evidence, lexical
from console.core.diagnose.fastre import compile_fast, first_chars, required_words
from tests.fixtures.corpus.corpus import corpus_cases
from tests.fixtures.logs.corpus import fixture_cases


@pytest.mark.parametrize("pattern, chars", [
    (r"\bnccl\b|process[ _]group", "[np]"),
    (r"(?:error|errors|exception)\b", "[ee]"),  # both alternatives start with "e"
    (r"\b[48]-?bit\b|\bint[48]\b", "[48i]"),
    (r"x?y", "[xy]"),  # an optional first item: the next one may start the match
    (r"(?<!\w)a|(?=b)bc|^c", "[abc]"),  # zero-width items are skipped
    (r"[a-c0-9_]+z", "[a-c0-9_]"),
    (r"\d+\.\d+", r"[\d]"),
    (r"[\]^-]x", r"[\]\^\-]"),  # characters special inside a class are escaped
])
def test_the_first_characters_are_read_from_the_parse_tree(pattern: str, chars: str) -> None:
    got = first_chars(pattern)
    assert got is not None
    # The class as written may repeat a character; compare what it accepts.
    accepts = {ch for ch in map(chr, range(128)) if re.fullmatch(got, ch)}
    assert accepts == {ch for ch in map(chr, range(128)) if re.fullmatch(chars, ch)}


@pytest.mark.parametrize("pattern", [
    r".{0,3}x",  # any character
    r"[^a]x",  # a negated class
    r"a?",  # may match empty: anywhere, even at the end
    r"\bword\b|",  # an empty alternative
    r"(a)\1",  # a back-reference is fine, but "(?i:a)" changes flags inside: not read
    r"(?i:a)b",
])
def test_patterns_whose_first_characters_cannot_be_read_are_compiled_as_they_are(
        pattern: str) -> None:
    if pattern == r"(a)\1":
        assert first_chars(pattern) == "[a]"
        return
    assert first_chars(pattern) is None
    assert compile_fast(pattern).regex.pattern == pattern


def test_inline_global_flags_are_left_alone() -> None:
    assert compile_fast(r"(?i)\bnccl\b").regex.pattern == r"(?i)\bnccl\b"
    # ... but a named group at the start is no flag
    assert compile_fast(r"(?P<x>\bnccl)").regex.pattern.startswith("(?=[n])")
    fast = compile_fast(r"\bnccl\b", re.IGNORECASE)
    assert fast.search("an NCCL error") is not None


@pytest.mark.parametrize("pattern, words", [
    (r"\bnccl\b|process[ _]group", ("nccl", "process")),
    (r"kv[ _-]?cache|max[_-]model[_-]len", ("cache", "model")),  # the longest run of each
    (r"torch\.size\(", ("torch.size(",)),
    (r"a\bcd", ("acd",)),  # zero-width items join the literals around them
    (r"(?:ab|cd)ef", ("ef",)),  # a run beats a group of shorter words
    (r"(?:abc|cde)f", ("abc", "cde")),
    (r"(?:abc)+x", ("abc",)),  # repeated at least once
    (r"q(?:abc)?x", None),  # optional: no word of two characters is certain
    (r"ab|.x", None),  # an alternative without a word
    (r"nccl", ("nccl",)),
])
def test_required_words_are_read_from_the_parse_tree(
        pattern: str, words: tuple[str, ...] | None) -> None:
    assert required_words(pattern) == words


def test_a_pattern_that_ignores_case_has_no_words() -> None:
    assert required_words(r"nccl", re.IGNORECASE) is None
    assert required_words(r"(?i)nccl") is None
    fast = compile_fast(r"(?i)nccl")
    assert fast.words is None and fast.search("NCCL error") is not None


def _lines() -> list[str]:
    texts = [c.text for c in fixture_cases()] + [c.text for c in corpus_cases("tune")]
    return [line.lower() for text in texts for line in text.split("\n") if line.strip()]


def test_the_diagnosis_patterns_find_the_same_matches_behind_the_lookahead() -> None:
    # Every pattern the diagnosis compiles this way, over real log lines: the same first match
    # (or none) as the pattern compiled plainly.
    patterns = [p for p, _ in evidence._WORD_CLUES]
    patterns += [evidence._ERROR_WORDS, evidence._VERSION_LINE, evidence._FAILURE_MARK,
                 lexical._ERRORISH]
    lines = _lines()
    assert len(lines) > 10000, len(lines)
    for fast in patterns:
        plain = re.compile(fast.pattern, fast.flags)
        for line in lines:
            a, b = plain.search(line), fast.search(line)
            assert (a and (a.start(), a.group(0))) == (b and (b.start(), b.group(0))), (
                plain.pattern, line)
    # ... and every one of them was given its lookahead, all but the one that ignores case
    # their words.
    assert all(p.regex.pattern.startswith("(?=") for p in patterns)
    assert [p.pattern for p in patterns if p.words is None] == [evidence._VERSION_LINE.pattern]


def test_the_word_family_index_tries_every_family_that_can_match() -> None:
    # evidence._word_matches tries only the families whose words one trie pass found in the
    # line: the same (family, match) pairs as trying every family's plain pattern.
    def every_family(text: str) -> tuple[tuple[int, str], ...]:
        lower = text.lower()
        cjk = evidence._HAS_CJK.search(lower) is not None
        families = evidence._WORD_CLUES if cjk else evidence._WORD_CLUES[
            :evidence._CJK_FAMILIES_FROM]
        return tuple((i, m.group(0)) for i, (fast, _) in enumerate(families)
                     if (m := re.compile(fast.pattern, fast.flags).search(lower)) is not None)

    # Words inside a longer word at one position ("shm" in "/dev/shm"), words that overlap
    # ("shared memory" and "memory"), one that starts inside another's match ("tokeni" in
    # "orbitokenizer", after "bit"), Chinese.
    crafted = ["mounted /dev/shm and shared memory ran out", "OOMKilled: out of memory",
               "cannot open orbitokenizer.json",
               "the shmem segment", "int4 gptq model in bfloat16 nan", "显存不足 killed",
               "tokenizers: chat_template missing"]
    for line in crafted + _lines():
        assert evidence._word_matches.__wrapped__(line) == every_family(line), line
