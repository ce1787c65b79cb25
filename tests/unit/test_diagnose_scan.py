"""The whole-log needle scan (engine._scan_lines) against the plain definition: a line is
checked for every signature whose needle occurs in it."""

from __future__ import annotations

from console.core.diagnose import engine
from console.core.diagnose.parser import parse_lines, split_lines
from console.core.diagnose.rules import all_signatures
from tests.fixtures.corpus.corpus import corpus_cases
from tests.fixtures.logs.corpus import fixture_cases

Row = tuple[int, str, str, float]


def _scan(text: str) -> tuple[list[Row], list[Row]]:
    """(what the scan found, what trying every needle on every line finds)."""
    parsed = parse_lines(split_lines(text))
    store = engine._LineStore(parsed.lines)
    block_of = {n: b for b in parsed.blocks for n in b.line_numbers}
    got = engine._scan_lines(parsed.lines, block_of, store)
    expected: list[engine.Hit] = []
    signatures = all_signatures()
    for line in parsed.lines:
        if engine._scanned(line):
            lower = line.text.lower()
            found = sorted((s for s in signatures if s.needle in lower), key=engine._sig_order)
            engine._confirm(line, found, block_of.get(line.number), store, expected)

    def rows(hits: list[engine.Hit]) -> list[Row]:
        return sorted((h.line.number, h.signature.cause, h.signature.needle, h.confidence)
                      for h in hits)

    return rows(got), rows(expected)


def test_lines_that_differ_only_in_their_numbers_keep_their_own_needles() -> None:
    # Metric lines share a shape; a needle with a digit inside, one that starts with a digit
    # and a word needle beside them are each found on their own line only.
    lines = [f"step {i} loss 0.{i:04d} exit code: {i}" for i in range(1, 40)]
    lines[8] = "step 9 loss 0.0009 exit code: 9"  # the needle "exit code: 9"
    lines[20] += " 401 Client Error: Unauthorized for url: https://huggingface.co/x/resolve/main/a"
    lines[30] += " Killed"
    lines.append("Loaded 0 weights from 0 file(s)")
    got, expected = _scan("\n".join(lines) + "\n")
    assert got == expected
    needles = {(row[0], row[2]) for row in got}
    assert (8, "exit code: 9") in needles and (7, "exit code: 9") not in needles
    assert (20, "401 client error") in needles
    assert (30, "killed") in needles and (29, "killed") not in needles
    assert (39, "from 0 file") in needles


def test_every_fixture_and_tune_log_scans_as_the_definition_says() -> None:
    texts = [c.text for c in fixture_cases()] + [c.text for c in corpus_cases("tune")]
    assert len(texts) > 2000
    for text in texts:
        got, expected = _scan(text)
        assert got == expected, text[:200]


def test_no_needle_sends_ordinary_lines_to_the_whole_line_scan() -> None:
    # A needle with a digit inside (not first) is matched by its shape, its digits read as any
    # digit: one whose shape is in an ordinary log line ("-7" is in every timestamp's "-0")
    # marks each such line for the slow whole-line scan. Session 24 measured "-7" at 39-42 ->
    # 47-48 ms on the 5,000-line log of benchmarks/diagnose_speed.py; the needles now read the
    # words before the number. (A needle that starts with a digit is looked for as written.)
    ordinary = [
        "2024-05-16 17:44:49,187 - INFO - [rank0]: step 100/2000 | loss 0.123 | lr 1e-05",
        "INFO 08-07 16:06:47 selector.py:189] Using XFormers backend.",
        "  0%|          | 0/16 [00:00<?, ?it/s, est. speed input: 0.00 toks/s]",
        '127.0.0.1:50312 - "POST /v1/chat/completions HTTP/1.1" 200 OK',
    ]
    shapes = [engine._shape(line.lower()) for line in ordinary]
    generic = sorted({s.needle for s in all_signatures()
                      if any(ch.isdigit() for ch in s.needle) and not s.needle[0].isdigit()
                      and any(engine._shape(s.needle) in shape for shape in shapes)})
    assert not generic, generic
