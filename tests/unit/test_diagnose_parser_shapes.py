"""The parser keeps, per line shape (digits read as 0), what a line's prefix says and the role
of a line that opens nothing. These tests hold it to the reading of every line on its own."""

from __future__ import annotations

import random

from console.core.diagnose import levels, parser
from console.core.diagnose.parser import (
    EXCEPTION,
    LOOSE,
    WARNING,
    LogLine,
    LogParser,
    ParsedLog,
    digit_shape,
    parse_lines,
    split_lines,
)
from tests.fixtures.corpus.corpus import corpus_cases
from tests.fixtures.logs.corpus import fixture_cases


def _line_by_line(raw_lines: list[str]) -> ParsedLog:
    """parse_lines with nothing remembered between lines: each line read on its own."""
    reader = LogParser()
    blocks: list[parser.ErrorBlock] = []
    lines: list[LogLine] = []
    for raw in raw_lines:
        parser.forget_shapes()
        lines.append(reader._feed(raw, blocks))
    blocks.extend(reader.close())
    blocks.sort(key=lambda b: b.first_line)
    return ParsedLog(tuple(lines), tuple(blocks))


def test_digit_shape_reads_ascii_digits_as_zero_and_nothing_else() -> None:
    assert digit_shape("rank7 step 1234: ٣ ok") == "rank0 step 0000: ٣ ok".encode()
    assert digit_shape("显存 12 GiB") == "显存 00 GiB".encode()
    assert digit_shape("\udcff 9") == "\udcff 0".encode("utf-8", "surrogatepass")


def test_lines_of_one_shape_keep_their_own_source_and_numbers() -> None:
    raw = [f"[rank{r}]: step {r} loss 0.{r}" for r in range(1, 8)]
    raw += [f"[rank{r}]:ValueError: shard {r} failed" for r in (3, 5)]
    raw += [f"2025-01-0{d} 10:00:0{d} WARNING foo.py:{d}: UserWarning: slow {d}" for d in (1, 2)]
    parsed = parse_lines(raw)
    assert [line.source for line in parsed.lines[:7]] == [f"rank{r}" for r in range(1, 8)]
    assert [line.text for line in parsed.lines[:7]] == [f"step {r} loss 0.{r}" for r in range(1, 8)]
    assert [line.role for line in parsed.lines[:7]] == [LOOSE] * 7
    # The same shape as an exception line opens a block each time, in its own rank.
    assert [line.role for line in parsed.lines[7:9]] == [EXCEPTION, EXCEPTION]
    assert [(b.source, b.surface.message if b.surface else None) for b in parsed.blocks] == [
        ("rank3", "shard 3 failed"), ("rank5", "shard 5 failed")]
    assert [line.role for line in parsed.lines[9:]] == [WARNING, WARNING]
    assert all(line.warn for line in parsed.lines[9:])
    assert parsed == _line_by_line(raw)


def test_every_fixture_and_corpus_log_parses_as_its_lines_read_one_by_one() -> None:
    texts = [c.text for c in fixture_cases()] + [c.text for c in corpus_cases("tune")]
    assert len(texts) > 2000
    # Shapes remembered from other logs, in another order, must not change a log's reading.
    warm = texts[:]
    random.Random(5).shuffle(warm)
    for text in warm:
        parse_lines(split_lines(text))
    for text in texts:
        raw = split_lines(text)
        assert parse_lines(raw) == _line_by_line(raw), text[:200]


def test_what_is_remembered_is_bounded() -> None:
    raw = [f"{'x' * (k % 50)} line {'y' * (k // 50)} done" for k in range(3 * parser._MAX_SHAPES)]
    parse_lines(raw)
    assert 0 < len(parser._PREFIX_SHAPES) <= parser._MAX_SHAPES
    assert 0 < len(parser._IDLE_SHAPES) <= parser._MAX_SHAPES


def test_a_line_level_is_its_own_words_level_whatever_was_read_before() -> None:
    texts = [c.text for c in fixture_cases()] + [c.text for c in corpus_cases("tune")]
    raw = [line for text in texts for line in split_lines(text)]
    raw += ["E0123 10:00:00 boom", "I0456 fine", "W0789 hm"]
    parser.forget_shapes()
    warm = [levels.text_level(line) for line in raw]
    assert warm == [levels._words_level(line) for line in raw]
    assert warm[-3:] == [levels.ERROR, levels.INFO, levels.WARNING]
